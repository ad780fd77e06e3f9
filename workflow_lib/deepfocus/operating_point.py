"""The operating point: the false-positive rule and score threshold, chosen on the validation split.

DeepFocus's catalogue keeps a source when the rule of :func:`.focusing.keep`
lets it through and its score (blob probability x line probability) reaches
a threshold. Both are chosen here, on the validation split only, for a
stated target contamination (``deepfocus.operating_point.contamination``):
for each candidate rule the whole pipeline runs on the validation cubes,
its catalogue is matched to the truth in 3-D (IoU >= ``evaluation.iou_3d``)
and the score threshold with the highest completeness at no more than the
target contamination is found; the rule with the highest completeness there wins (ties go to the
first listed). Every test set then uses the point unchanged.

The point is a JSON file beside the models (:data:`.settings.OPERATING_POINT`)
that inference reads; it holds the validation curves (threshold,
completeness, contamination) of every rule for the report.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .. import provenance
from ..dataset.torch_dataset import CubeDataset
from . import focusing, geometry
from .evaluation import matching
from .evaluation.detection import Detections
from .pipeline import DeepFocus, boxes_of, settings_of
from .preprocess import robust_rms
from .trainsets import batches

log = logging.getLogger(__name__)
KEYS = ("rule", "score_threshold", "target_contamination")


def validation_detections(manifest: str, pipeline: DeepFocus, deepfocus: dict, rules, iou_3d: float,
                          split: str = "validation") -> dict[str, Detections]:
    """Per rule, the pipeline's 3-D catalogue (every score) on every cube of ``split`` against its truth; each
    batch of cubes is read once and run under every rule, the models loaded once."""
    ds = CubeDataset(manifest, split, ("dirty",))
    truth, grid = ds.sources(), ds.grid()
    cell, shape = pipeline.meta["cell_arcsec"], tuple(pipeline.meta["shape"])
    found = {rule: Detections(f"DeepFocus (3-D, {split}, rule {rule})", iou_3d) for rule in rules}
    for indices, arrays in batches(ds, deepfocus["batch_cubes"]):
        cubes = arrays["dirty"]
        true_boxes = {i: geometry.source_boxes(truth[truth["cube"] == i], pipeline.beam, cell, shape)
                      for i in indices}
        for rule in rules:
            pipeline.settings = settings_of(deepfocus, {"rule": rule, "score_threshold": -np.inf})
            for index, cube, result in zip(indices, cubes, pipeline.run(cubes, grid, f"{manifest} cube")):
                t, c, rms = truth[truth["cube"] == index], result.catalogue, robust_rms(cube)
                measured = [matching.measured_snr(cube, x, y, rms) for x, y in zip(c["x_pix"], c["y_pix"])]
                found[rule].add(true_boxes[index], np.asarray(t["snr"], float), boxes_of(c),
                                np.asarray(c["score"], float), measured)
    return found


def curve(found: Detections) -> list[list[float]]:
    """(threshold, completeness, contamination) at every distinct score, lowest threshold first."""
    scores = np.unique(np.concatenate(found.scores)) if found.scores else np.zeros(0)
    return [[float(t), *found.rates(t)] for t in scores]


def choose(*, manifest: str, out: str, deepfocus: dict, iou_3d: float, params=None, **checkpoints: str) -> dict:
    """Run the pipeline on the validation split with each candidate rule, write the chosen point to ``out``."""
    target, rules = deepfocus["operating_point"]["contamination"], deepfocus["operating_point"]["rules"]
    pipeline = DeepFocus.load(checkpoints, settings_of(deepfocus))
    candidates = {}
    for rule, found in validation_detections(manifest, pipeline, deepfocus, rules, iou_3d).items():
        threshold, completeness, contamination = matching.best_threshold(found.scores, found.rates, target)
        candidates[rule] = {"score_threshold": threshold, "completeness": completeness,
                            "contamination": contamination, "n_true": int(sum(map(len, found.true_boxes))),
                            "curve": curve(found)}
        log.info("rule %s: score >= %.4g gives completeness %.3f at contamination %.3f on validation", rule,
                 threshold, completeness, contamination)
    rule = max(candidates, key=lambda r: candidates[r]["completeness"])  # max keeps the first of equals
    point = {"rule": rule, "score_threshold": candidates[rule]["score_threshold"], "target_contamination": target,
             "split": "validation", "candidates": candidates, **provenance.record(params)}
    Path(out).write_text(json.dumps(point, indent=1) + "\n")
    log.info("operating point: rule %s, score >= %.4g", rule, point["score_threshold"])
    return point


def load(path: str | Path) -> dict:
    """The operating point of a JSON file written by :func:`choose`; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no operating point; the workflow's deepfocus_operating_point rule "
                                "chooses it on the validation split and writes it beside the models")
    try:
        point = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not an operating point ({err})") from None
    missing = [k for k in KEYS if k not in point]
    if missing:
        raise ValueError(f"{path}: operating point lacks {missing}")
    if point["rule"] not in focusing.RULES:
        raise ValueError(f"{path}: unknown rule {point['rule']!r}; choose from {focusing.RULES}")
    if not np.isfinite(point["score_threshold"]):
        raise ValueError(f"{path}: score_threshold {point['score_threshold']} is not finite")
    return point
