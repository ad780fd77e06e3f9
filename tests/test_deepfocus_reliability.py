"""The reliability score: a logistic regression on catalogue columns, fitted, applied and checked."""

import numpy as np
import pytest
from astropy.table import Table
from scipy.special import expit

from workflow_lib.deepfocus import reliability
from workflow_lib.deepfocus.pipeline import settings_of


def _catalogue(rng, n):
    return Table({"score": rng.uniform(0.01, 1, n), "snr_integrated": rng.lognormal(1.5, 1, n),
                  "snr": rng.lognormal(1.5, 1, n), "pixel_snr": rng.lognormal(1, 0.8, n),
                  "measured_snr": rng.lognormal(1.5, 0.7, n), "deblended": rng.random(n) < 0.3})


def test_features_are_the_log_score_the_asinh_snrs_and_the_flag():
    c = Table({"score": [0.5, 1e-6], "snr_integrated": [3.0, 0.0], "snr": [8.0, 1.0], "pixel_snr": [2.0, 1.0],
               "measured_snr": [10.0, -1.0], "deblended": [True, False]})
    np.testing.assert_allclose(reliability.features(c), [
        [np.log(0.5), np.arcsinh(3), np.arcsinh(8), np.arcsinh(2), np.arcsinh(10), 1],
        [np.log(reliability.MIN_SCORE), 0, np.arcsinh(1), np.arcsinh(1), np.arcsinh(-1), 0]])
    assert reliability.features(c[:0]).shape == (0, len(reliability.FEATURES))


def test_the_fit_recovers_a_known_logistic_model():
    """Labels drawn from a known model of the standardised features: the fit (weak prior) gives it back."""
    rng = np.random.default_rng(7)
    c = _catalogue(rng, 20000)
    x = reliability.features(c)
    z = (x - x.mean(0)) / x.std(0)
    truth = np.array([1.0, 0.8, 0.0, -0.5, 0.0, 1.5, -0.4])
    real = rng.random(len(c)) < expit(truth[0] + z @ truth[1:])
    model = reliability.fit(x, real, l2=1e-3)
    np.testing.assert_allclose(model["weights"], truth, atol=0.08)
    assert (model["n_real"], model["n_false"]) == (int(real.sum()), int((~real).sum()))
    p = reliability.probability(model, c)
    np.testing.assert_allclose(p, expit(np.asarray(model["weights"])[0] + z @ np.asarray(model["weights"])[1:]),
                               rtol=1e-10)
    reliability.check(model, "here")   # what it writes passes its own check


def test_the_prior_shrinks_the_weights():
    rng = np.random.default_rng(1)
    c = _catalogue(rng, 300)
    real = np.asarray(c["measured_snr"]) > 5
    weak, strong = (reliability.fit(reliability.features(c), real, l2) for l2 in (1e-3, 100.0))
    assert np.abs(strong["weights"][1:]).sum() < 0.5 * np.abs(weak["weights"][1:]).sum()


def test_nothing_to_learn_from_is_an_error():
    x = reliability.features(_catalogue(np.random.default_rng(0), 10))
    with pytest.raises(ValueError, match="10 real and 0 false"):
        reliability.fit(x, np.ones(10, bool), 1.0)


@pytest.mark.parametrize("model, message", [
    (None, "not one of the features"),
    ({"features": ["score"], "mean": [0], "scale": [1], "weights": [0, 1]}, "not one of the features"),
    ({"features": list(reliability.FEATURES), "mean": [0] * 6, "scale": [1] * 6, "weights": [0] * 6},
     "missing or not finite"),
    ({"features": list(reliability.FEATURES), "mean": [0] * 6, "scale": [np.nan] * 6, "weights": [0] * 7},
     "missing or not finite"),
])
def test_a_bad_stored_model_is_named(model, message):
    with pytest.raises(ValueError, match=f"point.json: .*{message}"):
        reliability.check(model, "point.json")


def test_ranking_by_reliability_needs_the_model():
    config = {"blobsfinder": {"threshold": 0.1}, "focus_size": 16, "batch_cubes": 1, "focusing": {},
              "deepgru": {"height": 0.1, "prominence": 0.1, "distance": 1, "half_width": 1}}
    with pytest.raises(ValueError, match="needs its reliability model"):
        settings_of(config, {"rule": "none", "ranking": "reliability", "threshold": 0.5})
