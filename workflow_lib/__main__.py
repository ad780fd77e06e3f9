"""Command-line entry points called by the Snakemake rules: ``python -m workflow_lib <command> ...``.

Each command parses its arguments, then makes one library call. Parameters
that come from the config are passed as one JSON string (``--params``), so a
rule's parameters are visible in its command line and Snakemake reruns the
job when they change. CASA is imported only after argument parsing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected KEY=PATH, got {item!r}")
        out[key] = value
    return out


def cmd_continuum_skymodel(args, params):
    from .skymodels import continuum_field, write_skymodel

    image, table, grid = continuum_field(params["continuum"], params["observation"])
    write_skymodel(image, table, grid, params, args.fits, args.catalogue)


def cmd_cube_skymodel(args, params):
    from .skymodels import random_cube, write_skymodel

    cube, table, grid = random_cube(params["cubes"], params["observation"], params["seed"], args.index)
    write_skymodel(cube, table, grid, {**params, "index": args.index}, args.fits, args.catalogue)


def cmd_simulate(args, params):
    from .simulate.observe import simulate_observation

    record = simulate_observation(args.skymodel, args.ms, args.record, params["observation"], params["noise"],
                                  params["seed"], params["stream"], args.casa_log)
    logging.info("noise: %s", json.dumps({k: v for k, v in record.items() if k not in ("versions", "params")}))


def cmd_tclean(args, params):
    from .imaging import tclean_to_fits

    tclean_to_fits(args.ms, args.skymodel, _pairs(args.out), params.get("method"), params.get("niter", 0),
                   params.get("threshold_mjy", 0.0), args.casa_log, params=params, selection=params.get("selection"))


def cmd_peak_table(args, params):
    from .tables import continuum_peak_fluxes, write_table

    table = continuum_peak_fluxes(args.components, args.skymodel, _pairs(args.image))
    table.meta["note"] = ("peaks in Jy/beam of the primary-beam corrected images; model_<image> is the sky model "
                          "convolved with that image's restoring beam")
    write_table(table, args.csv, args.md, "Continuum field: peak flux per component (mJy/beam)", params=params)


def cmd_continuum_figure(args, params):
    from .figures import continuum_comparison

    continuum_comparison(args.skymodel, _pairs(args.image), args.png, args.pdf)


def cmd_benchmark_table(args, params):
    from .speed import speed_table
    from .tables import benchmark_summary, write_table

    table = benchmark_summary(args.benchmarks)
    table.meta["note"] = "wall seconds and peak resident memory of every job, from the rules' benchmark files"
    write_table(table, args.csv, args.md, "Wall time and memory per rule", params=params)
    write_table(speed_table(args.benchmarks, params, args.deepfocus_timing), args.speed_csv, args.speed_md,
                "Speed: seconds per cube or image", params=params)


def cmd_effective_config(args, params):
    import yaml

    from .provenance import params_hash

    text = yaml.safe_dump(params, sort_keys=False)
    with open(args.out, "w") as fh:
        fh.write(f"# validated configuration, defaults filled in; hash {params_hash(params)}\n{text}")


def cmd_coverage(args, params):
    from .simulate.coverage import make_coverage
    from .skymodels import cube_grid

    make_coverage(cube_grid(params["dataset"], params["observation"]), params["observation"], args.out,
                  args.casa_log, params=params)


def cmd_template_ms(args, params):
    from .simulate.coverage import simulate_empty_sky
    from .skymodels import cube_grid

    simulate_empty_sky(cube_grid(params["dataset"], params["observation"]), params["observation"], args.out,
                       args.casa_log)


def cmd_dataset_shard(args, params):
    from .dataset.shards import build_shard

    entry = build_shard(params["dataset"], params["observation"], params["seed"], args.coverage, args.shard, args.out,
                        args.casa_log, params=params)
    logging.info("shard written: %s", json.dumps(entry))


def cmd_dataset_split(args, params):
    from .dataset.manifest import write_split

    split = write_split(params["count"], params["split"], params["seed"], args.out)
    logging.info("split: %s", {name: len(split[name]) for name in ("train", "validation", "test")})


def cmd_dataset_manifest(args, params):
    from .dataset.manifest import write_manifest

    manifest = write_manifest(args.shards, args.split, args.out, params)
    logging.info("manifest: %d cubes in %d shards", manifest["count"], len(manifest["shards"]))


def cmd_resolve_data(args, params):
    from .resolve import archive

    data = params["data"]
    if "path" in data:
        archive.copy_ms(data["path"], args.dest)
    else:
        archive.download_ms(data["url"], data["member"], args.dest, data["sha256"], params["network"])


def cmd_resolve_grid(args, params):
    import numpy as np

    from .fitsio import write_cube
    from .resolve.run import image_grid, read_observation

    grid = image_grid(read_observation(args.ms, params["data"]), params["npix"], params["cell_arcsec"])
    write_cube(args.fits, np.zeros((grid.ny, grid.nx)), grid.header("Jy/pixel"), params=params)


def cmd_resolve(args, params):
    import os

    # ducc0 reads its thread count when imported, and OMP_NUM_THREADS caps it
    os.environ["DUCC0_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from .resolve.run import run

    run(args.ms, params["run"], params["seed"], params["name"], _pairs(args.out), args.state, args.threads)


def cmd_resolve_continuum_table(args, params):
    from .resolve.compare import write_continuum_comparison

    write_continuum_comparison(args.components, args.skymodel, _pairs(args.image), _pairs(args.resolve),
                               _pairs(args.out), params)


def cmd_resolve_disk_table(args, params):
    from .resolve.compare import write_disk_comparison

    write_disk_comparison(_pairs(args.image), _pairs(args.resolve), _pairs(args.out), params)


def _torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def cmd_deepfocus_train_blobsfinder(args, params):
    from .deepfocus.tasks import train_blobsfinder

    _torch_threads(args.threads)
    train_blobsfinder(args.manifest, args.out_dir, params["deepfocus"], params["seed"], params)


def cmd_deepfocus_train_deepgru(args, params):
    from .deepfocus.tasks import train_deepgru

    _torch_threads(args.threads)
    train_deepgru(args.manifest, args.blobsfinder, args.out_dir, params["deepfocus"], params["seed"], params)


def cmd_deepfocus_focus_set(args, params):
    from .deepfocus.tasks import focus_set

    _torch_threads(args.threads)
    focus_set(args.manifest, args.blobsfinder, args.deepgru, args.out, params["deepfocus"], params)


def cmd_deepfocus_train_resnet(args, params):
    from .deepfocus.tasks import train_resnet

    _torch_threads(args.threads)
    train_resnet(args.focus_set, args.target, args.out_dir, params["deepfocus"], params["seed"], params)


def cmd_deepfocus_infer(args, params):
    from .deepfocus.tasks import checkpoint_paths, infer

    _torch_threads(args.threads)
    infer(args.manifest, checkpoint_paths(args.models_dir), args.out_dir, params["deepfocus"], params=params)


def cmd_deepfocus_cube(args, params):
    from . import config
    from .deepfocus.tasks import run_cube

    _torch_threads(args.threads)
    settings = params["deepfocus"] if "deepfocus" in params else config.load(args.config)["deepfocus"]
    run_cube(args.cube, args.models_dir, args.out_dir, settings, params)


def _tclean_dirs(args) -> dict[int, str]:
    """``--tclean INDEX=DIR ...`` as {cube index: directory of its tCLEAN products}."""
    return {int(k): v for k, v in _pairs(args.tclean or []).items()}


def cmd_deepfocus_tclean(args, params):
    from .evaluate.tclean import tclean_cube

    out = {product: f"{args.out_dir}/{product}.fits" for product in ("image", "model")}
    tclean_cube(args.manifest, args.coverage, args.template_ms, args.index, params["dataset"], params["seed"],
                params["method"], params["niter"], out, f"{args.out_dir}/timing.json", args.casa_log, params)


def cmd_deepfocus_pybdsf(args, params):
    from .evaluate.pybdsf import test_catalogues

    test_catalogues(args.manifest, _tclean_dirs(args), params["thresh_isl"],
                    params["thresh_pix"], args.dirty, args.tclean_out, params)


def cmd_deepfocus_evaluate(args, params):
    from .evaluate.report import evaluate

    _torch_threads(args.threads)
    evaluate(args.manifest, args.models_dir, args.inference_dir, _tclean_dirs(args),
             args.pybdsf_dirty, args.pybdsf_tclean, args.tables, args.figures, params["deepfocus"], params)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workflow_lib", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, func, help_):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--params", default="{}", help="JSON parameters from the config")
        s.set_defaults(func=func)
        return s

    s = command("continuum-skymodel", cmd_continuum_skymodel, "continuum test field and its component table")
    s.add_argument("--fits", required=True)
    s.add_argument("--catalogue", required=True)

    s = command("cube-skymodel", cmd_cube_skymodel, "one random spectral-line cube and its truth catalogue")
    s.add_argument("--index", type=int, required=True)
    s.add_argument("--fits", required=True)
    s.add_argument("--catalogue", required=True)

    s = command("simulate", cmd_simulate, "simobserve + thermal noise into a measurement set")
    s.add_argument("--skymodel", required=True)
    s.add_argument("--ms", required=True)
    s.add_argument("--record", required=True, help="JSON record of the noise added")
    s.add_argument("--casa-log")

    s = command("tclean", cmd_tclean, "tclean one image and export FITS products")
    s.add_argument("--ms", required=True)
    s.add_argument("--skymodel", required=True, help="FITS whose grid (size, cell, channels) the image uses")
    s.add_argument("--out", nargs="+", required=True, help="CASA_SUFFIX=FITS_PATH, e.g. image=dirty.image.fits")
    s.add_argument("--casa-log")

    s = command("peak-table", cmd_peak_table, "continuum peak-flux comparison table")
    s.add_argument("--components", required=True)
    s.add_argument("--skymodel", required=True)
    s.add_argument("--image", nargs="+", required=True, help="NAME=FITS_PATH")
    s.add_argument("--csv", required=True)
    s.add_argument("--md", required=True)

    s = command("continuum-figure", cmd_continuum_figure, "sky model next to the continuum images")
    s.add_argument("--skymodel", required=True)
    s.add_argument("--image", nargs="+", required=True, help="TITLE=FITS_PATH")
    s.add_argument("--png", required=True)
    s.add_argument("--pdf", required=True)

    s = command("benchmark-table", cmd_benchmark_table, "per-rule wall time and memory, and the speed table")
    s.add_argument("--benchmarks", required=True, help="benchmark directory")
    s.add_argument("--deepfocus-timing", help="timing.json of the DeepFocus inference rule")
    s.add_argument("--csv", required=True)
    s.add_argument("--md", required=True)
    s.add_argument("--speed-csv", required=True)
    s.add_argument("--speed-md", required=True)

    s = command("effective-config", cmd_effective_config, "the validated configuration with defaults, as YAML")
    s.add_argument("--out", required=True)

    s = command("coverage", cmd_coverage, "uv coverage and primary beam of the dataset's observation setup")
    s.add_argument("--out", required=True)
    s.add_argument("--casa-log")

    s = command("template-ms", cmd_template_ms, "empty measurement set of the dataset's observation setup")
    s.add_argument("--out", required=True)
    s.add_argument("--casa-log")

    s = command("dataset-shard", cmd_dataset_shard, "simulate the cubes of one HDF5 shard")
    s.add_argument("--shard", type=int, required=True)
    s.add_argument("--coverage", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--casa-log")

    s = command("dataset-split", cmd_dataset_split, "deterministic train/validation/test split")
    s.add_argument("--out", required=True)

    s = command("dataset-manifest", cmd_dataset_manifest, "verify shards and write the manifest")
    s.add_argument("--shards", nargs="+", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--out", required=True)

    s = command("resolve-data", cmd_resolve_data, "copy or download a measurement set into resources/")
    s.add_argument("--dest", required=True)

    s = command("resolve-grid", cmd_resolve_grid, "empty FITS with the tCLEAN grid of a real data set")
    s.add_argument("--ms", required=True)
    s.add_argument("--fits", required=True)

    s = command("resolve", cmd_resolve, "RESOLVE: posterior of the sky of a measurement set")
    s.add_argument("--ms", required=True)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--state", required=True, help="directory that lets a killed run resume")
    s.add_argument("--out", nargs="+", required=True, help="PRODUCT=PATH, see rules/resolve.smk")

    s = command("resolve-continuum-table", cmd_resolve_continuum_table, "RESOLVE vs tCLEAN on the simulated field")
    s.add_argument("--components", required=True)
    s.add_argument("--skymodel", required=True)
    s.add_argument("--image", nargs="*", default=[], help="METHOD=FITS_PATH (tCLEAN, pb-corrected)")
    s.add_argument("--resolve", nargs="+", required=True, help="samples=, mean=, std= paths")
    s.add_argument("--out", nargs="+", required=True, help="csv=, md=, calibration_csv=, calibration_md=, png=, pdf=")

    s = command("resolve-disk-table", cmd_resolve_disk_table, "RESOLVE vs tCLEAN on a real disk")
    s.add_argument("--image", nargs="*", default=[], help="METHOD=FITS_PATH (tCLEAN, pb-corrected)")
    s.add_argument("--resolve", nargs="+", required=True, help="samples=, mean=, std= paths")
    s.add_argument("--out", nargs="+", required=True, help="csv=, md=, png=, pdf=")

    s = command("deepfocus-train-blobsfinder", cmd_deepfocus_train_blobsfinder, "train the Blobs Finder")
    s.add_argument("--manifest", required=True)
    s.add_argument("--out-dir", required=True)
    s.add_argument("--threads", type=int, default=1)

    s = command("deepfocus-train-deepgru", cmd_deepfocus_train_deepgru, "train the DeepGRU (true, then detected boxes)")
    s.add_argument("--manifest", required=True)
    s.add_argument("--blobsfinder", required=True, help="Blobs Finder checkpoint")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--threads", type=int, default=1)

    s = command("deepfocus-focus-set", cmd_deepfocus_focus_set, "focused crops and true parameters for the ResNets")
    s.add_argument("--manifest", required=True)
    s.add_argument("--blobsfinder", required=True)
    s.add_argument("--deepgru", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--threads", type=int, default=1)

    s = command("deepfocus-train-resnet", cmd_deepfocus_train_resnet, "train the ResNet of one source parameter")
    s.add_argument("--focus-set", required=True)
    s.add_argument("--target", required=True, choices=["fwhm_major", "fwhm_minor", "pa", "flux"])
    s.add_argument("--out-dir", required=True)
    s.add_argument("--threads", type=int, default=1)

    s = command("deepfocus-infer", cmd_deepfocus_infer, "DeepFocus on the test split: catalogues, model cubes, timing")
    s.add_argument("--manifest", required=True)
    s.add_argument("--models-dir", required=True, help="directory holding <model>/model.pt")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--threads", type=int, default=1)

    s = command("deepfocus-cube", cmd_deepfocus_cube, "DeepFocus on one FITS dirty cube")
    s.add_argument("--cube", required=True)
    s.add_argument("--config", default="config/config.yaml", help="its deepfocus section, unless --params has one")
    s.add_argument("--models-dir", required=True)
    s.add_argument("--out-dir", required=True)
    s.add_argument("--threads", type=int, default=1)

    s = command("deepfocus-tclean", cmd_deepfocus_tclean, "tCLEAN one test cube of the dataset (timed)")
    s.add_argument("--manifest", required=True)
    s.add_argument("--coverage", required=True)
    s.add_argument("--template-ms", required=True)
    s.add_argument("--index", type=int, required=True)
    s.add_argument("--out-dir", required=True)
    s.add_argument("--casa-log")

    s = command("deepfocus-pybdsf", cmd_deepfocus_pybdsf, "PyBDSF on the integrated test images")
    s.add_argument("--manifest", required=True)
    s.add_argument("--tclean", nargs="*", help="INDEX=DIR of tCLEAN products")
    s.add_argument("--dirty", required=True, help="output catalogue (ECSV) of the dirty images")
    s.add_argument("--tclean-out", required=True, help="output catalogue (ECSV) of the tCLEAN images")

    s = command("deepfocus-evaluate", cmd_deepfocus_evaluate, "DeepFocus evaluation tables and figures")
    s.add_argument("--manifest", required=True)
    s.add_argument("--models-dir", required=True)
    s.add_argument("--inference-dir", required=True)
    s.add_argument("--tclean", nargs="*", help="INDEX=DIR of tCLEAN products")
    s.add_argument("--pybdsf-dirty", required=True)
    s.add_argument("--pybdsf-tclean", required=True)
    s.add_argument("--tables", required=True)
    s.add_argument("--figures", required=True)
    s.add_argument("--threads", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    params = json.loads(args.params)
    start = time.perf_counter()
    logging.info("workflow_lib %s: start", args.command)
    args.func(args, params)
    logging.info("workflow_lib %s: done in %.1f s", args.command, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
