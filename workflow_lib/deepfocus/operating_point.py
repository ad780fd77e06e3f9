"""The operating point: the false-positive rule, the ranking and its threshold, chosen on the validation split.

DeepFocus's catalogue keeps a source when the rule of :func:`.focusing.keep` lets it through and its ranking
column reaches a threshold. The ranking is the raw ``score`` (blob probability x line probability) or the
``reliability`` (:mod:`.reliability`), a logistic regression fitted here on the pipeline's catalogue of the
*training* split under rule ``none``. Rule, ranking and threshold are then chosen on the validation split
only, for a stated target contamination (``deepfocus.operating_point.contamination``): for each candidate
(every ranking of ``rankings`` under every rule of ``rules``) the whole pipeline runs on the validation cubes,
its catalogue is matched to the truth in 3-D (IoU >= ``evaluation.iou_3d``) and the threshold with the
highest completeness at no more than the target contamination is found; the candidate with the highest
completeness there wins (ties go to the first listed). Every test set then uses the point unchanged.

The point is a JSON file beside the models (:data:`.settings.OPERATING_POINT`) that inference reads; it
holds the reliability model and the validation curves (threshold, completeness, contamination) of every
candidate for the report.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .. import provenance
from ..dataset.torch_dataset import CubeDataset
from . import focusing, geometry, reliability
from .evaluation import matching
from .evaluation.detection import Detections
from .pipeline import DeepFocus, boxes_of, settings_of
from .trainsets import batches

log = logging.getLogger(__name__)
KEYS = ("rule", "ranking", "threshold", "target_contamination")
RANKINGS = ("score", "reliability")


def label(point: dict) -> str:
    """How tables and figures name a point or candidate: ``<ranking> >= <threshold>, rule <rule>``."""
    return f"{point['ranking']} >= {point['threshold']:.3g}, rule {point['rule']}"


def split_catalogues(manifest: str, pipeline: DeepFocus, deepfocus: dict, rules, split: str,
                     model: dict | None = None) -> dict[str, list[tuple]]:
    """Per rule, (true 3-D boxes, true SNRs, catalogue at every score) of every cube of ``split``, the
    catalogues with the reliability of ``model``; each batch of cubes is read once and run under every rule."""
    ds = CubeDataset(manifest, split, ("dirty",))
    truth, grid = ds.sources(), ds.grid()
    cell, shape = pipeline.meta["cell_arcsec"], tuple(pipeline.meta["shape"])
    out = {rule: [] for rule in rules}
    for indices, arrays in batches(ds, deepfocus["batch_cubes"]):
        cubes = arrays["dirty"]
        for rule in rules:
            pipeline.settings = settings_of(deepfocus, {"rule": rule, "ranking": "score", "threshold": -np.inf,
                                                        "reliability": model})
            for index, result in zip(indices, pipeline.run(cubes, grid, f"{manifest} cube")):
                t = truth[truth["cube"] == index]
                out[rule].append((geometry.source_boxes(t, pipeline.beam, cell, shape), np.asarray(t["snr"], float),
                                  result.catalogue))
    return out


def detections(cubes: list[tuple], ranking: str, iou_3d: float, name: str) -> Detections:
    """:func:`split_catalogues`' cubes of one rule as detections ranked by the column ``ranking``."""
    found = Detections(name, iou_3d)
    for true_boxes, true_snr, c in cubes:
        found.add(true_boxes, true_snr, boxes_of(c), np.asarray(c[ranking], float),
                  np.asarray(c["measured_snr"], float))
    return found


def fit_reliability(manifest: str, pipeline: DeepFocus, deepfocus: dict, iou_3d: float) -> dict | None:
    """:func:`.reliability.fit` on the training split's catalogue under rule ``none`` (every detection); None,
    with a warning, when that catalogue is all real or all false (nothing to learn from)."""
    cubes = split_catalogues(manifest, pipeline, deepfocus, ["none"], "train")["none"]
    real = detections(cubes, "score", iou_3d, "training split").flags()[2]
    if real.all() or not real.any():
        what = f"all {len(real)} detections are {'real' if real.any() else 'false'}" if len(real) else "no detection"
        log.warning("no reliability: the training split gives %s; the candidates rank by score only", what)
        return None
    model = reliability.fit(np.concatenate([reliability.features(c) for _, _, c in cubes]), real,
                            deepfocus["operating_point"]["reliability_l2"])
    log.info("reliability fitted on %d training detections (%d false): weights %s", len(real),
             model["n_false"], np.round(model["weights"], 3).tolist())
    return model


def curve(found: Detections) -> list[list[float]]:
    """(threshold, completeness, contamination) at every distinct score, lowest threshold first."""
    scores = np.unique(np.concatenate(found.scores)) if found.scores else np.zeros(0)
    return [[float(t), *found.rates(t)] for t in scores]


def choose(*, manifest: str, out: str, deepfocus: dict, iou_3d: float, params=None, **checkpoints: str) -> dict:
    """Fit the reliability on the training split, run the pipeline on the validation split under each
    candidate rule and ranking, write the chosen point to ``out``."""
    settings = deepfocus["operating_point"]
    target, rules, rankings = settings["contamination"], settings["rules"], settings["rankings"]
    pipeline = DeepFocus.load(checkpoints, settings_of(deepfocus))
    model = fit_reliability(manifest, pipeline, deepfocus, iou_3d) if "reliability" in rankings else None
    rankings = [r for r in rankings if r != "reliability" or model]
    per_rule = split_catalogues(manifest, pipeline, deepfocus, rules, "validation", model)
    candidates = {}
    for ranking in rankings:
        for rule, cubes in per_rule.items():
            found = detections(cubes, ranking, iou_3d, f"DeepFocus (3-D, validation, {ranking}, rule {rule})")
            threshold, completeness, contamination = matching.best_threshold(found.scores, found.rates, target)
            candidate = {"rule": rule, "ranking": ranking, "threshold": threshold}
            candidates[label(candidate)] = {**candidate, "completeness": completeness,
                                            "contamination": contamination,
                                            "n_true": int(sum(map(len, found.true_boxes))), "curve": curve(found)}
            log.info("%s gives completeness %.3f at contamination %.3f on validation", label(candidate),
                     completeness, contamination)
    best = max(candidates.values(), key=lambda c: c["completeness"])  # max keeps the first of equals
    point = {"rule": best["rule"], "ranking": best["ranking"], "threshold": best["threshold"],
             "target_contamination": target, "split": "validation", "reliability": model,
             "candidates": candidates, **provenance.record(params)}
    Path(out).write_text(json.dumps(point, indent=1) + "\n")
    log.info("operating point: %s", label(point))
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
    if point["ranking"] not in RANKINGS:
        raise ValueError(f"{path}: unknown ranking {point['ranking']!r}; choose from {RANKINGS}")
    if not np.isfinite(point["threshold"]):
        raise ValueError(f"{path}: threshold {point['threshold']} is not finite")
    if point["ranking"] == "reliability":
        reliability.check(point.get("reliability"), str(path))
    return point
