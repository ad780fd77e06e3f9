"""A reliability score for DeepFocus detections, learned on the training split.

The raw score (blob probability x line height) does not rank imprecise boxes below good ones: on the demo's
validation split every detection the 3-D matcher called false was a real source boxed at IoU 0.46-0.58, and
the 1% operating point had to cut so high that it dropped faint real sources. The reliability is a logistic
regression on per-detection quantities the pipeline already has (:data:`FEATURES`), fitted on the pipeline's
own catalogue of the *training* split (label: matched to a true source in 3-D); its threshold is then chosen on
the validation split like the score's (see :mod:`.operating_point`), so nothing is fitted on a test set.

The model is a small dict (feature names, standardisation, weights) stored in the operating point's JSON;
the catalogue's ``reliability`` column is its probability that a detection is real.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from scipy.optimize import minimize
from scipy.special import expit

# catalogue columns the model reads, and how each enters: the score in log, SNRs compressed by asinh (they
# span 1 to 1e3), the deblended flag as 0/1
FEATURES = ("score", "snr_integrated", "snr", "pixel_snr", "measured_snr", "deblended")
MIN_SCORE = 1e-3  # scores below are taken as this before the log


def features(catalogue: Table) -> np.ndarray:
    """(n, len(FEATURES)) transformed feature matrix of a catalogue's rows."""
    if len(catalogue) == 0:
        return np.zeros((0, len(FEATURES)))
    column = {name: np.asarray(catalogue[name], float) for name in FEATURES}
    return np.column_stack([np.log(np.clip(column["score"], MIN_SCORE, None)),
                            *(np.arcsinh(column[k]) for k in FEATURES[1:5]), column["deblended"]])


def fit(x: np.ndarray, real: np.ndarray, l2: float) -> dict:
    """L2-regularised logistic regression of ``real`` (0/1 per row) on standardised features ``x``; ``l2`` is
    the inverse variance of the Gaussian prior on the standardised weights (the intercept is free)."""
    x, y = np.asarray(x, float), np.asarray(real, float)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError(f"the reliability needs real and false detections to learn from; the training split "
                         f"gave {int(y.sum())} real and {int(len(y) - y.sum())} false")
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    design = np.column_stack([np.ones(len(x)), (x - mean) / scale])

    def loss(w):
        z = design @ w
        return np.sum(np.logaddexp(0, z) - y * z) + 0.5 * l2 * np.sum(w[1:] ** 2)

    def gradient(w):
        g = design.T @ (expit(design @ w) - y)
        g[1:] += l2 * w[1:]
        return g

    result = minimize(loss, np.zeros(design.shape[1]), jac=gradient, method="BFGS")
    if not result.success and np.linalg.norm(gradient(result.x)) > 1e-3 * len(y):
        raise RuntimeError(f"the reliability fit did not converge: {result.message}")
    return {"features": list(FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "weights": result.x.tolist(), "l2": l2, "n_real": int(y.sum()), "n_false": int(len(y) - y.sum())}


def probability(model: dict, catalogue: Table) -> np.ndarray:
    """The model's probability that each catalogue row is real."""
    w = np.asarray(model["weights"], float)
    x = (features(catalogue) - np.asarray(model["mean"], float)) / np.asarray(model["scale"], float)
    return expit(w[0] + x @ w[1:])


def check(model: dict, where: str) -> None:
    """A stored model must be of these features, with finite numbers of the right length."""
    if not isinstance(model, dict) or model.get("features") != list(FEATURES):
        raise ValueError(f"{where}: the reliability model is not one of the features {list(FEATURES)}")
    sizes = {k: np.asarray(model.get(k, []), float) for k in ("mean", "scale", "weights")}
    if any(len(v) != len(FEATURES) + (k == "weights") or not np.isfinite(v).all() for k, v in sizes.items()):
        raise ValueError(f"{where}: the reliability model's mean, scale or weights are missing or not finite")
