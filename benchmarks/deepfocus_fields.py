"""Where DeepFocus loses sources on simulated sets it was not trained on: the stage-loss table of trained models
on every cube (all splits) of another dataset's manifest, truth boxes with that dataset's beam.

Used to find which property of the CASA independent set's wide fields costs the detections
(benchmarks/deepfocus_fields.md): build a dataset with an overlay, e.g.
    snakemake --configfile benchmarks/deepfocus_fields_wide.yaml --cores 2 results/fields_wide/dataset/manifest.json
then, with the models of the run of a config (the demo's by default),
    python benchmarks/deepfocus_fields.py --manifest results/fields_wide/dataset/manifest.json
    python benchmarks/deepfocus_fields.py --config benchmarks/deepfocus_guard.yaml --manifest ...
    python benchmarks/deepfocus_fields.py --manifest ... --psf            # tiles without outside sidelobes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from workflow_lib import config as workflow_config
from workflow_lib.dataset.torch_dataset import CubeDataset
from workflow_lib.deepfocus import geometry, operating_point, settings
from workflow_lib.deepfocus.evaluation.stages import cube_flags, stage_table
from workflow_lib.deepfocus.pipeline import DeepFocus, settings_of
from workflow_lib.deepfocus.trainsets import batches, dataset_meta


def stage_losses(config_file: str, manifest: str, splits=("train", "validation", "test"), psf: bool = False,
                 clean_sigma: float | None = None):
    """The stage-loss table of the models trained by the workflow run of ``config_file`` on the cubes of
    ``manifest``'s ``splits``; with ``psf`` the pipeline gets the dataset's PSF, so that each Blobs Finder tile
    of a field larger than the training tile loses its outside sources' sidelobes (CLEAN down to
    ``clean_sigma``, default the config's)."""
    full = workflow_config.load(config_file)
    config = full["deepfocus"]
    models = Path("results") / full["name"] / "deepfocus" / "models"
    point = operating_point.load(settings.operating_point_file(models))
    pipeline = DeepFocus.load(settings.model_files(models), settings_of(config, point))
    if clean_sigma is not None:
        pipeline.settings["outside_clean_sigma"] = clean_sigma
    meta = dataset_meta(manifest)
    beam = geometry.Beam(**meta["beam"])
    passed, any_path, snr = [], [], []
    for split in splits:
        ds = CubeDataset(manifest, split, ("dirty",))
        truth, grid = ds.sources(), ds.grid()
        psf_cube = ds.shared("psf") if psf else None
        for indices, arrays in batches(ds, config["batch_cubes"]):
            cubes = pipeline.sanitise(arrays["dirty"], manifest)
            found = pipeline.stages(cubes, psf_cube)
            results = pipeline.characterise(cubes, found.detections, grid, beam)
            for k, (index, result) in enumerate(zip(indices, results)):
                t = truth[truth["cube"] == index]
                p, a = cube_flags(geometry.source_boxes(t, beam, meta["cell_arcsec"], tuple(meta["shape"])),
                                  found, k, result.catalogue, pipeline.settings["lines"], config["evaluation"])
                passed.append(p)
                any_path.append(a)
                snr.append(np.asarray(t["snr"], float))
    return stage_table(np.concatenate(passed), np.concatenate(any_path), np.concatenate(snr),
                       config["evaluation"]["snr_bins"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config/config.yaml", help="config (or overlay) of the run whose models score")
    parser.add_argument("--manifest", required=True, help="manifest.json of the dataset to score")
    parser.add_argument("--splits", nargs="+", default=["train", "validation", "test"],
                        help="the manifest's splits to score (only test for a dataset that shares cubes with the "
                             "training set, as a guarded copy of it does)")
    parser.add_argument("--psf", action="store_true", help="give the pipeline the dataset's PSF (see stage_losses)")
    parser.add_argument("--clean-sigma", type=float, help="with --psf: CLEAN down to this many robust RMS")
    args = parser.parse_args()
    table = stage_losses(args.config, args.manifest, args.splits, args.psf, args.clean_sigma)
    table.round(3)
    table.pprint_all()


if __name__ == "__main__":
    main()
