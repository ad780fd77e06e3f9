"""The final catalogues of one cube against its truth: DeepFocus in 3-D and on the sky plane, PyBDSF on the sky
plane, all with the same matcher and the same measured SNR (the test split and the independent test set)."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from ..pipeline import boxes_of
from .detection import Detections, unique_2d

BOX_2D = ["box_x0", "box_y0", "box_x1", "box_y1"]  # PyBDSF catalogues


def stages(evaluation: dict) -> dict[str, Detections]:
    """Empty detections (``deepfocus_3d``, ``deepfocus_2d``, ``pybdsf_2d``) with the ``evaluation`` config's
    matching."""
    return {"deepfocus_3d": Detections("DeepFocus (3-D)", evaluation["iou_3d"]),
            "deepfocus_2d": Detections("DeepFocus (2-D)", evaluation["iou_2d"], evaluation["max_offset_pix"]),
            "pybdsf_2d": Detections("PyBDSF dirty (2-D)", evaluation["iou_2d"], evaluation["max_offset_pix"])}


def add(found: dict[str, Detections], true_boxes: np.ndarray, true_snr, catalogue: Table, pybdsf: Table,
        ranking: str) -> None:
    """One cube: its true 3-D boxes and SNRs, DeepFocus ``catalogue`` (ranked by its column ``ranking``, the
    operating point's) and ``pybdsf`` rows."""
    boxes2 = true_boxes[:, [0, 1, 3, 4]]
    pred3 = boxes_of(catalogue)
    scores, measured = np.asarray(catalogue[ranking], float), np.asarray(catalogue["measured_snr"], float)
    found["deepfocus_3d"].add(true_boxes, true_snr, pred3, scores, measured)
    keep = unique_2d(pred3, scores)
    found["deepfocus_2d"].add(boxes2, true_snr, pred3[keep][:, [0, 1, 3, 4]], scores[keep], measured[keep])
    found["pybdsf_2d"].add(boxes2, true_snr, boxes_of(pybdsf, BOX_2D), np.asarray(pybdsf["snr"], float),
                           np.asarray(pybdsf["measured_snr"], float))
