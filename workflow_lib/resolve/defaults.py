"""Data-driven defaults of a RESOLVE run: what a user need not know to image a measurement set.

Every setting left null in the run takes a value from the data; an explicit value always wins. What was
chosen, and from what, is logged and recorded in the hyperparameter table.

* Image grid: the pixel is an eighth of the natural beam (far inside the 1 / (2 |uv|max) limit), the field
  1.2 primary-beam FWHM at the data's mean frequency (32 beams without a primary beam), rounded up to a
  multiple of 16 pixels.
* Sky offset (the prior mean of ln I): ln of the natural-weighted dirty image's peak over the beam's solid
  angle, i.e. the brightness of the data's brightest beam-sized feature, in Jy/sr.
* Absorption offset (a signed sky): ln of the dirty image's deepest trough over the beam solid angle; a trough
  no deeper than the peak's own PSF sidelobes plus 5 noise sigmas sets nothing, and the run is refused.
* Noise-scale prior: the scatter of the half difference of the parallel hands, (XX - YY) / 2, against the
  delivered weights, per window (it carries the same noise as Stokes I but no unpolarised signal); the
  prior's mean is their geometric mean and its spread half of that.
"""

from __future__ import annotations

import copy
import logging

import numpy as np

from ..units import ARCSEC, C_LIGHT, RAD_TO_ARCSEC
from . import diagnostics, response, settings
from .observation import Observation

log = logging.getLogger(__name__)

PIXELS_PER_BEAM = 8
FIELD_PER_PB_FWHM = 1.2
FIELD_IN_BEAMS_WITHOUT_PB = 32
NPIX_MULTIPLE, NPIX_MAX = 16, 2048
ABSORPTION_SIGMA = 5.0   # noise sigmas a dirty-image trough must reach beyond the peak's sidelobes


def primary_beam_fwhm_arcsec(freq_hz: float, model: str) -> float | None:
    """FWHM of the power pattern ``model`` at ``freq_hz``, measured on the pattern itself (None for none)."""
    if model == "none":
        return None
    cell = 0.01 * (1.2 * C_LIGHT / freq_hz / 12.0) * RAD_TO_ARCSEC   # 1% of about lambda / D
    profile = response.primary_beam(1024, cell, freq_hz, model)[512, 512:]
    return float(2 * np.interp(0.5, profile[::-1], np.arange(profile.size)[::-1]) * cell)


def image_grid(obs: Observation, primary_beam: str) -> tuple[int, float, str]:
    """(npix, cell in arcsec, how) from the longest baselines (through the beam) and the primary beam."""
    beam = obs.natural_beam_fwhm_arcsec()
    cell = float(f"{beam / PIXELS_PER_BEAM:.2g}")
    pb = primary_beam_fwhm_arcsec(obs.mean_freq_hz, primary_beam)
    field = FIELD_PER_PB_FWHM * pb if pb is not None else FIELD_IN_BEAMS_WITHOUT_PB * beam
    # a mosaic: its pointings' farthest offset from the centre on each side, plus the field of one pointing
    spread = 2 * max(np.abs(response.sin_offset(obs.ra_deg, obs.dec_deg, p.ra_deg, p.dec_deg)).max()
                     for p, _ in obs.pointing_rows()) * RAD_TO_ARCSEC
    field += spread
    npix = int(np.ceil(field / cell / NPIX_MULTIPLE) * NPIX_MULTIPLE)
    if npix > NPIX_MAX:
        log.warning("%s: %d pixels would cover the field; capped at %d (image.npix sets it)", obs.ms, npix, NPIX_MAX)
        npix = NPIX_MAX
    how = (f"natural beam {beam:.3g} arcsec / {PIXELS_PER_BEAM}; field {field:.3g} arcsec = "
           + (f"{FIELD_PER_PB_FWHM} x primary-beam FWHM {pb:.3g} arcsec" if pb is not None
              else f"{FIELD_IN_BEAMS_WITHOUT_PB} beams")
           + (f" + the pointings' spread {spread:.3g} arcsec" if obs.is_mosaic else ""))
    return npix, cell, how


def _beam_solid_angle(obs: Observation) -> float:
    beam = obs.natural_beam_fwhm_arcsec() * ARCSEC
    return np.pi / (4 * np.log(2)) * beam ** 2


def sky_offset(obs: Observation, npix: int, cell_arcsec: float) -> tuple[float, str]:
    """ln of the dirty image's peak brightness (Jy/sr): the natural-weighted peak over the beam solid angle."""
    peak = diagnostics.dirty_peak(obs, response.pointing_gridders(obs, cell_arcsec, 1e-4, False), obs.vis, npix)
    if peak <= 0:
        raise ValueError(f"{obs.ms}: the dirty image has no positive peak; set sky.offset (ln Jy/sr) yourself")
    return float(np.log(peak / _beam_solid_angle(obs))), f"ln(dirty peak {peak:.4g} Jy/beam / beam solid angle)"


def absorption_offset(obs: Observation, npix: int, cell_arcsec: float) -> tuple[float, str]:
    """ln of the dirty image's deepest trough brightness (Jy/sr).

    An error when the trough is not deeper than the emission's own sidelobes (the dirty peak times the PSF's
    deepest negative sidelobe) by :data:`ABSORPTION_SIGMA` noise sigmas: then the data hold no absorption to
    set its level by.
    """
    gridders = response.pointing_gridders(obs, cell_arcsec, 1e-4, False)
    trough = -diagnostics.dirty_peak(obs, gridders, -obs.vis, npix)
    peak = diagnostics.dirty_peak(obs, gridders, obs.vis, npix)
    # each pointing's PSF, centred (the phase shift of its gridder would move it off the grid's centre)
    sidelobe = max(-float(response.Gridder(g.uvw, cell_arcsec, 1e-4, False).grid(
        obs.weight[rows].astype(np.complex128), npix).min() / obs.weight[rows].sum()) for *_, rows, g in gridders)
    sigma = max(1 / np.sqrt(obs.weight[rows].sum()) for *_, rows, _ in gridders)
    floor = max(peak, 0.0) * max(sidelobe, 0.0) + ABSORPTION_SIGMA * sigma
    if trough > -floor:
        raise ValueError(f"{obs.ms}: sky.absorption is on, but the dirty image's deepest trough, {trough:.3g} "
                         f"Jy/beam, is no deeper than the sidelobes of its peak ({peak:.3g} Jy/beam x PSF sidelobe "
                         f"{-sidelobe:.3g}) plus {ABSORPTION_SIGMA:g} noise sigmas ({sigma:.3g} Jy/beam): no "
                         "absorption or decrement to set its level by; set sky.absorption.offset (ln Jy/sr) or "
                         "switch the absorption off (sky.absorption.enabled: false)")
    return (float(np.log(-trough / _beam_solid_angle(obs))),
            f"ln(-dirty trough {trough:.4g} Jy/beam / beam solid angle)")


def noise_scale(obs: Observation) -> tuple[list[float], str] | None:
    """Prior (mean, std) of the factor on the delivered sigma, from the parallel hands' half difference."""
    if obs.vis_difference is None:
        return None
    ratios = []
    for k in range(len(obs.spws)):
        sel = obs.spw_index == k
        ratios.append(np.sqrt(np.sum(obs.weight[sel] * np.abs(obs.vis_difference[sel]) ** 2) / (2 * sel.sum())))
    mean = float(np.exp(np.mean(np.log(ratios))))
    how = "(XX - YY) / 2 scatter over the delivered sigma: " + ", ".join(
        f"spw {spw} {r:.3g}" for spw, r in zip(obs.spws, ratios))
    return [mean, 0.5 * mean], how


def complete(obs: Observation, spec: dict) -> tuple[dict, dict]:
    """``spec`` with its null data-driven settings filled from ``obs``, and ``{setting: (value, how)}`` of them."""
    spec = copy.deepcopy(spec)
    chosen = {}
    image = spec["image"]
    if image["npix"] is None or image["cell_arcsec"] is None:
        npix, cell, how = image_grid(obs, image["primary_beam"])
        if image["cell_arcsec"] is None:
            image["cell_arcsec"] = cell
            chosen["image.cell_arcsec"] = (cell, how)
        if image["npix"] is None:
            image["npix"] = int(np.ceil(npix * cell / image["cell_arcsec"] / NPIX_MULTIPLE) * NPIX_MULTIPLE)
            chosen["image.npix"] = (image["npix"], how)
    if spec["sky"]["offset"] is None:
        spec["sky"]["offset"], how = sky_offset(obs, image["npix"], image["cell_arcsec"])
        chosen["sky.offset"] = (spec["sky"]["offset"], how)
    if settings.signed(spec["sky"]) and spec["sky"]["absorption"]["offset"] is None:
        offset, how = absorption_offset(obs, image["npix"], image["cell_arcsec"])
        spec["sky"]["absorption"]["offset"] = offset
        chosen["sky.absorption.offset"] = (offset, how)
    noise = spec["noise"]
    if noise["model"] != "none" and noise["scale"] is None:
        found = noise_scale(obs)
        noise["scale"], how = found if found else ([1.0, 0.5], "no parallel hands to compare: the schema's 1 +- 0.5")
        chosen["noise.scale"] = (noise["scale"], how)
    for key, (value, how) in chosen.items():
        log.info("%s: %s = %s (from the data: %s)", obs.ms, key, value, how)
    return spec, chosen


def table_rows(chosen: dict) -> list[tuple]:
    """Rows for the hyperparameter table: the settings chosen from the data (fixed, no posterior spread)."""
    rows = []
    for key, (value, how) in chosen.items():
        shown = " +- ".join(f"{v:.4g}" for v in value) if isinstance(value, list) else f"{value:.6g}"
        first = float(value[0] if isinstance(value, list) else value)
        rows.append((f"{key} (data-driven)", how, first, 0.0, shown))
    return rows
