"""What each Snakemake rule of DeepFocus does: one keyword-only function per rule (see workflow_lib/step.py).

``deepfocus`` is the part of the workflow config's ``deepfocus`` section a
rule depends on (defaults filled), ``seed`` the config's master seed; model
checkpoints come as keywords named as in :data:`.settings.MODELS`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from .. import provenance
from ..dataset.torch_dataset import CubeDataset
from . import blobsfinder, deepgru, operating_point, resnets, trainsets
from .pipeline import DeepFocus, settings_of, write_products
from .settings import CUBE_PRODUCTS, MODELS
from .train import Stage, choose_device, fit, load_model

log = logging.getLogger(__name__)


def _checkpoints(models: dict[str, str], needed=MODELS) -> dict[str, str]:
    missing = [m for m in needed if m not in models]
    unknown = [m for m in models if m not in MODELS]
    if missing or unknown:
        raise TypeError(f"checkpoints missing {missing} or unknown {unknown}; DeepFocus models are {list(MODELS)}")
    return {m: models[m] for m in needed}


def _pipeline(models: dict[str, str], deepfocus: dict, point: str) -> DeepFocus:
    """All six trained models with the settings of ``deepfocus`` at the operating ``point`` (JSON)."""
    return DeepFocus.load(_checkpoints(models), settings_of(deepfocus, operating_point.load(point)))


def _tagged(result, cube) -> Table:
    """A cube's catalogue with a first column ``cube`` naming it (index or name), for a merged catalogue."""
    table = result.catalogue.copy()
    table.add_column(np.full(len(table), cube), name="cube", index=0)
    return table


def _write_merged(catalogues: list[Table], path: str, params) -> Table:
    merged = vstack(catalogues, metadata_conflicts="silent") if catalogues else Table()
    merged.meta.update(provenance.record(params))
    merged.write(path, format="ascii.ecsv", overwrite=True)
    return merged


def train_blobsfinder(*, manifest: str, model: str, history: str, curve: str, resume: str, deepfocus: dict,
                      seed: int, params=None) -> None:
    meta = trainsets.dataset_meta(manifest)
    nchan, ny, nx = meta["shape"]
    if ny != nx:
        raise ValueError(f"{manifest}: the Blobs Finder needs square images, the dataset has {ny} x {nx}")
    c = deepfocus["blobsfinder"]
    size = blobsfinder.network_size(ny, len(c["channels"]))
    net = blobsfinder.BlobsFinder(size, tuple(c["channels"]), c["latent"], c["skips"])
    stages = [Stage("train", trainsets.blobsfinder_data(manifest, "train", meta, size),
                    trainsets.blobsfinder_data(manifest, "validation", meta, size), c["training"]["epochs"],
                    c["training"]["lr"])]
    files = {"model": model, "history": history, "curve": curve, "resume": resume}
    fit(net, blobsfinder.loss, stages, c["training"], files, "blobsfinder", seed, params, extra=meta,
        augment=blobsfinder.augment)


def train_deepgru(*, manifest: str, blobsfinder_model: str, model: str, history: str, curve: str, resume: str,
                  deepfocus: dict, seed: int, params=None) -> None:
    """True boxes first, then fine-tuning on the boxes the trained Blobs Finder (``blobsfinder_model``) detects."""
    device = choose_device()
    finder, meta = load_model(blobsfinder_model, blobsfinder.BlobsFinder, device)
    c, threshold = deepfocus["deepgru"], deepfocus["blobsfinder"]["threshold"]
    training = c["training"]

    def data(split, with_finder):
        return trainsets.deepgru_data(manifest, split, meta, finder if with_finder else None, threshold, device)

    stages = [Stage("true", data("train", False), data("validation", False), training["epochs"], training["lr"])]
    if training["finetune_epochs"] > 0:
        stages.append(Stage("predicted", data("train", True), data("validation", True), training["finetune_epochs"],
                            training["finetune_lr"]))
    files = {"model": model, "history": history, "curve": curve, "resume": resume}
    fit(deepgru.DeepGRU(c["hidden"]), deepgru.loss, stages, training, files, "deepgru", seed, params,
        extra=meta, device=device)


def focus_set(*, manifest: str, blobsfinder: str, deepgru: str, out: str, deepfocus: dict, params=None) -> None:
    """Focused crops of the detections on the train and validation cubes, with true parameters, for the ResNets."""
    pipeline = DeepFocus.load({"blobsfinder": blobsfinder, "deepgru": deepgru}, settings_of(deepfocus))
    counts = trainsets.build_focus_set(manifest, pipeline, pipeline.meta, out, params)
    log.info("focus set: %s", counts)


def train_resnet(*, focus_set: str, target: str, model: str, history: str, curve: str, resume: str,
                 deepfocus: dict, seed: int, params=None) -> None:
    c = deepfocus["resnets"]
    stages = trainsets.resnet_stages(focus_set, target, c["training"])
    net = resnets.ResNet(resnets.OUTPUTS[target], tuple(c["widths"]), tuple(c["blocks"]), c["head"])
    files = {"model": model, "history": history, "curve": curve, "resume": resume}
    fit(net, resnets.loss, stages, c["training"], files, f"resnet_{target}", seed, params, extra={"target": target})


def infer(*, manifest: str, point: str, products: list[str], catalogue: str, timing: str, deepfocus: dict,
          split: str = "test", params=None, **models: str) -> dict:
    """Run the pipeline at the operating ``point`` (JSON, see :mod:`.operating_point`) on every cube of
    ``split``: per-cube products, one ``catalogue``, ``timing`` (JSON).

    ``products`` lists the files of :data:`.settings.CUBE_PRODUCTS` for each cube of the split in turn. The
    timing is the wall time of the pipeline on the whole split in batches, models already loaded, over the
    number of cubes (``compute``), and the same including reading the cubes and writing the products (``io``).
    """
    started = time.perf_counter()
    pipeline = _pipeline(models, deepfocus, point)
    loaded = time.perf_counter()
    ds = CubeDataset(manifest, split, ("dirty",))
    per_cube = len(CUBE_PRODUCTS)
    if len(products) != per_cube * len(ds):
        raise ValueError(f"{len(products)} product files for {len(ds)} cubes of the {split} split "
                         f"({per_cube} each: {list(CUBE_PRODUCTS)})")
    files = {index: dict(zip(CUBE_PRODUCTS, products[per_cube * k: per_cube * (k + 1)]))
             for k, index in enumerate(ds.indices)}
    grid = ds.grid()
    catalogues, compute = [], 0.0
    for indices, arrays in trainsets.batches(ds, deepfocus["batch_cubes"]):
        t0 = time.perf_counter()
        results = pipeline.run(arrays["dirty"], grid)
        compute += time.perf_counter() - t0
        for index, result in zip(indices, results):
            write_products(result, grid, files[index], params)
            catalogues.append(_tagged(result, np.int64(index)))
    finished = time.perf_counter()
    merged = _write_merged(catalogues, catalogue, params)
    n = len(ds)
    record = {"cubes": n, "device": str(pipeline.device), "load_seconds": loaded - started,
              "compute_seconds": compute, "compute_seconds_per_cube": compute / n,
              "io_seconds_per_cube": (finished - loaded) / n, "sources": len(merged)}
    Path(timing).write_text(json.dumps(record, indent=1) + "\n")
    log.info("inference: %s", record)
    return record


def infer_fits(*, cubes: list[str], psfs: list[str], names: list[str], point: str, products: list[str], catalogue: str,
               timing: str, deepfocus: dict, params=None, **models: str) -> dict:
    """The pipeline at its operating ``point`` on FITS dirty ``cubes`` of any size with their ``psfs`` (the
    independent test set, see :meth:`DeepFocus.run_fits`): per-cube products (:data:`.settings.CUBE_PRODUCTS`
    for each cube in turn), one ``catalogue`` whose ``cube`` column holds the cubes' ``names``, and ``timing``
    (JSON: seconds per cube, reading and writing included)."""
    per_cube = len(CUBE_PRODUCTS)
    if len(products) != per_cube * len(cubes) or len(names) != len(cubes) or len(psfs) != len(cubes):
        raise ValueError(f"{len(products)} product files, {len(psfs)} PSFs and {len(names)} names for "
                         f"{len(cubes)} cubes ({per_cube} files each: {list(CUBE_PRODUCTS)})")
    pipeline = _pipeline(models, deepfocus, point)
    started = time.perf_counter()
    catalogues = []
    for k, (cube, psf, name) in enumerate(zip(cubes, psfs, names)):
        result, grid = pipeline.run_fits(cube, psf)
        write_products(result, grid, dict(zip(CUBE_PRODUCTS, products[per_cube * k: per_cube * (k + 1)])), params)
        catalogues.append(_tagged(result, name))
        log.info("%s: %d sources (%d/%d)", name, len(result.catalogue), k + 1, len(cubes))
    seconds = time.perf_counter() - started
    merged = _write_merged(catalogues, catalogue, params)
    record = {"cubes": len(cubes), "device": str(pipeline.device), "io_seconds_per_cube": seconds / len(cubes),
              "sources": len(merged)}
    Path(timing).write_text(json.dumps(record, indent=1) + "\n")
    return record


def run_cube(cube: str, models: dict[str, str], point: str, products: dict[str, str], deepfocus: dict,
             params=None, psf: str | None = None) -> int:
    """The trained pipeline at its operating ``point`` on one FITS dirty cube of any size, with its ``psf``
    cube if given (see :meth:`DeepFocus.run_fits`); returns the number of sources found."""
    pipeline = _pipeline(models, deepfocus, point)
    result, grid = pipeline.run_fits(cube, psf)
    write_products(result, grid, products, params)
    log.info("%s: %d sources", cube, len(result.catalogue))
    return len(result.catalogue)
