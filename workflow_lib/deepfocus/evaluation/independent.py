"""The independent test set (CASA end to end, see :mod:`...dataset.independent`) beside the ducc test split.

Both sets are scored alike: DeepFocus's catalogue at the operating point chosen on the validation split, PyBDSF
at its default peak threshold, smooth-and-clip (the classical 3-D finder, :mod:`.smooth_clip`) at SoFiA-2's
defaults, the same matcher and measured SNR (:mod:`.catalogues`); nothing is chosen here.
The true boxes of an independent cube use its own restoring beam (tclean's), as the pipeline's boxes do.

Tables (``deepfocus_independent_<name>.{csv,md}``):

* ``detection``: completeness and contamination per SNR bin of each method on each set;
* ``fields``: per field kind of the independent set, and for its cubes without any source: true sources found,
  false detections per cube and per training tile (a wide field counts as its area in tiles), completeness
  and contamination;
* ``characterisation``: residuals of the matched DeepFocus sources on each set, side by side;
* ``stage_losses``: where DeepFocus loses the independent set's true sources, stage by stage (:mod:`.stages`),
  over all cubes and per field kind: on data it was not trained on, which stage does not transfer.

Figure ``completeness``: DeepFocus 3-D, smooth-and-clip and PyBDSF per SNR bin on both sets.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from ... import fitsio
from ...dataset.torch_dataset import CubeDataset
from ...tables import write_table
from .. import geometry, operating_point
from ..pipeline import DeepFocus, boxes_of, settings_of
from ..preprocess import measured_snrs
from ..settings import INDEPENDENT_FIGURES, INDEPENDENT_TABLES
from ..trainsets import batches, dataset_meta
from . import catalogues, figures
from .characterisation import matched
from .detection import Detections
from .stages import cube_flags, stage_table

log = logging.getLogger(__name__)
SETS = {"ducc": "ducc test split", "casa": "CASA independent"}
EMPTY = "no source"  # the fields-table row of the independent cubes without a true source
SMOOTH_CLIP = "Smooth-and-clip (3-D)"


def _scored(evaluation: dict) -> dict:
    """Empty per-cube collections of one set."""
    stages = {**catalogues.stages(evaluation), "smooth_clip_3d": Detections(SMOOTH_CLIP, evaluation["iou_3d"])}
    return {"stages": stages, "truth": [], "catalogue": [], "beams": [], "cubes": []}


def _add(scored: dict, name, truth: Table, cube: np.ndarray, beam: geometry.Beam, cell: float, catalogue: Table,
         pybdsf: Table, smooth_clip: Table, ranking: str) -> None:
    boxes = geometry.source_boxes(truth, beam, cell, cube.shape)
    snr = np.asarray(truth["snr"], float)
    catalogues.add(scored["stages"], boxes, snr, catalogue, pybdsf, ranking)
    xy = zip(np.asarray(smooth_clip["x_pix"], float), np.asarray(smooth_clip["y_pix"], float))
    scored["stages"]["smooth_clip_3d"].add(boxes, snr, boxes_of(smooth_clip), np.asarray(smooth_clip["reliability"]),
                                           measured_snrs(cube, list(xy)))
    scored["truth"].append(truth)
    scored["catalogue"].append(catalogue)
    scored["beams"].append(beam)
    scored["cubes"].append((name, cube.shape))


def ducc_test(manifest: str, catalogue: Table, pybdsf: Table, smooth_clip: Table, evaluation: dict,
              batch_cubes: int, ranking: str) -> dict:
    """The ducc test split's final catalogues against its truth (the training set's beam), DeepFocus's ranked by
    its column ``ranking``."""
    meta = dataset_meta(manifest)
    beam = geometry.Beam(**meta["beam"])
    ds = CubeDataset(manifest, "test", ("dirty",))
    truth = ds.sources()
    scored = _scored(evaluation)
    for indices, arrays in batches(ds, batch_cubes):
        for index, cube in zip(indices, arrays["dirty"]):
            _add(scored, index, truth[truth["cube"] == index], cube, beam, meta["cell_arcsec"],
                 catalogue[catalogue["cube"] == index], pybdsf[pybdsf["cube"] == index],
                 smooth_clip[smooth_clip["cube"] == index], ranking)
    return scored


def casa_independent(names: list[str], cubes: list[str], truths: list[str], catalogue: Table, pybdsf: Table,
                     smooth_clip: Table, evaluation: dict, ranking: str) -> dict:
    """The independent cubes' final catalogues against their truth, each with its own restoring beam."""
    scored = _scored(evaluation)
    for name, path, truth in zip(names, cubes, truths, strict=True):
        cube, grid, beam = _read(path)
        _add(scored, name, Table.read(truth), cube, beam, grid.cell_arcsec,
             catalogue[catalogue["cube"] == name], pybdsf[pybdsf["cube"] == name],
             smooth_clip[smooth_clip["cube"] == name], ranking)
    return scored


def _read(path: str) -> tuple[np.ndarray, fitsio.Grid, geometry.Beam]:
    """An independent cube (float32), its grid and its own restoring beam (pixels)."""
    cube, header = fitsio.read_cube(path)
    grid = fitsio.Grid.from_header(header, path)
    return cube.astype(np.float32), grid, geometry.Beam.from_arcsec(fitsio.beam_arcsec(header), grid.cell_arcsec)


def stage_losses(names: list[str], cubes: list[str], psfs: list[str], truths: list[str], catalogue: Table,
                 pipeline: DeepFocus, evaluation: dict) -> Table:
    """:func:`.stages.stage_table` of the independent cubes (each with its own beam and PSF; wide fields tiled
    as at inference), over all of them and per field kind; ``catalogue`` is DeepFocus's at the operating
    point."""
    per_kind: dict[str, list] = {}
    for name, path, psf, truth in zip(names, cubes, psfs, truths, strict=True):
        t = Table.read(truth)
        if len(t) == 0:
            continue
        cube, grid, beam = _read(path)
        found = pipeline.stages(pipeline.sanitise(cube[None], path), fitsio.read_cube(psf)[0])
        passed, any_path = cube_flags(geometry.source_boxes(t, beam, grid.cell_arcsec, cube.shape), found, 0,
                                      catalogue[catalogue["cube"] == name], pipeline.settings["lines"], evaluation)
        per_kind.setdefault(name.rsplit("_", 1)[0], []).append((passed, any_path, np.asarray(t["snr"], float)))
    groups = {"all": [x for part in per_kind.values() for x in part], **per_kind}
    tables = []
    for field, part in groups.items():
        table = stage_table(*(np.concatenate([x[k] for x in part]) for k in range(3)), evaluation["snr_bins"])
        table.add_column(field, name="field", index=0)
        tables.append(table)
    out = vstack(tables)
    out.meta["note"] = tables[0].meta["note"] + "; field: the independent set's field kind (all: every cube)"
    return out


def _methods(threshold: float, pybdsf_thresh_pix: float) -> list[tuple[str, float]]:
    """(stage, threshold) of each method: DeepFocus's catalogue is at its operating point already."""
    return [("deepfocus_3d", threshold), ("deepfocus_2d", threshold), ("smooth_clip_3d", -np.inf),
            ("pybdsf_2d", pybdsf_thresh_pix)]


def detection_table(sets: dict, threshold: float, pybdsf_thresh_pix: float, edges) -> Table:
    rows = []
    for key, scored in sets.items():
        for stage, t in _methods(threshold, pybdsf_thresh_pix):
            table = scored["stages"][stage].table(t, edges)
            table.add_column(SETS[key], name="test_set", index=0)
            rows.append(table)
    return vstack(rows)


def fields_table(scored: dict, threshold: float, pybdsf_thresh_pix: float, tile_npix: int) -> Table:
    """Per field kind (and the cubes without a source): what each method found and how much of it was false."""
    kinds = [name.rsplit("_", 1)[0] for name, _ in scored["cubes"]]
    tiles = np.array([shape[1] * shape[2] / tile_npix**2 for _, shape in scored["cubes"]])
    n_true = np.array([len(t) for t in scored["truth"]])
    groups = {kind: [k for k, c in enumerate(kinds) if c == kind] for kind in dict.fromkeys(kinds)}
    groups[EMPTY] = [k for k in range(len(kinds)) if n_true[k] == 0]
    rows = []
    for label, units in groups.items():
        for stage, t in _methods(threshold, pybdsf_thresh_pix):
            part = scored["stages"][stage].subset(units)
            found, _, real, _ = part.flags(t)
            false = int((~real).sum())
            rows.append({"field": label, "method": part.name, "cubes": len(units),
                         "tiles": float(tiles[units].sum()), "n_true": int(n_true[units].sum()),
                         "found": int(found.sum()), "detections": len(real), "false": false,
                         "false_per_cube": false / len(units) if units else np.nan,
                         "false_per_tile": false / tiles[units].sum() if units else np.nan,
                         "completeness": float(found.mean()) if len(found) else np.nan,
                         "contamination": float(1 - real.mean()) if len(real) else np.nan})
    return Table(rows=rows)


def characterisation_table(sets: dict, cell_arcsec: float) -> Table:
    """The characterisation summary of each set, side by side (columns suffixed with the set)."""
    out = None
    for key, scored in sets.items():
        beam_fwhm = float(np.median([np.sqrt(b.fwhm_major * b.fwhm_minor) for b in scored["beams"]]))
        table, _ = matched(scored["stages"]["deepfocus_3d"], scored["truth"], scored["catalogue"], beam_fwhm,
                           cell_arcsec)
        if out is None:
            out = table["parameter", "unit"]
        for name in ("n", "median", "robust_sigma", "within_10pct"):
            out[f"{name}_{key}"] = table[name]
    return out


def evaluate(*, manifest: str, point: str, blobsfinder: str, deepgru: str, test_catalogue: str,
             test_pybdsf: str, test_smooth_clip: str, names: list[str], cubes: list[str], psfs: list[str],
             truths: list[str], catalogue: str, pybdsf: str, smooth_clip: str, tables: list[str], markdown: list[str],
             figures_png: list[str], figures_pdf: list[str], deepfocus: dict, params=None) -> None:
    """The tables (CSV ``tables`` + ``markdown``, in the order of :data:`.settings.INDEPENDENT_TABLES`) and the
    figure of the independent cubes ``names`` (their dirty ``cubes``, ``psfs`` and ``truths``; the DeepFocus
    ``catalogue``, ``pybdsf`` and ``smooth_clip`` catalogues) beside the ducc test split (``manifest``,
    ``test_catalogue``, ``test_pybdsf``, ``test_smooth_clip``), DeepFocus at the operating ``point``; the
    ``blobsfinder`` and ``deepgru`` checkpoints re-run its detection stages for the stage-loss table."""
    ev = deepfocus["evaluation"]
    chosen = operating_point.load(point)
    threshold, pybdsf_default, edges = chosen["threshold"], ev["pybdsf"]["thresh_pix_default"], ev["snr_bins"]
    sets = {"ducc": ducc_test(manifest, Table.read(test_catalogue), Table.read(test_pybdsf),
                              Table.read(test_smooth_clip), ev, deepfocus["batch_cubes"], chosen["ranking"]),
            "casa": casa_independent(names, cubes, truths, Table.read(catalogue), Table.read(pybdsf),
                                     Table.read(smooth_clip), ev, chosen["ranking"])}
    files = dict(zip(INDEPENDENT_TABLES, zip(tables, markdown, strict=True), strict=True))
    note = (f"DeepFocus at its operating point ({operating_point.label(chosen)}, chosen on the "
            f"validation split of the ducc training set), PyBDSF at thresh_pix={pybdsf_default:g}, smooth-and-clip "
            "at SoFiA-2's defaults; completeness per true SNR, contamination per measured SNR")
    detection = detection_table(sets, threshold, pybdsf_default, edges)
    detection.meta["note"] = note
    write_table(detection, *files["detection"], "DeepFocus, smooth-and-clip and PyBDSF on the ducc test split "
                "and on the CASA independent test set", params)
    meta = dataset_meta(manifest)
    fields = fields_table(sets["casa"], threshold, pybdsf_default, meta["shape"][1])
    fields.meta["note"] = (f"{note}; a tile is the training cubes' {meta['shape'][1]} x {meta['shape'][2]} "
                           "pixels; 'no source' gathers the cubes without a true source")
    write_table(fields, *files["fields"], "Independent test set: false detections per field kind", params)
    write_table(characterisation_table(sets, meta["cell_arcsec"]), *files["characterisation"],
                "DeepFocus: predicted minus true parameters on the ducc test split and the CASA independent set",
                params)
    pipeline = DeepFocus.load({"blobsfinder": blobsfinder, "deepgru": deepgru}, settings_of(deepfocus, chosen))
    write_table(stage_losses(names, cubes, psfs, truths, Table.read(catalogue), pipeline, ev), *files["stage_losses"],
                "DeepFocus: where the true sources of the CASA independent set are lost, stage by stage", params)
    for path in figures_png:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    png, pdf = dict(zip(INDEPENDENT_FIGURES, zip(figures_png, figures_pdf, strict=True), strict=True))["completeness"]
    figures.independent_completeness({SETS[k]: v["stages"] for k, v in sets.items()}, threshold, pybdsf_default,
                                     edges, png, pdf)
    log.info("independent evaluation written: %s", ", ".join([*tables, *figures_png]))
