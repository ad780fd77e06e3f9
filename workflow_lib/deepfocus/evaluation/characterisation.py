"""Predicted against true source parameters for the matched detections.

Residuals are relative for sizes, widths and fluxes, in pixels for positions,
in channels for line centres, in degrees (wrapped to [-90, 90)) for position
angles and in mJy for the continuum. ``within_10pct`` uses a tolerance
per parameter: 10% for relative residuals, 10% of the beam FWHM for
positions, 10% of the true line FWHM for line centres, 10% of the 180 deg
range for position angles (the study's "within 10%").
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from ..preprocess import MAD_TO_SIGMA

ELONGATED = 0.8  # position angles are also scored apart for sources with minor/major below this
RESOLVED = 0.75  # ... and for those whose major axis is at least this fraction of the beam FWHM


def residuals(truth: Table, predicted: Table, beam_fwhm_pix: float, cell_arcsec: float
              ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Parameter -> (residuals, tolerance for "within 10%") of matched rows (same order in both tables).

    The beam FWHM (pixels) sets the position tolerance and which sources count as resolved.
    """
    def col(t, name):
        return np.asarray(t[name], dtype=float)

    def relative(name_pred, name_true=None):
        true = col(truth, name_true or name_pred)
        return (col(predicted, name_pred) - true) / true, np.full(len(true), 0.1)

    dpa = (col(predicted, "pa_deg") - col(truth, "pa_deg") + 90.0) % 180.0 - 90.0
    elongated = col(truth, "fwhm_minor_arcsec") / col(truth, "fwhm_major_arcsec") < ELONGATED
    resolved = elongated & (col(truth, "fwhm_major_arcsec") >= RESOLVED * beam_fwhm_pix * cell_arcsec)
    n = len(truth)
    return {
        "x_pix": (col(predicted, "x_pix") - col(truth, "x_pix"), np.full(n, 0.1 * beam_fwhm_pix)),
        "y_pix": (col(predicted, "y_pix") - col(truth, "y_pix"), np.full(n, 0.1 * beam_fwhm_pix)),
        "fwhm_major_arcsec": relative("fwhm_major_arcsec"),
        "fwhm_minor_arcsec": relative("fwhm_minor_arcsec"),
        "pa_deg": (dpa, np.full(n, 18.0)),
        "pa_deg_elongated": (dpa[elongated], np.full(int(elongated.sum()), 18.0)),
        "pa_deg_resolved": (dpa[resolved], np.full(int(resolved.sum()), 18.0)),
        "line_centre_chan": (col(predicted, "line_centre_chan") - col(truth, "line_centre_chan"),
                             0.1 * col(truth, "line_fwhm_chan")),
        "line_fwhm_chan": relative("line_fwhm_chan"),
        "line_flux_resnet": relative("line_integrated_flux_jy_mhz"),
        "line_flux_aperture": relative("line_aperture_flux_jy_mhz", "line_integrated_flux_jy_mhz"),
        "continuum_mjy": ((col(predicted, "continuum_flux_jy") - col(truth, "continuum_flux_jy")) * 1e3,
                          np.full(n, np.nan)),
    }


UNITS = {"x_pix": "pix", "y_pix": "pix", "fwhm_major_arcsec": "relative", "fwhm_minor_arcsec": "relative",
         "pa_deg": "deg", "pa_deg_elongated": "deg", "pa_deg_resolved": "deg", "line_centre_chan": "chan",
         "line_fwhm_chan": "relative", "line_flux_resnet": "relative", "line_flux_aperture": "relative",
         "continuum_mjy": "mJy"}


def summary(res: dict[str, tuple[np.ndarray, np.ndarray]]) -> Table:
    """Per parameter: n, median residual, robust sigma, fraction within 1 sigma of the median, within 10%."""
    rows = []
    for name, (r, tol) in res.items():
        if len(r) == 0:
            rows.append((name, UNITS[name], 0, *([np.nan] * 5)))
            continue
        med = float(np.median(r))
        sigma = float(MAD_TO_SIGMA * np.median(np.abs(r - med)))
        within = float(np.mean(np.abs(r) <= tol)) if np.isfinite(tol).all() else np.nan
        rows.append((name, UNITS[name], len(r), med, sigma, float(np.mean(np.abs(r - med) <= sigma)),
                     float(np.mean(np.abs(r))), within))
    return Table(rows=rows, names=("parameter", "unit", "n", "median", "robust_sigma", "within_1sigma",
                                   "mean_abs", "within_10pct"),
                 dtype=(str, str, int, float, float, float, float, float))


def matched(detections, truths: list[Table], catalogues: list[Table], beam_fwhm_pix: float, cell_arcsec: float
            ) -> tuple[Table, dict]:
    """:func:`summary` and :func:`residuals` of the true sources and catalogue rows that ``detections`` (a
    :class:`.detection.Detections` over the same cubes, in order) matched one to one."""
    truth_rows, predicted_rows = [], []
    for pairs, t, c in zip(detections.pairs(), truths, catalogues):
        truth_rows += [t[r] for r, _ in pairs]
        predicted_rows += [c[p] for _, p in pairs]
    if not truth_rows:
        return summary({name: (np.zeros(0), np.zeros(0)) for name in UNITS}), {}
    res = residuals(Table(rows=truth_rows, names=truths[0].colnames),
                    Table(rows=predicted_rows, names=catalogues[0].colnames), beam_fwhm_pix, cell_arcsec)
    return summary(res), res
