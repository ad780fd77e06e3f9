"""Detections against the truth: one-to-one matching, completeness and contamination, per SNR bin.

A true source is found when a detection's box overlaps its box with
IoU >= a threshold (and, where asked, their centres lie within
``max_offset`` pixels); matching is greedy by IoU and one-to-one.
Completeness (efficiency) = found / true sources, binned by the true SNR;
contamination = unmatched / detections, binned by the detections' measured
SNR (one estimator for every method, see :func:`..preprocess.measured_snr`).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from .. import geometry


def match_boxes(true_boxes, pred_boxes, min_iou: float, max_offset: float | None = None) -> list[tuple[int, int]]:
    """Matched (true, detection) index pairs of one cube's boxes."""
    true_boxes = np.asarray(true_boxes, dtype=float)
    pred_boxes = np.asarray(pred_boxes, dtype=float)
    if len(true_boxes) == 0 or len(pred_boxes) == 0:
        return []
    allowed = None
    if max_offset is not None:
        offsets = geometry.box_centre(true_boxes)[:, None, :2] - geometry.box_centre(pred_boxes)[None, :, :2]
        allowed = np.hypot(offsets[..., 0], offsets[..., 1]) <= max_offset
    return geometry.match(geometry.iou(true_boxes, pred_boxes), min_iou, allowed)


def flags(n_true: int, n_pred: int, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(true source found?, detection real?) from matched pairs."""
    found, real = np.zeros(n_true, dtype=bool), np.zeros(n_pred, dtype=bool)
    for r, c in pairs:
        found[r], real[c] = True, True
    return found, real


def rates(found: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """(completeness, contamination); NaN where there is nothing to count."""
    completeness = float(np.mean(found)) if len(found) else float("nan")
    contamination = float(1 - np.mean(real)) if len(real) else float("nan")
    return completeness, contamination


def bin_labels(edges) -> list[str]:
    return [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges[:-1], edges[1:])]


def binned_rates(true_snr, found, pred_snr, real, edges) -> Table:
    """Completeness per true-SNR bin and contamination per measured-SNR bin, plus the overall row."""
    true_snr, found = np.asarray(true_snr, float), np.asarray(found, bool)
    pred_snr, real = np.asarray(pred_snr, float), np.asarray(real, bool)
    rows = []
    for label, lo, hi in zip(["all", *bin_labels(edges)], [-np.inf, *edges[:-1]], [np.inf, *edges[1:]]):
        t = (true_snr >= lo) & (true_snr < hi)
        p = (pred_snr >= lo) & (pred_snr < hi)
        completeness, contamination = rates(found[t], real[p])
        rows.append((label, int(t.sum()), completeness, int(p.sum()), contamination))
    return Table(rows=rows, names=("snr_bin", "n_true", "completeness", "n_detected", "contamination"),
                 dtype=(str, int, float, int, float))


def centred_in(truth: Table, box) -> np.ndarray:
    """Mask of the true sources centred in a 2-D box: the lines its summed spectrum must show."""
    x, y = np.asarray(truth["x_pix"], float), np.asarray(truth["y_pix"], float)
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def best_threshold(scores: list[np.ndarray], evaluate, max_contamination: float) -> tuple[float, float, float]:
    """Threshold on detection scores with the highest completeness at contamination <= ``max_contamination``.

    ``evaluate(threshold) -> (completeness, contamination)``. Candidate
    thresholds are the scores themselves. Returns (threshold, completeness,
    contamination); the highest score if none qualifies.
    """
    values = np.unique(np.concatenate([np.asarray(s, float) for s in scores])) if scores else np.zeros(0)
    best = (float(values.max()) if values.size else 0.0, 0.0, float("nan"))
    for threshold in values:
        completeness, contamination = evaluate(threshold)
        if contamination <= max_contamination and completeness > best[1]:
            best = (float(threshold), completeness, contamination)
    return best
