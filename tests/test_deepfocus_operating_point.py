"""The operating point: chosen on the validation split, read back with errors that name the file."""

import json

import numpy as np
import pytest
from astropy.table import Table

from workflow_lib.deepfocus import operating_point, reliability
from workflow_lib.deepfocus.evaluation.detection import Detections
from workflow_lib.deepfocus.pipeline import BOX_COLUMNS


POINT = {"rule": "none", "ranking": "score", "threshold": 0.5, "target_contamination": 0.01}


def _write(tmp_path, point):
    path = tmp_path / "operating_point.json"
    path.write_text(point if isinstance(point, str) else json.dumps(point))
    return path


@pytest.mark.parametrize("point, message", [
    ("{not json", "not an operating point"),
    ({"rule": "study", "ranking": "score", "threshold": 0.5}, "lacks \\['target_contamination'\\]"),
    ({**POINT, "rule": "loose"}, "unknown rule 'loose'"),
    ({**POINT, "ranking": "flux"}, "unknown ranking 'flux'"),
    ({**POINT, "threshold": float("-inf")}, "is not finite"),
    ({**POINT, "ranking": "reliability"}, "reliability model is not one of the features"),
    ({**POINT, "ranking": "reliability", "reliability": {"features": list(reliability.FEATURES), "mean": [0] * 6,
                                                         "scale": [1] * 6, "weights": [0] * 6}}, "not finite"),
])
def test_a_bad_operating_point_is_named(tmp_path, point, message):
    path = _write(tmp_path, point)
    with pytest.raises(ValueError, match=message) as err:
        operating_point.load(path)
    assert str(path) in str(err.value)


def test_a_missing_operating_point_says_which_rule_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="deepfocus_operating_point"):
        operating_point.load(tmp_path / "operating_point.json")


def test_curve_rates_at_every_score():
    d = Detections("v", 0.5)
    d.add([[0, 0, 10, 10], [20, 20, 30, 30]], [20, 5], [[0, 0, 10, 10], [40, 40, 50, 50], [20, 20, 30, 30]],
          [0.9, 0.6, 0.3], [20, 3, 5])
    rows = np.array(operating_point.curve(d))
    np.testing.assert_allclose(rows, [[0.3, 1.0, 1 / 3], [0.6, 0.5, 0.5], [0.9, 0.5, 0.0]])


def test_the_workflow_chooses_on_validation_and_applies_it_to_the_test_split(tiny_run):
    run = tiny_run
    point = operating_point.load(run / "deepfocus" / "models" / "operating_point.json")
    candidates, model = point["candidates"], point["reliability"]
    assert point["split"] == "validation"
    rankings = ["reliability", "score"] if model else ["score"]   # the tiny run's models may find nothing
    assert sorted((c["ranking"], c["rule"]) for c in candidates.values()) == [
        (ranking, rule) for ranking in rankings for rule in ("none", "study")]
    chosen = candidates[operating_point.label(point)]
    assert chosen["completeness"] == max(c["completeness"] for c in candidates.values())
    assert (chosen["rule"], chosen["ranking"], chosen["threshold"]) == (point["rule"], point["ranking"],
                                                                        point["threshold"])
    assert chosen["contamination"] <= point["target_contamination"] or chosen["completeness"] == 0
    rows = np.array(chosen["curve"]).reshape(-1, 3)   # the chosen threshold is on its own curve
    if len(rows):
        at = rows[rows[:, 0] == point["threshold"]]
        assert len(at) == 1 and at[0, 1] == chosen["completeness"]
    test = Table.read(run / "deepfocus" / "test" / "catalogue.ecsv")
    if model:
        np.testing.assert_allclose(test["reliability"], reliability.probability(model, test), rtol=1e-12)
    assert (np.asarray(test[point["ranking"]], float) >= point["threshold"]).all()
    assert operating_point.label(point) in (run / "tables" / "deepfocus_detection.md").read_text()


def _catalogues(rng, n_cubes, model=None):
    """Per cube one true source, a detection on it (high measured SNR, middling score) and a false one
    elsewhere (low measured SNR, high score): the score cannot separate them, the measured SNR can."""
    truth = np.array([[0.0, 0.0, 0.0, 10.0, 10.0, 10.0]])
    cubes = []
    for _ in range(n_cubes):
        c = Table({"score": [rng.uniform(0.3, 0.8), rng.uniform(0.5, 1.0)],
                   "snr_integrated": rng.uniform(2, 8, 2), "snr": rng.uniform(2, 8, 2),
                   "pixel_snr": rng.uniform(2, 8, 2), "measured_snr": [rng.uniform(8, 20), rng.uniform(1, 4)],
                   "deblended": [False, False], "reliability": [np.nan, np.nan]})
        for name, values in zip(BOX_COLUMNS, np.array([truth[0], [30.0, 30.0, 0.0, 40.0, 40.0, 10.0]]).T):
            c[name] = values
        if model:
            c["reliability"] = reliability.probability(model, c)
        cubes.append((truth, np.array([20.0]), c))
    return cubes


def test_choose_fits_on_training_and_picks_the_ranking_that_validation_prefers(tmp_path, monkeypatch):
    seen = []

    def catalogues(manifest, pipeline, deepfocus, rules, split, model=None):
        seen.append((split, tuple(rules), model is not None))
        rng = np.random.default_rng({"train": 1, "validation": 2}[split])
        return {rule: _catalogues(rng, 40, model) for rule in rules}

    monkeypatch.setattr(operating_point, "split_catalogues", catalogues)
    monkeypatch.setattr(operating_point.DeepFocus, "load", lambda checkpoints, settings: None)
    monkeypatch.setattr(operating_point, "settings_of", lambda config, point=None: {})
    section = {"operating_point": {"contamination": 0.01, "rules": ["study", "none"],
                                   "rankings": ["score", "reliability"], "reliability_l2": 1.0}}
    out = tmp_path / "operating_point.json"
    point = operating_point.choose(manifest="m", out=str(out), deepfocus=section, iou_3d=0.6)
    assert seen == [("train", ("none",), False), ("validation", ("study", "none"), True)]
    assert (point["reliability"]["n_real"], point["reliability"]["n_false"]) == (40, 40)
    candidates = point["candidates"]
    assert len(candidates) == 4
    scores = [c for c in candidates.values() if c["ranking"] == "score"]
    assert all(c["completeness"] < 0.2 for c in scores)   # the false detections score highest
    assert point["ranking"] == "reliability" and point["rule"] == "study"   # the first of two equal rules
    chosen = candidates[operating_point.label(point)]
    assert (chosen["completeness"], chosen["contamination"]) == (1.0, 0.0)
    back = operating_point.load(out)
    assert back["threshold"] == point["threshold"] and back["reliability"] == point["reliability"]
