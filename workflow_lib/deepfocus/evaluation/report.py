"""The DeepFocus evaluation rule: tables (CSV + Markdown) and figures on the test split.

Tables (``<tables>/deepfocus_*.{csv,md}``):

* ``detection``: completeness / contamination of each stage, overall and per
  SNR bin: Blobs Finder (2-D boxes), DeepGRU (1-D line ranges in the true
  sources' boxes), DeepFocus (3-D boxes, IoU >= ``iou_3d``).
* ``vs_pybdsf``: DeepFocus and PyBDSF on the sky plane (2-D boxes, the same
  matching), at PyBDSF's default ``thresh_pix`` and DeepFocus's operating
  point (chosen on the validation split, see :mod:`..operating_point`); also
  on the tCLEAN subset, PyBDSF reading the integrated tCLEAN images.
* ``characterisation``: residuals of the matched DeepFocus sources.
* ``vs_tclean``: reconstruction residuals in units of the noise and wall
  seconds per cube of each, with their ratio.

Figures (``<figures>/deepfocus_*.{png,pdf}``): completeness,
purity_completeness (the validation curves the operating point was chosen on,
with the test points, PyBDSF and the study's), residuals and examples (stage
by stage on a few test cubes, see :mod:`.examples`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from ... import fitsio
from ...dataset.torch_dataset import CubeDataset
from .. import blobsfinder, deepgru, geometry, operating_point
from ..pipeline import DeepFocus, boxes_of, settings_of
from ..preprocess import measured_snrs
from ..settings import FIGURES
from ..settings import tables as table_names
from ..trainsets import batches
from ...tables import write_table
from . import catalogues, characterisation, examples, matching, reconstruction
from . import figures as plots
from .catalogues import BOX_2D
from .detection import Detections
from .stages import cube_flags, stage_table

log = logging.getLogger(__name__)


def collect(manifest: str, pipeline: DeepFocus, catalogue: Table, pybdsf: Table, config: dict) -> dict:
    """Detections of every stage and method on the test cubes, and the matched truth/catalogue rows.

    ``pipeline`` holds the trained Blobs Finder and DeepGRU (no ResNets needed).
    """
    ev, device = config["evaluation"], pipeline.device
    gru, meta = pipeline.gru, pipeline.meta
    beam, cell, shape = pipeline.beam, meta["cell_arcsec"], tuple(meta["shape"])
    ds = CubeDataset(manifest, "test", ("dirty",))
    truth = ds.sources()
    stages = {"blobsfinder_2d": Detections("Blobs Finder (2-D)", ev["iou_2d"], ev["max_offset_pix"]),
              "deepgru_1d": Detections("DeepGRU (1-D, true boxes)", ev["iou_1d"]), **catalogues.stages(ev)}
    order, cube_truth, cube_catalogue = [], [], []
    stage_passed, stage_any, stage_snr = [], [], []
    lines = pipeline.settings["lines"]
    for indices, arrays in batches(ds, config["batch_cubes"]):
        found = pipeline.stages(arrays["dirty"])   # the pipeline's own stages 1-4, for the stage-loss table
        for k, (i, cube, p) in enumerate(zip(indices, arrays["dirty"], found.probability)):
            t = truth[truth["cube"] == i]
            boxes3 = geometry.source_boxes(t, beam, cell, shape)
            boxes2 = boxes3[:, [0, 1, 3, 4]]
            snr = np.asarray(t["snr"], float)
            blobs = blobsfinder.find_blobs(p, pipeline.settings["threshold"])
            stages["blobsfinder_2d"].add(boxes2, snr, [b["box"] for b in blobs], [b["score"] for b in blobs],
                                         measured_snrs(cube, [b["centre"] for b in blobs]))
            _add_lines(stages["deepgru_1d"], gru, cube, t, boxes2, lines, device)
            c = catalogue[catalogue["cube"] == i]
            passed, any_path = cube_flags(boxes3, found, k, c, lines, ev)
            stage_passed.append(passed)
            stage_any.append(any_path)
            stage_snr.append(snr)
            catalogues.add(stages, boxes3, snr, c, pybdsf[pybdsf["cube"] == i], pipeline.settings["ranking"])
            order.append(i)
            cube_truth.append(t)
            cube_catalogue.append(c)
    losses = stage_table(np.concatenate(stage_passed), np.concatenate(stage_any), np.concatenate(stage_snr),
                         ev["snr_bins"])
    return {"stages": stages, "order": order, "truth": cube_truth, "catalogue": cube_catalogue, "beam": beam,
            "grid": ds.grid(), "losses": losses}


def _add_lines(stage: Detections, gru, cube, t: Table, boxes2: np.ndarray, lines: dict, device) -> None:
    """DeepGRU on each true source's box; the truth is every line whose source centre lies in the box."""
    if len(t) == 0:
        return
    prob = deepgru.probability(gru, np.stack([deepgru.box_spectrum(cube, b) for b in boxes2]), device)
    ranges = np.stack([geometry.line_range(c, w) for c, w in zip(t["line_centre_chan"], t["line_fwhm_chan"])])
    for box, p, snr in zip(boxes2, prob, t["snr"]):
        inside = matching.centred_in(t, box)
        found = deepgru.find_lines(p, **lines)
        stage.add(ranges[inside], np.asarray(t["snr"], float)[inside],
                  [geometry.line_range(f["centre"], f["fwhm"]) for f in found], [f["height"] for f in found],
                  np.full(len(found), float(snr)))


def detection_table(stages: dict, config: dict, threshold: float) -> Table:
    """Per stage at -inf; DeepFocus's catalogue is at the operating point's ``threshold`` already."""
    edges = config["evaluation"]["snr_bins"]
    return vstack([stages["blobsfinder_2d"].table(-np.inf, edges), stages["deepgru_1d"].table(-np.inf, edges),
                   stages["deepfocus_3d"].table(threshold, edges)])


def pybdsf_comparison(stages: dict, tclean_units: list[int], pybdsf_tclean: Detections, config: dict,
                      threshold: float) -> Table:
    """PyBDSF at its default ``thresh_pix`` and DeepFocus at its operating point, on all test cubes and on the
    ones tCLEAN imaged; no threshold is chosen on the test cubes."""
    ev = config["evaluation"]
    edges, default = ev["snr_bins"], ev["pybdsf"]["thresh_pix_default"]
    df, bdsf = stages["deepfocus_2d"], stages["pybdsf_2d"]
    tables = [bdsf.table(default, edges), df.table(threshold, edges)]
    if tclean_units:
        tables += [pybdsf_tclean.table(default, edges),
                   df.subset(tclean_units).table(threshold, edges, "DeepFocus (2-D), tCLEAN cubes")]
    return vstack(tables)


def tclean_detections(pybdsf_tclean: Table, stages: dict, order: list[int], tclean_cubes: list[int], config: dict
                      ) -> tuple[Detections, list[int]]:
    """PyBDSF on the tCLEAN images, with the truth of the same cubes as the dirty-image comparison."""
    ev = config["evaluation"]
    out = Detections("PyBDSF tCLEAN (2-D)", ev["iou_2d"], ev["max_offset_pix"])
    units = [order.index(i) for i in tclean_cubes]
    ref = stages["pybdsf_2d"]
    for k, i in zip(units, tclean_cubes):
        b = pybdsf_tclean[pybdsf_tclean["cube"] == i]
        out.add(ref.true_boxes[k], ref.true_snr[k], boxes_of(b, BOX_2D),
                np.asarray(b["snr"], float), np.asarray(b["measured_snr"], float))
    return out, units


def characterisation_table(collected: dict) -> tuple[Table, dict]:
    beam = collected["beam"]
    return characterisation.matched(collected["stages"]["deepfocus_3d"], collected["truth"],
                                    collected["catalogue"], np.sqrt(beam.fwhm_major * beam.fwhm_minor),
                                    collected["grid"].cell_arcsec)


def tclean_table(manifest: str, tclean: dict[int, dict[str, str]], timing: dict) -> Table:
    """Per tCLEAN cube: residuals of each reconstruction (noise units) and seconds per cube; then the mean.

    ``tclean`` maps a test cube to its tCLEAN ``image``, ``model`` and ``timing`` files and the DeepFocus
    ``deepfocus_model`` cube.
    """
    ds = CubeDataset(manifest, "test", ("model",))
    grid, pb = ds.grid(), ds.shared("pb")
    rows = []
    for index, files in tclean.items():
        truth = ds[ds.indices.index(index)]["model"].numpy().astype(float)
        model, _ = fitsio.read_cube(files["deepfocus_model"])
        tclean_model, _ = fitsio.read_cube(files["model"])
        tclean_image, header = fitsio.read_cube(files["image"])
        stats = reconstruction.compare(truth, model, tclean_model, tclean_image, pb, ds.noise_rms(index),
                                       grid.cell_arcsec, fitsio.beam_arcsec(header))
        seconds = json.loads(Path(files["timing"]).read_text())["tclean_seconds"]
        row = {"cube": str(index)}
        for name, s in stats.items():
            row.update({f"{name}_rms": s["rms"], f"{name}_p99": s["p99"]})
        row.update({"tclean_s": seconds, "deepfocus_s": timing["compute_seconds_per_cube"]})
        rows.append(row)
    table = Table(rows=rows)
    mean = {name: (float(np.mean(table[name])) if name != "cube" else "mean") for name in table.colnames}
    table.add_row(mean)
    table["speedup"] = table["tclean_s"] / table["deepfocus_s"]
    return table


def evaluate(*, manifest: str, point: str, blobsfinder: str, deepgru: str, catalogue: str, timing: str,
             pybdsf_dirty: str, pybdsf_tclean: str, tclean_cubes: list[int], tclean_images: list[str],
             tclean_models: list[str], tclean_timings: list[str], deepfocus_models: list[str], tables: list[str],
             markdown: list[str], figures: list[str], pdfs: list[str], deepfocus: dict, params=None) -> None:
    """The evaluation tables (CSV ``tables`` + ``markdown``) and figures (``figures`` PNG + ``pdfs``) in the
    order of :func:`.settings.tables` and :data:`.settings.FIGURES`, of the pipeline at the operating
    ``point`` (JSON) that made ``catalogue``.

    ``tclean_cubes`` are the test cubes that tCLEAN imaged; the ``tclean_*`` files and ``deepfocus_models`` (the
    DeepFocus model cubes) follow their order.
    """
    config = deepfocus
    table_files = dict(zip(table_names(bool(tclean_cubes)), zip(tables, markdown, strict=True), strict=True))
    figure_files = dict(zip(FIGURES, zip(figures, pdfs, strict=True), strict=True))
    tclean = {index: {"image": image, "model": model, "timing": seconds, "deepfocus_model": ours}
              for index, image, model, seconds, ours in zip(tclean_cubes, tclean_images, tclean_models,
                                                             tclean_timings, deepfocus_models, strict=True)}
    found = Table.read(catalogue)
    timing = json.loads(Path(timing).read_text())
    chosen = operating_point.load(point)
    threshold = chosen["threshold"]
    pipeline = DeepFocus.load({"blobsfinder": blobsfinder, "deepgru": deepgru}, settings_of(config, chosen))
    collected = collect(manifest, pipeline, found, Table.read(pybdsf_dirty), config)
    stages = collected["stages"]
    bdsf_tclean, units = tclean_detections(Table.read(pybdsf_tclean), stages, collected["order"],
                                           sorted(tclean), config)
    detection = detection_table(stages, config, threshold)
    detection.meta["note"] = (f"DeepFocus at its operating point, chosen on the validation split for "
                              f"{chosen['target_contamination']:.0%} contamination: {operating_point.label(chosen)}")
    write_table(detection, *table_files["detection"], "DeepFocus: detection per stage on the test split", params)
    write_table(collected["losses"], *table_files["stage_losses"],
                "DeepFocus: where the true sources are lost, stage by stage (test split)", params)
    comparison = pybdsf_comparison(stages, units, bdsf_tclean, config, threshold)
    pybdsf_default = config["evaluation"]["pybdsf"]["thresh_pix_default"]
    comparison.meta["note"] = (f"PyBDSF at its default thresh_pix={pybdsf_default:g}, DeepFocus at its operating "
                               f"point ({operating_point.label(chosen)}, chosen on validation); "
                               "completeness per true SNR, contamination per measured SNR (dirty-cube peak at the "
                               "detection)")
    write_table(comparison, *table_files["vs_pybdsf"], "DeepFocus vs PyBDSF on the sky plane (2-D boxes)", params)
    summary, residuals = characterisation_table(collected)
    write_table(summary, *table_files["characterisation"],
                "DeepFocus: predicted minus true parameters of the matched sources", params)
    if tclean:
        versus = tclean_table(manifest, tclean, timing)
        versus.meta["note"] = ("residuals: (reconstruction - truth) at tCLEAN's restoring beam over the channel "
                               "noise; seconds: tclean call vs the DeepFocus pipeline per cube (batched, models "
                               f"loaded once, {timing['device']})")
        write_table(versus, *table_files["vs_tclean"],
                    "DeepFocus vs tCLEAN: reconstruction residuals and wall time per cube", params)

    for path in figures:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    plots.completeness(stages, threshold, pybdsf_default, config["evaluation"]["snr_bins"],
                       *figure_files["completeness"])
    plots.purity_completeness(chosen, stages, pybdsf_default, *figure_files["purity_completeness"])
    plots.residual_histograms(residuals, *figure_files["residuals"])
    plots.examples(examples.collect(manifest, pipeline, found), *figure_files["examples"])
    log.info("evaluation written: %s", ", ".join([*tables, *figures]))
