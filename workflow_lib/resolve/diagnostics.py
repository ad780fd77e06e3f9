"""How well a RESOLVE posterior fits its visibilities, where the data constrain it, and whether the run diverged.

Everything here is measured at the sampled uv points, where the data say
something: the reduced chi-square (sum w |d - V|^2 / 2N, 1 at the noise level
of the delivered weights) per spectral window and per |uv| bin, and the
azimuthally averaged real part of data and model per |uv| bin. Radii larger
than about 1 / |uv|min are not constrained by any baseline.

A run ends with :class:`DivergenceError` (and writes no products) when its
posterior has non-finite values, when its mean fits the data worse than an
empty image does, or when more of its apparent flux lies in the image border
than a uniform sky would put there.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from .observation import Observation

UV_BINS = 8
BORDER = 1 / 8   # the border ring: the outer eighth of the image on each side


class DivergenceError(RuntimeError):
    """A posterior that must not be written out as a result; the message names the check that failed."""


def reduced_chi2(obs: Observation, model_vis: np.ndarray, select=slice(None)) -> float:
    residual = obs.vis[select] - model_vis[select]
    return float(np.sum(obs.weight[select] * np.abs(residual) ** 2) / (2 * residual.size))


def uv_bin_edges(obs: Observation, nbins: int = UV_BINS) -> np.ndarray:
    """|uv| edges (wavelengths) with equal numbers of visibilities per bin."""
    return np.quantile(obs.uv_length, np.linspace(0, 1, nbins + 1))


def fit_table(obs: Observation, model_vis: np.ndarray, nbins: int = UV_BINS) -> Table:
    """One row per spectral window and per |uv| bin of the posterior model visibilities ``model_vis``
    ``(nsamples, nvis)``: visibilities, |uv| range (kilo-lambda), reduced chi-square of the sample-mean model and
    of an empty image, and the weighted mean real part of data and model (the azimuthal profile; for the model,
    mean and spread over samples)."""
    mean_vis = model_vis.mean(axis=0)
    zero = np.zeros_like(mean_vis)
    uv = obs.uv_length
    edges = uv_bin_edges(obs, nbins)
    groups = [(f"spw {spw}", obs.spw_index == k) for k, spw in enumerate(obs.spws)]
    groups += [(f"uv bin {b}", (uv >= lo) & ((uv < hi) | (b == nbins - 1)))
               for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    rows = []
    for name, sel in groups:
        w = obs.weight[sel]
        profile = (model_vis[:, sel].real * w).sum(axis=1) / w.sum()
        rows.append((name, int(sel.sum()), uv[sel].min() / 1e3, uv[sel].max() / 1e3, reduced_chi2(obs, mean_vis, sel),
                     reduced_chi2(obs, zero, sel), float(np.sum(obs.vis[sel].real * w) / w.sum()),
                     float(profile.mean()), float(profile.std())))
    table = Table(rows=rows, names=("selection", "visibilities", "uv_min_klambda", "uv_max_klambda",
                                    "reduced_chi2", "reduced_chi2_empty_image", "data_re_jy", "model_re_jy",
                                    "model_re_std_jy"))
    table.meta["note"] = (f"reduced chi^2 = sum w |d - V|^2 / 2N with the delivered weights (1 at their noise "
                          f"level) of the posterior-mean model and of an empty image; re_jy: weighted mean real "
                          f"part (the azimuthal profile; a source at the phase centre gives its flux at |uv| -> 0). "
                          f"The shortest baseline, {uv.min() / 1e3:.4g} kilo-lambda, constrains scales up to about "
                          f"{206264.8 / uv.min():.3g} arcsec (1 / |uv|min); larger ones come from the prior.")
    return table


def border_fraction(image: np.ndarray, border: float = BORDER) -> float:
    """Fraction of the positive flux of ``image`` in its border ring."""
    flux = np.clip(image, 0, None)
    ny, nx = flux.shape
    by, bx = max(1, int(round(ny * border))), max(1, int(round(nx * border)))
    inner = flux[by:ny - by, bx:nx - bx].sum()
    total = flux.sum()
    return float((total - inner) / total) if total > 0 else 0.0


def check_converged(obs: Observation, apparent_samples: np.ndarray, model_vis: np.ndarray, history: list[dict],
                    name: str) -> None:
    """Raise :class:`DivergenceError` naming what is wrong with the posterior of run ``name``.

    ``apparent_samples``: ``(nsamples, ny, nx)`` sky samples times the primary beam (what the data see).
    """
    where = f"RESOLVE run {name!r} on {obs.ms}"
    energies = np.array([h["energy"] for h in history], dtype=float)
    if not (np.all(np.isfinite(apparent_samples)) and np.all(np.isfinite(model_vis)) and np.all(np.isfinite(energies))):
        raise DivergenceError(f"{where} diverged: the posterior has non-finite values")
    mean_vis = model_vis.mean(axis=0)
    chi2, empty = reduced_chi2(obs, mean_vis), reduced_chi2(obs, np.zeros_like(mean_vis))
    if chi2 > empty:
        raise DivergenceError(f"{where} diverged: its posterior mean fits the data worse than an empty image "
                              f"(reduced chi^2 {chi2:.4g} against {empty:.4g})")
    ny, nx = apparent_samples.shape[1:]
    uniform = 1 - (1 - 2 * max(1, round(ny * BORDER)) / ny) * (1 - 2 * max(1, round(nx * BORDER)) / nx)
    fraction = border_fraction(apparent_samples.mean(axis=0))
    if fraction > uniform:
        raise DivergenceError(f"{where} diverged: {fraction:.0%} of the posterior mean's apparent flux lies in the "
                              f"outer eighth of the image, more than a uniform sky would put there ({uniform:.0%}); "
                              "if the emission really fills the field, image a larger one (image.npix)")
