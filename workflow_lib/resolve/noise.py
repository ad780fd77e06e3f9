"""Correction of the delivered visibility weights, learned jointly with the sky.

ALMA's weights are often off by a factor (the long-standing ALMA weighting
issue; for the HD 142527 data the scatter of XX - YY says about 1.5 in sigma).
The inverse noise variance of visibility k becomes w_k / alpha_b^2 for its
spectral window b, alpha_b log-normal a priori (``model: scale``); with
``model: uvfield`` it is further multiplied by exp(-2 eta(|uv_k|)), eta a 1-D
correlated field over baseline length in wavelengths (RESOLVE's approach).
"""

from __future__ import annotations

from dataclasses import dataclass

import nifty8 as ift
import numpy as np

from .observation import Observation

PREFIX = "noise_"


@dataclass(frozen=True)
class NoiseModel:
    """Operators of the latent parameters; None where the model has no such part."""

    alpha: ift.Operator | None        # per window: factor on the delivered sigma
    icov_scale: ift.Operator | None   # per window: 1 / alpha_b^2
    uv_factor: ift.Operator | None    # per visibility: exp(-2 eta(|uv|))
    hyperparameters: dict             # name -> (operator, prior description)

    def start(self, residual_sums: np.ndarray, counts: np.ndarray) -> ift.MultiField:
        """Latent alpha_b at its maximum-likelihood value sqrt(sum_b w |r|^2 / (2 n_b)) for the current sky.

        Learning starts there: from a sky that does not yet fit, a Newton step
        with the Fisher metric of the noise could otherwise be arbitrarily large.
        """
        target = np.sqrt(residual_sums / (2 * counts))
        zero = ift.full(self.alpha.domain, 0.0)
        at0, at1 = self.alpha(zero).val, self.alpha(ift.full(self.alpha.domain, 1.0)).val  # alpha = a0 exp(s xi)
        return ift.MultiField.from_dict({PREFIX + "scale": ift.makeField(
            self.alpha.domain[PREFIX + "scale"], np.log(target / at0) / np.log(at1 / at0))})


class SpwExpander(ift.LinearOperator):
    """Per-window values -> per-visibility values (and back, summing, as adjoint: the real part, since the
    per-window values are real and a complex cotangent reaches it through geoVI's sqrt(beta) (R s - d))."""

    def __init__(self, spw_index: np.ndarray, nspw: int):
        self._domain = ift.DomainTuple.make(ift.UnstructuredDomain(nspw))
        self._target = ift.DomainTuple.make(ift.UnstructuredDomain(spw_index.size))
        self._capability = self.TIMES | self.ADJOINT_TIMES
        self._index = spw_index

    def apply(self, x, mode):
        self._check_input(x, mode)
        if mode == self.TIMES:
            return ift.makeField(self._target, x.val[self._index])
        return ift.makeField(self._domain, np.bincount(self._index, weights=x.val.real, minlength=self._domain.size))


def noise_model(obs: Observation, spec: dict) -> NoiseModel:
    """``spec``: model (none | scale | uvfield), scale (mean, std of alpha), uvfield (correlated-field prior)."""
    if spec["model"] == "none":
        return NoiseModel(None, None, None, {})
    nspw = len(obs.spws)
    alpha = ift.LognormalTransform(*spec["scale"], PREFIX + "scale", nspw)
    prior = f"{spec['scale'][0]:g} +- {spec['scale'][1]:g}"
    hyper = {f"noise scale (spw {spw})": (ift.DomainTupleFieldInserter(alpha.target, 0, (i,)).adjoint @ alpha, prior)
             for i, spw in enumerate(obs.spws)}
    icov_scale = alpha.ptw("power", -2.0)
    if spec["model"] == "scale":
        return NoiseModel(alpha, icov_scale, None, hyper)
    uv = spec["uvfield"]
    length = obs.uv_length
    # twice the longest baseline: the field is periodic, the padding keeps short and long baselines apart
    nbins = uv["nbins"]
    space = ift.RGSpace(2 * nbins, distances=length.max() * 1.001 / nbins)
    eta = ift.SimpleCorrelatedField(space, offset_mean=0.0, offset_std=uv["zero_mode"],
                                    fluctuations=uv["fluctuations"], flexibility=uv["flexibility"],
                                    asperity=uv["asperity"], loglogavgslope=uv["slope"], prefix=PREFIX + "uv_")
    interpolate = ift.LinearInterpolator(space, length[None, :])
    uv_factor = (interpolate @ eta).scale(-2.0).exp()
    return NoiseModel(alpha, icov_scale, uv_factor, hyper)
