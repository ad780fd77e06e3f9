"""Reconstructions against the truth: DeepFocus's model cube and tCLEAN's, in units of the noise.

A model in Jy/pixel and the true sky differ on scales the data cannot
resolve, so both are compared at the resolution of tCLEAN's restoring beam:
R = (model - truth) convolved with the beam, over the channel noise RMS
(Jy/beam). tCLEAN's model is the apparent sky (primary-beam attenuated), so
it is divided by the primary beam first, and so is its restored image
(model x beam + residual), which is compared noise included.
"""

from __future__ import annotations

import numpy as np

from ...tables import convolve_cube_with_beam as smooth


def residual_stats(residual: np.ndarray) -> dict[str, float]:
    """RMS, 99th percentile and maximum of |R| (R in units of the noise)."""
    a = np.abs(residual)
    return {"rms": float(np.sqrt(np.mean(residual ** 2))), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def compare(truth: np.ndarray, deepfocus_model: np.ndarray, tclean_model: np.ndarray, tclean_image: np.ndarray,
            pb: np.ndarray, rms: float, cell_arcsec: float, beam: tuple[float, float, float]) -> dict[str, dict]:
    """Residual statistics of each reconstruction of one cube (see the module notes)."""
    reference = smooth(truth, cell_arcsec, beam)
    with np.errstate(divide="ignore", invalid="ignore"):
        tclean_sky, tclean_restored = (np.where(pb > 0, x / pb, 0.0) for x in (tclean_model, tclean_image))
    return {
        "deepfocus_model": residual_stats((smooth(deepfocus_model, cell_arcsec, beam) - reference) / rms),
        "tclean_model": residual_stats((smooth(tclean_sky, cell_arcsec, beam) - reference) / rms),
        "tclean_image": residual_stats((tclean_restored - reference) / rms),
    }
