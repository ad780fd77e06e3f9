"""Detection performance of each stage and method on the test cubes, at any score threshold.

A :class:`Detections` holds, per unit (a cube, or a box for the DeepGRU),
the true boxes with their SNR and the detected boxes with their scores and
measured SNR; it matches them at a score threshold and reports completeness
and contamination overall, per SNR bin, or along a threshold sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from .. import geometry
from . import matching


@dataclass
class Detections:
    name: str
    min_iou: float
    max_offset: float | None = None
    true_boxes: list = field(default_factory=list)
    true_snr: list = field(default_factory=list)
    pred_boxes: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    pred_snr: list = field(default_factory=list)

    def add(self, true_boxes, true_snr, pred_boxes, scores, pred_snr) -> None:
        """One unit (cube or box): its true boxes and SNRs, its detections' boxes, scores and measured SNRs."""
        self.true_boxes.append(np.asarray(true_boxes, float))
        self.true_snr.append(np.asarray(true_snr, float))
        self.pred_boxes.append(np.asarray(pred_boxes, float))
        self.scores.append(np.asarray(scores, float))
        self.pred_snr.append(np.asarray(pred_snr, float))

    def pairs(self, threshold: float = -np.inf) -> list[list[tuple[int, int]]]:
        """Matched (true, detection) pairs per unit, detection indices into the unit's full list."""
        out = []
        for boxes_t, boxes_p, scores in zip(self.true_boxes, self.pred_boxes, self.scores):
            kept = np.flatnonzero(scores >= threshold)
            pairs = matching.match_boxes(boxes_t, boxes_p[kept], self.min_iou, self.max_offset)
            out.append([(r, int(kept[c])) for r, c in pairs])
        return out

    def flags(self, threshold: float = -np.inf):
        """(found, true SNR, real, measured SNR) over all units, detections below ``threshold`` left out."""
        found, real, pred_snr = [], [], []
        for pairs, boxes_t, scores, snr in zip(self.pairs(threshold), self.true_boxes, self.scores, self.pred_snr):
            f, r = matching.flags(len(boxes_t), len(scores), pairs)
            kept = scores >= threshold
            found.append(f)
            real.append(r[kept])
            pred_snr.append(snr[kept])
        cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0))
        return cat(found).astype(bool), cat(self.true_snr), cat(real).astype(bool), cat(pred_snr)

    def rates(self, threshold: float = -np.inf) -> tuple[float, float]:
        found, _, real, _ = self.flags(threshold)
        return matching.rates(found, real)

    def table(self, threshold: float, edges, name: str | None = None) -> Table:
        """Rates overall and per SNR bin at ``threshold``; ``method`` column ``name`` (default: this one's)."""
        found, true_snr, real, pred_snr = self.flags(threshold)
        table = matching.binned_rates(true_snr, found, pred_snr, real, edges)
        table.add_column(name or self.name, name="method", index=0)
        table.add_column(float(threshold), name="threshold", index=1)
        return table

    def sweep(self, thresholds) -> np.ndarray:
        """(threshold, completeness, contamination) rows."""
        return np.array([(t, *self.rates(t)) for t in thresholds])

    def subset(self, units) -> "Detections":
        """The same evaluation restricted to some units (e.g. the cubes tCLEAN imaged)."""
        part = Detections(self.name, self.min_iou, self.max_offset)
        for k in units:
            part.add(self.true_boxes[k], self.true_snr[k], self.pred_boxes[k], self.scores[k], self.pred_snr[k])
        return part


def unique_2d(boxes_3d: np.ndarray, scores: np.ndarray, overlap: float = 0.5) -> np.ndarray:
    """Indices of 3-D detections kept in 2-D: of sources whose 2-D boxes overlap (IoU >= ``overlap``),
    only the highest-scoring one (several lines at one position are one source on the sky)."""
    return geometry.suppress(np.asarray(boxes_3d, float).reshape(-1, 6)[:, [0, 1, 3, 4]], scores, overlap)
