"""What each model trains on, built from the dataset's train and validation splits.

* Blobs Finder: integrated dirty image -> footprint map of the true sources.
* DeepGRU: box spectra (dirty -> sky-model target), first in the true
  sources' boxes, then fine-tuned in the boxes the trained Blobs Finder
  finds, empty ones included.
* ResNets: the *focus set*, an HDF5 file of crops (focused and line images)
  with the true parameters, once around the true sources with SNR >=
  ``MIN_TRUE_SNR`` (true box and line range; fainter ones are never detected
  and would teach the networks noise) and once around the sources the
  trained Blobs Finder + DeepGRU + focusing detect, matched to the truth; the
  second set fine-tunes each ResNet so that it corrects the upstream errors
  it will meet at inference.

Cubes are read one batch at a time, so the paper-scale dataset never has
to fit in memory.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import torch

from .. import provenance
from ..units import GAUSSIAN_AREA_PER_FWHM
from ..dataset.torch_dataset import CubeDataset
from . import blobsfinder, deepgru, geometry, resnets
from .pipeline import DeepFocus, focused_crops
from .train import Stage

log = logging.getLogger(__name__)
SPLITS = ("train", "validation")
KINDS = ("true", "predicted")
MATCH_IOU = 0.3  # a detection trains the ResNets on the true source it overlaps this much in 3-D
MIN_TRUE_SNR = 5.0


def dataset_meta(manifest: str) -> dict:
    """What inference must know about the training set: beam (pixels), pixel scale, channel width and centre
    frequency (the beam in pixels scales with it)."""
    ds = CubeDataset(manifest, "train")
    grid = ds.grid()
    beam = geometry.Beam.fit(ds.shared("psf").mean(axis=0))
    return {"beam": asdict(beam), "cell_arcsec": grid.cell_arcsec, "dfreq_hz": grid.dfreq_hz,
            "centre_freq_hz": float(grid.freqs_hz.mean()), "shape": [grid.nchan, grid.ny, grid.nx]}


def batches(ds: CubeDataset, size: int):
    """(indices, {field: stacked array}) for consecutive items of a dataset."""
    for start in range(0, len(ds), size):
        items = [ds[k] for k in range(start, min(start + size, len(ds)))]
        yield ([it["index"] for it in items],
               {f: np.stack([it[f].numpy() for it in items]) for f in ds.fields})


def _by_cube(ds: CubeDataset) -> dict[int, object]:
    table = ds.sources()
    return {i: table[table["cube"] == i] for i in ds.indices}


def true_source_dicts(sources, meta: dict) -> list[dict]:
    """Truth rows as detections (box, range), for the true-box training examples."""
    beam = geometry.Beam(**meta["beam"])
    boxes = geometry.source_boxes(sources, beam, meta["cell_arcsec"], tuple(meta["shape"]))
    return [{"box": b[[0, 1, 3, 4]], "range": b[[2, 5]]} for b in boxes]


# ----------------------------------------------------------------------------- Blobs Finder

def blobsfinder_data(manifest: str, split: str, meta: dict, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets, zero-padded to the network's ``size`` (see :func:`.blobsfinder.pad`)."""
    ds = CubeDataset(manifest, split, ("dirty_integrated",))
    sources = _by_cube(ds)
    beam = geometry.Beam(**meta["beam"])
    x, y = [], []
    for indices, arrays in batches(ds, 64):
        images = blobsfinder.pad(arrays["dirty_integrated"], size)
        x.append(blobsfinder.inputs(images))
        y += [blobsfinder.target_map(sources[i], images.shape[1:], beam, meta["cell_arcsec"]) for i in indices]
    return torch.cat(x), torch.from_numpy(np.stack(y)[:, None].astype(np.float32))


# ----------------------------------------------------------------------------- DeepGRU

def deepgru_data(manifest: str, split: str, meta: dict, finder=None, threshold: float = 0.0,
                 device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Spectra of the true sources' boxes, or (``finder`` given) of the boxes the Blobs Finder detects."""
    ds = CubeDataset(manifest, split, ("dirty", "model"))
    sources = _by_cube(ds)
    area = geometry.Beam(**meta["beam"]).area
    dirty_spectra, targets = [], []
    for indices, arrays in batches(ds, 16):
        if finder is None:
            boxes = [[s["box"] for s in true_source_dicts(sources[i], meta)] for i in indices]
        else:
            prob = blobsfinder.probability(finder, arrays["dirty"].sum(axis=1), device)
            boxes = [[b["box"] for b in blobsfinder.find_blobs(p, threshold)] for p in prob]
        for dirty, model, cube_boxes in zip(arrays["dirty"], arrays["model"], boxes):
            for box in cube_boxes:
                d = deepgru.box_spectrum(dirty, box)
                dirty_spectra.append(d)
                targets.append(deepgru.target(deepgru.box_spectrum(model, box), d, area))
    if not dirty_spectra:
        raise ValueError(f"{manifest}: no boxes in the {split} split to train the DeepGRU on")
    return deepgru.inputs(np.array(dirty_spectra)), torch.from_numpy(np.array(targets)[..., None])


# ----------------------------------------------------------------------------- focus set (ResNets)

def _truth_arrays(rows, cell: float) -> dict[str, np.ndarray]:
    return {"fwhm_major": np.asarray(rows["fwhm_major_arcsec"], float) / cell,
            "fwhm_minor": np.asarray(rows["fwhm_minor_arcsec"], float) / cell,
            "pa": np.asarray(rows["pa_deg"], float),
            "flux": np.asarray(rows["line_flux_jy"], float) * np.asarray(rows["line_fwhm_chan"], float)
            * GAUSSIAN_AREA_PER_FWHM}


def build_focus_set(manifest: str, pipeline: DeepFocus, meta: dict, out_h5: str, params=None) -> dict:
    """Crops and true parameters for the ResNets (see the module notes); returns counts per group."""
    size, dilation = pipeline.settings["focus_size"], pipeline.settings["mask_dilation"]
    counts = {}
    out = Path(out_h5)
    tmp = out.with_name(f".{out.name}.tmp")
    with h5py.File(tmp, "w") as h5:
        for split in SPLITS:
            ds = CubeDataset(manifest, split, ("dirty",))
            sources = _by_cube(ds)
            groups = {kind: {"focused": [], "line": [], "truth": []} for kind in KINDS}
            for indices, arrays in batches(ds, pipeline.settings["batch_cubes"]):
                cubes = pipeline.sanitise(arrays["dirty"])
                detections = pipeline.detect(cubes)
                for i, cube, found in zip(indices, cubes, detections):
                    truth = sources[i]
                    true_dets = true_source_dicts(truth, meta)
                    crops = focused_crops(cube, true_dets, size, dilation)
                    bright = np.flatnonzero(np.asarray(truth["snr"]) >= MIN_TRUE_SNR)
                    _add(groups["true"], {k: [crops[k][j] for j in bright] for k in ("focused", "line")}, truth,
                         bright)
                    pairs = _match_detections(true_dets, found)
                    kept = [found[c] for _, c in pairs]
                    _add(groups["predicted"], focused_crops(cube, kept, size, dilation), truth, [r for r, _ in pairs])
            for kind, group in groups.items():
                g = h5.create_group(f"{kind}/{split}")
                for name in ("focused", "line"):
                    g.create_dataset(name, data=np.array(group[name], dtype=np.float32).reshape(-1, size, size))
                truth = _truth_arrays(_rows(group["truth"]), meta["cell_arcsec"])
                for name, values in truth.items():
                    g.create_dataset(name, data=values)
                counts[f"{kind}/{split}"] = len(group["focused"])
        h5.attrs["meta"] = json.dumps(meta)
        h5.attrs["provenance"] = json.dumps(provenance.record(params), default=str)
    tmp.replace(out)
    return counts


def _rows(rows: list) -> dict[str, np.ndarray]:
    """Columns of a list of table rows (empty columns for no rows)."""
    names = ("fwhm_major_arcsec", "fwhm_minor_arcsec", "pa_deg", "line_flux_jy", "line_fwhm_chan")
    return {n: np.array([r[n] for r in rows], dtype=float) for n in names}


def _match_detections(true_dets: list[dict], found: list[dict]) -> list[tuple[int, int]]:
    boxes_true = [geometry.box_3d(t["box"], t["range"]) for t in true_dets]
    boxes_found = [geometry.box_3d(f["box"], f["range"]) for f in found]
    if not boxes_true or not boxes_found:
        return []
    return geometry.match(geometry.iou(boxes_true, boxes_found), MATCH_IOU)


def _add(group: dict, crops: dict, truth, rows) -> None:
    group["focused"] += crops["focused"]
    group["line"] += crops["line"]
    group["truth"] += [truth[r] for r in rows]


def resnet_data(focus_h5: str, target: str, kind: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and encoded targets of one ResNet from one group of the focus set."""
    with h5py.File(focus_h5, "r") as h5:
        g = h5[f"{kind}/{split}"]
        crops = g[resnets.IMAGE[target]][...]
        truth = {name: g[name][...] for name in resnets.TARGETS}
    x, scales = resnets.inputs(crops)
    return x, resnets.encode(target, truth, scales)


def resnet_stages(focus_h5: str, target: str, training: dict) -> list[Stage]:
    """Train on the true sources, then fine-tune on the detected ones (if any were matched)."""
    stages = [Stage("true", resnet_data(focus_h5, target, "true", "train"),
                    resnet_data(focus_h5, target, "true", "validation"), training["epochs"], training["lr"])]
    fine = resnet_data(focus_h5, target, "predicted", "train")
    fine_val = resnet_data(focus_h5, target, "predicted", "validation")
    if len(fine[0]) and len(fine_val[0]) and training["finetune_epochs"] > 0:
        stages.append(Stage("predicted", fine, fine_val, training["finetune_epochs"], training["finetune_lr"]))
    else:
        log.warning("%s: no matched detections to fine-tune the %s ResNet on", focus_h5, target)
    return stages
