"""The operating point: chosen on the validation split, read back with errors that name the file."""

import json

import numpy as np
import pytest
from astropy.table import Table

from workflow_lib.deepfocus import operating_point
from workflow_lib.deepfocus.evaluation.detection import Detections


def _write(tmp_path, point):
    path = tmp_path / "operating_point.json"
    path.write_text(point if isinstance(point, str) else json.dumps(point))
    return path


@pytest.mark.parametrize("point, message", [
    ("{not json", "not an operating point"),
    ({"rule": "study", "score_threshold": 0.5}, "lacks \\['target_contamination'\\]"),
    ({"rule": "loose", "score_threshold": 0.5, "target_contamination": 0.01}, "unknown rule 'loose'"),
    ({"rule": "none", "score_threshold": float("-inf"), "target_contamination": 0.01}, "is not finite"),
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
    assert point["split"] == "validation" and set(point["candidates"]) == {"study", "none"}
    chosen = point["candidates"][point["rule"]]
    assert chosen["completeness"] == max(c["completeness"] for c in point["candidates"].values())
    assert chosen["score_threshold"] == point["score_threshold"]
    assert chosen["contamination"] <= point["target_contamination"] or chosen["completeness"] == 0
    rows = np.array(chosen["curve"]).reshape(-1, 3)   # the chosen threshold is on its own curve
    if len(rows):
        at = rows[rows[:, 0] == point["score_threshold"]]
        assert len(at) == 1 and at[0, 1] == chosen["completeness"]
    test = Table.read(run / "deepfocus" / "test" / "catalogue.ecsv")
    assert (np.asarray(test["score"], float) >= point["score_threshold"]).all()
    assert f"rule {point['rule']}, score >= {point['score_threshold']:.3g}" in (
        run / "tables" / "deepfocus_detection.md").read_text()
