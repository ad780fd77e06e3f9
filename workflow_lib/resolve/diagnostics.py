"""How well a RESOLVE posterior fits its visibilities, where the data constrain it, and whether the run diverged.

Everything here is measured at the sampled uv points, where the data say
something: the reduced chi-square (sum w |d - V|^2 / 2N, 1 at the noise level
of the delivered weights) per spectral window and per |uv| bin, and the
azimuthally averaged real part of data and model per |uv| bin. Radii larger
than about 1 / |uv|min are not constrained by any baseline.

A run ends with :class:`DivergenceError` (and writes no products) when its
posterior has non-finite values, when its mean fits the data worse than an
empty image does, when its mean's dirty image peaks far above the data's
(more than :data:`PEAK_FACTOR` times it plus :data:`PEAK_SIGMA` noise
sigmas) or has a trough as far below the data's deepest, when the energy
rose over the last phase of the schedule (by more than :data:`ENERGY_RISE`
per visibility, i.e. the reduced chi-square rising by about that much: not
converged), or when more of its apparent flux lies in the image border than
a uniform sky would put there.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from ..units import RAD_TO_ARCSEC
from .observation import Observation
from .response import Response

log = logging.getLogger(__name__)
UV_BINS = 8
BORDER = 1 / 8   # the border ring: the outer eighth of the image on each side
ENERGY_RISE = 0.01   # per visibility, over the last phase
PEAK_FACTOR, PEAK_SIGMA = 1.5, 10.0


class DivergenceError(RuntimeError):
    """A posterior that must not be written out as a result; the message names the check that failed."""


def reduced_chi2(obs: Observation, model_vis: np.ndarray, select=slice(None)) -> float:
    residual = obs.vis[select] - model_vis[select]
    return float(np.sum(obs.weight[select] * np.abs(residual) ** 2) / (2 * residual.size))


def uv_bin_edges(obs: Observation, nbins: int = UV_BINS) -> np.ndarray:
    """|uv| edges (wavelengths) with equal numbers of visibilities per bin (fewer bins where |uv| repeats)."""
    return np.unique(np.quantile(obs.uv_length, np.linspace(0, 1, nbins + 1)))


def _uv_bins(obs: Observation, nbins: int) -> list[tuple[str, np.ndarray]]:
    uv, edges = obs.uv_length, uv_bin_edges(obs, nbins)
    last = len(edges) - 2
    bins = [(f"uv bin {b}", (uv >= lo) & ((uv < hi) | (b == last)))
            for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    return [(name, sel) for name, sel in bins if sel.any()] or [("uv bin 0", np.ones(uv.size, bool))]


def _profile(obs: Observation, vis: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Weighted mean real part in ``sel`` of each row of ``vis`` ``(n, nvis)``."""
    w = obs.weight[sel]
    return (vis[:, sel].real * w).sum(axis=1) / w.sum()


def scale_note(obs: Observation) -> str:
    u = obs.uv_length.min()
    return (f"The shortest baseline, {u / 1e3:.4g} kilo-lambda, constrains scales up to about "
            f"{RAD_TO_ARCSEC / u:.3g} arcsec (1 / |uv|min), i.e. fluxes within radii up to about "
            f"{RAD_TO_ARCSEC / u / 2:.3g} arcsec; larger ones come from the prior (RESOLVE) or are missing (tCLEAN).")


CHI2_NOTE = ("reduced chi^2 = sum w |d - V|^2 / 2N with the delivered weights (1 at their noise level); re_jy: "
             "weighted mean real part (the azimuthal profile; a source at the phase centre gives its flux at "
             "|uv| -> 0; a ring oscillates). ")


def fit_table(obs: Observation, model_vis: np.ndarray, nbins: int = UV_BINS) -> Table:
    """One row per spectral window and per |uv| bin of the posterior model visibilities ``model_vis``
    ``(nsamples, nvis)``: visibilities, |uv| range (kilo-lambda), reduced chi-square of the sample-mean model and
    of an empty image, and the weighted mean real part of data and model (the azimuthal profile; for the model,
    mean and spread over samples)."""
    mean_vis = model_vis.mean(axis=0)
    zero = np.zeros_like(mean_vis)
    uv = obs.uv_length
    groups = [(f"spw {spw}", obs.spw_index == k) for k, spw in enumerate(obs.spws)] + _uv_bins(obs, nbins)
    rows = []
    for name, sel in groups:
        profile = _profile(obs, model_vis, sel)
        rows.append((name, int(sel.sum()), uv[sel].min() / 1e3, uv[sel].max() / 1e3, reduced_chi2(obs, mean_vis, sel),
                     reduced_chi2(obs, zero, sel), float(_profile(obs, obs.vis[None], sel)[0]),
                     float(profile.mean()), float(profile.std())))
    table = Table(rows=rows, names=("selection", "visibilities", "uv_min_klambda", "uv_max_klambda",
                                    "reduced_chi2", "reduced_chi2_empty_image", "data_re_jy", "model_re_jy",
                                    "model_re_std_jy"))
    table.meta["note"] = CHI2_NOTE + "Model: the posterior mean; an empty image for comparison. " + scale_note(obs)
    return table


def profile_comparison(obs: Observation, models: dict[str, np.ndarray], nbins: int = UV_BINS) -> Table:
    """Per |uv| bin: the data's azimuthal profile and, for each model (name -> ``(nsamples, nvis)`` predicted
    visibilities; one sample for a deterministic image), its reduced chi-square (of the sample mean) and its
    profile (mean and spread over samples)."""
    uv = obs.uv_length
    columns = {"selection": [], "visibilities": [], "uv_min_klambda": [], "uv_max_klambda": [], "data_re_jy": []}
    for name in models:
        columns.update({f"{name}_chi2": [], f"{name}_re_jy": [], f"{name}_re_std_jy": []})
    for label, sel in _uv_bins(obs, nbins):
        for key, value in (("selection", label), ("visibilities", int(sel.sum())),
                           ("uv_min_klambda", uv[sel].min() / 1e3), ("uv_max_klambda", uv[sel].max() / 1e3),
                           ("data_re_jy", float(_profile(obs, obs.vis[None], sel)[0]))):
            columns[key].append(value)
        for name, vis in models.items():
            profile = _profile(obs, vis, sel)
            columns[f"{name}_chi2"].append(reduced_chi2(obs, vis.mean(axis=0), sel))
            columns[f"{name}_re_jy"].append(float(profile.mean()))
            columns[f"{name}_re_std_jy"].append(float(profile.std()))
    table = Table(columns)
    table.meta["note"] = (CHI2_NOTE + "Models: each tCLEAN model image (its clean components) and the RESOLVE "
                          "posterior samples, predicted at the sampled uv points. " + scale_note(obs))
    return table


def border_fraction(image: np.ndarray, border: float = BORDER) -> float:
    """Fraction of the positive flux of ``image`` (or of a cube, over all planes) in its border ring."""
    flux = np.clip(image, 0, None)
    ny, nx = flux.shape[-2:]
    by, bx = max(1, int(round(ny * border))), max(1, int(round(nx * border)))
    inner = flux[..., by:ny - by, bx:nx - bx].sum()
    total = flux.sum()
    return float((total - inner) / total) if total > 0 else 0.0


def dirty_peak(obs: Observation, gridders: list[tuple], vis: np.ndarray, npix: int) -> float:
    """Peak (Jy/beam) of the natural-weighted dirty image of ``vis`` at the observation's uv points (of a
    mosaic or a cube: the highest of its pointings' and planes' dirty images); ``gridders``: (pointing,
    plane, rows, gridder) of each, as :func:`.response.pointing_gridders`."""
    weighted = obs.weight * vis
    return max(float(g.grid(weighted[rows], npix).max() / obs.weight[rows].sum()) for *_, rows, g in gridders)


def check_converged(obs: Observation, apparent_samples: np.ndarray, model_vis: np.ndarray, history: list[dict],
                    name: str, last_phase: int, R: Response) -> None:
    """Raise :class:`DivergenceError` naming what is wrong with the posterior of run ``name``.

    ``apparent_samples``: ``(nsamples, ny, nx)`` sky samples times the primary beam (what the data see);
    ``last_phase``: iterations of the schedule's last phase (the last entries of ``history``); ``R`` the
    response, whose gridders make the dirty images.
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
    npix = apparent_samples.shape[-1]
    gridders = [(p.pointing, p.plane, p.rows, p.gridder) for p in R.pointings]
    data_peak, model_peak = dirty_peak(obs, gridders, obs.vis, npix), dirty_peak(obs, gridders, mean_vis, npix)
    noise = max(1 / np.sqrt(obs.weight[p.rows].sum()) for p in R.pointings)  # of the noisiest pointing (or channel)
    bound = PEAK_FACTOR * max(data_peak, 0.0) + PEAK_SIGMA * noise
    log.info("%s: dirty image peak of the posterior mean %.4g Jy/beam, of the data %.4g (bound %.4g)", where,
             model_peak, data_peak, bound)
    if model_peak > bound:
        raise DivergenceError(f"{where} diverged: its posterior mean's dirty image peaks at {model_peak:.4g} Jy/beam, "
                              f"beyond what the data allow (their dirty image peaks at {data_peak:.4g} Jy/beam)")
    # the same for troughs: a signed sky's absorption can run away as its emission can
    data_trough, model_trough = -dirty_peak(obs, gridders, -obs.vis, npix), -dirty_peak(obs, gridders, -mean_vis, npix)
    if model_trough < -(PEAK_FACTOR * max(-data_trough, 0.0) + PEAK_SIGMA * noise):
        raise DivergenceError(f"{where} diverged: its posterior mean's dirty image has a trough of {model_trough:.4g} "
                              f"Jy/beam, beyond what the data allow (their dirty image's deepest is "
                              f"{data_trough:.4g} Jy/beam)")
    phase = energies[-last_phase:]
    if phase.size > 1 and phase[-1] - phase[0] > ENERGY_RISE * obs.nvis:
        raise DivergenceError(f"{where} did not converge: the energy rose from {phase[0]:.8g} to {phase[-1]:.8g} "
                              f"over the last {phase.size} iterations (more than {ENERGY_RISE:g} per visibility); "
                              "give the schedule more iterations or samples")
    uniform = border_fraction(np.ones(apparent_samples.shape[1:]))
    fraction = border_fraction(apparent_samples.mean(axis=0))
    if fraction > uniform:
        raise DivergenceError(f"{where} diverged: {fraction:.0%} of the posterior mean's apparent flux lies in the "
                              f"outer eighth of the image, more than a uniform sky would put there ({uniform:.0%}); "
                              "if the emission really fills the field, image a larger one (image.npix)")
