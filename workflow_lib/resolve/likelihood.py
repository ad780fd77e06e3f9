"""Gaussian likelihood of the visibilities given sky and noise model, on the exact or the fast path.

Complex visibilities with weight w = 1/sigma^2 per real and imaginary part
give the energy 0.5 w |d - R s|^2 per visibility, plus -log(w) when the
weights are learned (as NIFTy's ``VariableCovarianceGaussianEnergy`` with
complex sampling). Sums per spectral window are all the per-window noise
scale needs, so one energy serves both paths: :class:`~.response.ExactNormal`
grids in every call, :class:`~.response.ImagePlaneNormal` convolves in the
image domain. The |uv| noise field rescales single visibilities and uses
NIFTy's energy on the exact path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import nifty8 as ift
import numpy as np

from .noise import NoiseModel, SpwExpander
from .observation import Observation
from .response import ExactNormal, ImagePlaneNormal, Response
from .sky import SkyModel

SKY, SCALE = "sky", "icov_scale"


@dataclass(frozen=True)
class Likelihood:
    energy: ift.Operator                                   # latent parameters -> scalar
    chi2: Callable[[ift.MultiField], tuple]                # latent -> reduced chi^2 (data weights, learned weights)
    residual_sums: Callable[[ift.MultiField], np.ndarray]  # latent -> sum w |d - R s|^2 per window (data weights)


def build(obs: Observation, sky: SkyModel, noise: NoiseModel, response: Response, mode: str,
          normal: ImagePlaneNormal | None = None) -> Likelihood:
    """Likelihood on the latent parameters of ``sky`` and ``noise``; ``normal`` is needed for ``mode='psf'``."""
    data = ift.makeField(response.target, obs.vis)
    weight = ift.makeField(response.target, obs.weight)
    expand = SpwExpander(obs.spw_index, len(obs.spws))
    n = 2 * obs.nvis  # real and imaginary parts
    if noise.uv_factor is not None:
        if mode == "psf":
            raise ValueError("noise.model uvfield needs response.mode exact")
        model_vis = response @ sky.sky
        icov = (ift.makeOp(weight) @ expand @ noise.icov_scale) * noise.uv_factor
        residual = ift.Adder(data) @ model_vis.scale(-1)
        lh = (ift.VariableCovarianceGaussianEnergy(response.target, "residual", "icov", complex)
              @ (residual.ducktape_left("residual") + icov.ducktape_left("icov")))

        def residual_sums(latent):
            r2 = np.abs(residual.force(latent).val) ** 2
            return np.bincount(obs.spw_index, weights=obs.weight * r2, minlength=len(obs.spws))

        def chi2(latent):
            r2 = np.abs(residual.force(latent).val) ** 2
            return np.sum(obs.weight * r2) / n, np.sum(icov.force(latent).val * r2) / n
        return Likelihood(lh, chi2, residual_sums)

    windows = normal if mode == "psf" else ExactNormal(obs, response)
    energy = WindowedGaussianEnergy(windows, response, data, weight, expand, learn_scale=noise.icov_scale is not None)
    model = sky.sky.ducktape_left(SKY)
    if noise.icov_scale is not None:
        model = model + noise.icov_scale.ducktape_left(SCALE)

    def residual_sums(latent):
        return 2 * windows.half_chi2(sky.sky.force(latent).val)[0]

    def chi2(latent):
        sums = residual_sums(latent)
        beta = noise.icov_scale.force(latent).val if noise.icov_scale is not None else np.ones_like(sums)
        return sums.sum() / n, beta @ sums / n
    return Likelihood(energy @ model, chi2, residual_sums)


def _component(domain: ift.MultiDomain, key: str) -> ift.LinearOperator:
    """The operator that takes ``domain``'s field ``key`` out of a field on all of ``domain``."""
    return ift.FieldAdapter(domain[key], key) @ ift.PartialExtractor(domain, ift.MultiDomain.make({key: domain[key]}))


def _euclidean(domain, residual, weight, expand: SpwExpander, counts: np.ndarray, learn_scale: bool):
    """(dtype, operator) of :meth:`WindowedGaussianEnergy.get_transformation`."""
    sky = ift.makeOp(weight.sqrt()) @ residual
    if not learn_scale:
        return np.complex128, sky
    beta = _component(domain, SCALE)
    sky = (expand @ beta).sqrt() * sky
    scale = ift.makeOp(ift.makeField(expand.domain, np.sqrt(counts))) @ beta.log()
    return ({"residual": np.complex128, SCALE: np.float64},
            sky.ducktape_left("residual") + scale.ducktape_left(SCALE))


class _SkyMetric(ift.EndomorphicOperator):
    """Fisher metric of the sky, sum_b beta_b R_b^T W_b R_b, with samples drawn through the exact adjoint."""

    def __init__(self, domain, windows, beta: np.ndarray):
        self._domain = ift.DomainTuple.make(domain)
        self._capability = self.TIMES | self.ADJOINT_TIMES
        self._windows, self._beta = windows, beta
        self._dtype = np.float64

    def apply(self, x, mode):
        self._check_input(x, mode)
        return ift.makeField(self._domain, self._windows.apply_metric(x.val, self._beta))

    def draw_sample(self, from_inverse=False):
        if from_inverse:
            raise NotImplementedError("the inverse of the likelihood metric cannot be sampled directly")
        return ift.makeField(self._domain, self._windows.draw(self._beta))


class WindowedGaussianEnergy(ift.LikelihoodEnergyOperator):
    """sum_b beta_b 0.5 |d_b - R_b s|^2_{W_b} (- n_b log beta_b - sum log w, if beta is learned).

    The metric of beta is n_b / beta_b^2 (Fisher) or, when the residual exceeds what beta
    expects, S_b / beta_b with S_b = 0.5 |d_b - R_b s|^2_{W_b}: for beta = exp(-2 alpha-latent),
    the latter is the exact curvature, which keeps a Newton step of the noise bounded even when
    the sky does not fit yet (the Fisher metric alone lets it explode). Both agree at the optimum.
    The data residual (for NIFTy's minisanity report and geoVI's coordinates) uses the exact response.
    """

    def __init__(self, windows, response: Response, data, weight, expand: SpwExpander, learn_scale: bool):
        keys = {SKY: response.domain}
        if learn_scale:
            keys[SCALE] = expand.domain[0]
        self._domain = ift.MultiDomain.make(keys)
        self._windows, self._learn = windows, learn_scale
        self._log_weight = float(np.sum(np.log(weight.val))) if learn_scale else 0.0
        residual = ift.Adder(data, neg=True) @ response @ _component(self._domain, SKY)

        def sqrt_metric(x):
            beta = x[SCALE] if learn_scale else ift.full(expand.domain, 1.0)
            return ift.makeOp((weight * expand(beta)).sqrt())
        super().__init__(residual, sqrt_metric)
        self._transformation = _euclidean(self._domain, residual, weight, expand, windows.counts, learn_scale)

    def get_transformation(self):
        """geoVI's coordinates, in which the metric is Euclidean: sqrt(beta_b W) (R s - d) per visibility,
        through the exact response on both paths (geoVI's sampling is the one place that needs it), and for a
        learned beta sqrt(n_b) ln beta_b per window, whose Jacobian gives the metric n_b / beta_b^2. As in
        NIFTy's ``VariableCovarianceGaussianEnergy`` no global such map exists when beta is learned: the
        residual couples sky and beta, a local approximation that vanishes where the residual is noise."""
        return self._transformation

    def apply(self, x):
        self._check_input(x)
        lin = isinstance(x, ift.Linearization)
        pos = x.val if lin else x
        windows = self._windows
        beta = pos[SCALE].val if self._learn else np.ones(windows.nspw)
        per_spw, cache = windows.half_chi2(pos[SKY].val)
        value = beta @ per_spw
        if self._learn:
            value -= windows.counts @ np.log(beta) + self._log_weight
        value = ift.Field.scalar(value)
        if not lin:
            return value
        grad = {SKY: windows.gradient(cache, beta)}
        if self._learn:
            grad[SCALE] = per_spw - windows.counts / beta
        grad = ift.MultiField.from_dict({k: ift.makeField(self._domain[k], v) for k, v in grad.items()})
        res = x.new(value, ift.VdotOperator(grad))
        if not x.want_metric:
            return res
        blocks = {SKY: _SkyMetric(self._domain[SKY], windows, beta)}
        if self._learn:
            curvature = np.maximum(windows.counts / beta ** 2, per_spw / beta)
            blocks[SCALE] = ift.makeOp(ift.makeField(self._domain[SCALE], curvature), sampling_dtype=np.float64)
        return res.add_metric(ift.BlockDiagonalOperator(self._domain, blocks))
