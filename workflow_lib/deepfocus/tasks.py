"""What each Snakemake rule of DeepFocus does: one function per rule, called by ``python -m workflow_lib``.

``config`` is the ``deepfocus`` section of the workflow config (defaults
filled), ``seed`` the config's master seed.
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
from . import blobsfinder, deepgru, resnets, trainsets
from .pipeline import DeepFocus, settings_of, write_products
from .train import Stage, choose_device, fit, load_model

log = logging.getLogger(__name__)


def train_blobsfinder(manifest: str, out_dir: str, config: dict, seed: int, params=None) -> None:
    meta = trainsets.dataset_meta(manifest)
    nchan, ny, nx = meta["shape"]
    if ny != nx:
        raise ValueError(f"{manifest}: the Blobs Finder needs square images, the dataset has {ny} x {nx}")
    c = config["blobsfinder"]
    size = blobsfinder.network_size(ny, len(c["channels"]))
    model = blobsfinder.BlobsFinder(size, tuple(c["channels"]), c["latent"], c["skips"])
    stages = [Stage("train", trainsets.blobsfinder_data(manifest, "train", meta, size),
                    trainsets.blobsfinder_data(manifest, "validation", meta, size), c["training"]["epochs"],
                    c["training"]["lr"])]
    fit(model, blobsfinder.loss, stages, c["training"], out_dir, "blobsfinder", seed, params, extra=meta,
        augment=blobsfinder.augment)


def train_deepgru(manifest: str, finder_ckpt: str, out_dir: str, config: dict, seed: int, params=None) -> None:
    """True boxes first, then fine-tuning on the boxes the trained Blobs Finder detects."""
    device = choose_device()
    finder, meta = load_model(finder_ckpt, blobsfinder.BlobsFinder, device)
    c, threshold = config["deepgru"], config["blobsfinder"]["threshold"]
    training = c["training"]

    def data(split, with_finder):
        return trainsets.deepgru_data(manifest, split, meta, finder if with_finder else None, threshold, device)

    stages = [Stage("true", data("train", False), data("validation", False), training["epochs"], training["lr"])]
    if training["finetune_epochs"] > 0:
        stages.append(Stage("predicted", data("train", True), data("validation", True), training["finetune_epochs"],
                            training["finetune_lr"]))
    fit(deepgru.DeepGRU(c["hidden"]), deepgru.loss, stages, training, out_dir, "deepgru", seed, params,
        extra=meta, device=device)


def focus_set(manifest: str, finder_ckpt: str, gru_ckpt: str, out_h5: str, config: dict, params=None) -> None:
    pipeline = DeepFocus.load({"blobsfinder": finder_ckpt, "deepgru": gru_ckpt}, settings_of(config))
    counts = trainsets.build_focus_set(manifest, pipeline, pipeline.meta, out_h5, params)
    log.info("focus set: %s", counts)


def train_resnet(focus_h5: str, target: str, out_dir: str, config: dict, seed: int, params=None) -> None:
    c = config["resnets"]
    stages = trainsets.resnet_stages(focus_h5, target, c["training"])
    model = resnets.ResNet(resnets.OUTPUTS[target], tuple(c["widths"]), tuple(c["blocks"]), c["head"])
    fit(model, resnets.loss, stages, c["training"], out_dir, f"resnet_{target}", seed, params,
        extra={"target": target})


def infer(manifest: str, checkpoints: dict[str, str], out_dir: str, config: dict, split: str = "test",
          params=None) -> dict:
    """Run the pipeline on every cube of ``split``: per-cube products, one catalogue, timing.

    The timing is the wall time of the pipeline on the whole split in
    batches, models already loaded, over the number of cubes (``compute``),
    and the same including reading the cubes and writing the products (``io``).
    """
    started = time.perf_counter()
    pipeline = DeepFocus.load(checkpoints, settings_of(config))
    loaded = time.perf_counter()
    ds = CubeDataset(manifest, split, ("dirty",))
    grid = ds.grid()
    out = Path(out_dir)
    catalogues, compute = [], 0.0
    for indices, arrays in trainsets.batches(ds, config["batch_cubes"]):
        t0 = time.perf_counter()
        results = pipeline.run(arrays["dirty"], grid)
        compute += time.perf_counter() - t0
        for index, result in zip(indices, results):
            write_products(result, grid, out / f"cube_{index:04d}", params)
            table = result.catalogue.copy()
            table.add_column(np.full(len(table), index, dtype=np.int64), name="cube", index=0)
            catalogues.append(table)
    finished = time.perf_counter()
    catalogue = vstack(catalogues, metadata_conflicts="silent") if catalogues else Table()
    catalogue.meta.update(provenance.record(params))
    catalogue.write(out / "catalogue.ecsv", format="ascii.ecsv", overwrite=True)
    n = len(ds)
    timing = {"cubes": n, "device": str(pipeline.device), "load_seconds": loaded - started,
              "compute_seconds": compute, "compute_seconds_per_cube": compute / n,
              "io_seconds_per_cube": (finished - loaded) / n, "sources": len(catalogue)}
    (out / "timing.json").write_text(json.dumps(timing, indent=1) + "\n")
    log.info("inference: %s", timing)
    return timing


def checkpoint_paths(models_dir: str) -> dict[str, str]:
    """Checkpoint of every model under the workflow's layout ``<models_dir>/<model>/model.pt``."""
    names = ["blobsfinder", "deepgru", *(f"resnet_{t}" for t in resnets.TARGETS)]
    return {name: str(Path(models_dir) / name / "model.pt") for name in names}


def run_cube(fits_path: str, models_dir: str, out_dir: str, config: dict, params=None) -> None:
    """The trained pipeline on one FITS dirty cube of any size (see :meth:`DeepFocus.run_fits`)."""
    pipeline = DeepFocus.load(checkpoint_paths(models_dir), settings_of(config))
    result, grid = pipeline.run_fits(fits_path)
    write_products(result, grid, out_dir, params)
    log.info("%s: %d sources", fits_path, len(result.catalogue))
