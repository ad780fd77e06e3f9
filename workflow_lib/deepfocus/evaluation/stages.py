"""Stage-loss accounting: every true source followed through the DeepFocus pipeline, per SNR bin.

A true source passes, in turn (each stage counts only sources that passed the ones before):

1. ``blobsfinder``: a Blobs Finder box matches its 2-D box (IoU >= ``iou_2d``, centres within
   ``max_offset_pix``, one-to-one);
2. ``deepgru``: in that box's spectrum the DeepGRU finds a line matching its line range (1-D IoU >= ``iou_1d``);
3. ``line_merging``: such a line survives the merging of overlapping lines (:func:`..focusing.resolve_lines`);
4. ``focusing_rules``: a source of that box keeps such a line after focusing, the leak check and the
   operating point's false-positive rule (:func:`..focusing.box_sources`);
5. ``box_3d``: a catalogue entry (at the operating point's threshold) matches its 3-D box
   (IoU >= ``iou_3d``, one-to-one, as in the detection table);
6. ``characterised``: that entry has finite sizes, position angle and flux.

``box_3d_any`` counts the 3-D matches whatever path led to them (a source can also be found through another
box's secondary line); the cumulative columns say where the ones that are lost are lost.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from .. import deepgru, focusing, geometry
from ..pipeline import Stages, boxes_of
from . import matching

STAGES = ("blobsfinder", "deepgru", "line_merging", "focusing_rules", "box_3d", "characterised")
CHARACTERISED = ("fwhm_major_arcsec", "fwhm_minor_arcsec", "pa_deg", "line_flux_jy")


def _line_matches(true_range: np.ndarray, ranges: list, min_iou: float) -> bool:
    return bool(ranges) and bool((geometry.iou(true_range[None], np.array(ranges)) >= min_iou).any())


def cube_flags(boxes3: np.ndarray, found: Stages, k: int, catalogue: Table, lines: dict,
               evaluation: dict) -> tuple[np.ndarray, np.ndarray]:
    """(passed, any-path 3-D match) for the true 3-D boxes ``boxes3`` of cube ``k`` of the batch whose
    detection stages are ``found``: ``passed`` is (n_true, 6) bool, cumulative over :data:`STAGES`;
    ``catalogue`` is that cube's final catalogue."""
    mine = [j for j, (cube, _) in enumerate(found.blobs) if cube == k]
    blobs, emission, sources = [found.blobs[j][1] for j in mine], found.emission[mine], [found.sources[j] for j in mine]
    n = len(boxes3)
    passed = np.zeros((n, len(STAGES)), dtype=bool)
    boxes2, ranges = boxes3[:, [0, 1, 3, 4]], boxes3[:, [2, 5]]
    blob_of = dict(matching.match_boxes(boxes2, [b["box"] for b in blobs], evaluation["iou_2d"],
                                        evaluation["max_offset_pix"]))
    for r, b in blob_of.items():
        passed[r, 0] = True
        found = deepgru.find_lines(emission[b], **lines)
        ranges_found = [geometry.line_range(f["centre"], f["fwhm"]) for f in found]
        passed[r, 1] = _line_matches(ranges[r], ranges_found, evaluation["iou_1d"])
        merged = [m["range"] for m in focusing.resolve_lines(found)]
        passed[r, 2] = passed[r, 1] and _line_matches(ranges[r], merged, evaluation["iou_1d"])
        kept = [s["range"] for s in sources[b]]
        passed[r, 3] = passed[r, 2] and _line_matches(ranges[r], kept, evaluation["iou_1d"])
    pairs = matching.match_boxes(boxes3, boxes_of(catalogue), evaluation["iou_3d"])
    any_path = np.zeros(n, dtype=bool)
    for r, c in pairs:
        any_path[r] = True
        finite = all(np.isfinite(float(catalogue[name][c])) for name in CHARACTERISED)
        passed[r, 4] = passed[r, 3]
        passed[r, 5] = passed[r, 3] and finite
    return passed, any_path


def stage_table(passed: np.ndarray, any_path: np.ndarray, snr: np.ndarray, edges) -> Table:
    """Per true-SNR bin (and overall): sources, the fraction still in the pipeline after each stage, and the
    fraction found in 3-D by any path."""
    rows = []
    for label, lo, hi in zip(["all", *matching.bin_labels(edges)], [-np.inf, *edges[:-1]], [np.inf, *edges[1:]]):
        sel = (snr >= lo) & (snr < hi)
        n = int(sel.sum())
        fractions = [float(passed[sel, k].mean()) if n else float("nan") for k in range(len(STAGES))]
        rows.append((label, n, *fractions, float(any_path[sel].mean()) if n else float("nan")))
    table = Table(rows=rows, names=("snr_bin", "n_true", *STAGES, "box_3d_any"),
                  dtype=(str, int, *([float] * (len(STAGES) + 1))))
    table.meta["note"] = ("fraction of the true sources still in the pipeline after each stage (a stage counts "
                          "only sources that passed the ones before): blobsfinder = a 2-D box matches, deepgru = "
                          "a line in that box matches the source's line, line_merging = it survives the merging of "
                          "overlapping lines, focusing_rules = kept by focusing, the leak check and the operating "
                          "point's false-positive rule, box_3d = a catalogue entry (at the operating point's "
                          "threshold) matches in 3-D, characterised = with "
                          "finite parameters; box_3d_any = matched in 3-D by any path (the detection table's "
                          "DeepFocus 3-D completeness)")
    return table
