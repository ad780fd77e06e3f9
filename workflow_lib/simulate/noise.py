"""Thermal noise added to simulated visibilities so the dirty image reaches a target RMS.

For natural weighting with N equally weighted, unflagged rows per channel, a
dirty-image pixel of Stokes I = (XX + YY) / 2 has variance sigma_corr^2 / (2 N),
where sigma_corr is the noise of each real and imaginary part of each
correlation. We invert that: sigma_corr = rms_image * sqrt(2 N).

The target is either an explicit image RMS (Jy/beam) or an SNR: the peak of
the noise-free natural-weighted dirty image (gridded with ducc0 on the same uv
coverage) divided by the SNR. SIGMA and WEIGHT are set to match the noise, so
later imagers (tclean, RESOLVE) see consistent weights.
"""

from __future__ import annotations

import numpy as np

from .. import msio
from .gridding import dirty_image


def _stokes_i(data: np.ndarray) -> np.ndarray:
    """``(ncorr, nchan, nrow)`` -> ``(nrow, nchan)`` Stokes I from the parallel hands."""
    return data[[0, -1]].mean(axis=0).T


def target_rms(ms: str, noise: dict, npix: int, cell_arcsec: float) -> tuple[float, float | None]:
    """Image RMS (Jy/beam) requested by ``noise`` and the noise-free dirty peak it was derived from."""
    if "rms_jy_per_beam" in noise:
        return float(noise["rms_jy_per_beam"]), None
    with msio.table(ms) as tb:
        uvw = tb.getcol("UVW").T
        vis = _stokes_i(tb.getcol("DATA"))
        flags = tb.getcol("FLAG")[[0, -1]].any(axis=0).T
    freqs = msio.channel_frequencies(ms)
    peak = -np.inf
    for chan in range(freqs.size):  # per-channel dirty peak: a line cube's brightest channel
        image = dirty_image(uvw, freqs[chan:chan + 1], vis[:, chan:chan + 1], (~flags[:, chan:chan + 1]).astype(float),
                            npix, cell_arcsec)
        peak = max(peak, float(image.max()))
    if peak <= 0:
        raise ValueError(f"{ms}: the noise-free dirty image has no positive peak; an SNR cannot define the noise")
    return peak / float(noise["snr"]), peak


def add_thermal_noise(ms: str, noise: dict, rng: np.random.Generator, npix: int, cell_arcsec: float,
                      chunk_rows: int = 100_000) -> dict:
    """Add Gaussian noise to DATA (in place) so the natural dirty image has the requested RMS.

    Returns a record of what was done (target RMS, per-visibility sigma, rows).
    MODEL_DATA and CORRECTED_DATA written by simobserve are removed so that
    every imager reads the noisy DATA column.
    """
    msio.require_ms(ms)
    rms, peak = target_rms(ms, noise, npix, cell_arcsec)
    if rms < 0 or not np.isfinite(rms):
        raise ValueError(f"noise: image RMS must be a finite number >= 0, got {rms}")
    with msio.table(ms, writable=True) as tb:
        msio.require_columns(ms, tb, ["DATA", "FLAG", "SIGMA", "WEIGHT"])
        nrow = tb.nrows()
        flags = tb.getcol("FLAG")
        unflagged = int((~flags[[0, -1]].any(axis=0)).sum(axis=1).min())  # rows per channel
        if unflagged == 0:
            raise ValueError(f"{ms}: all visibilities are flagged")
        sigma = rms * np.sqrt(2.0 * unflagged)
        for start in range(0, nrow, chunk_rows):
            n = min(chunk_rows, nrow - start)
            data = tb.getcol("DATA", startrow=start, nrow=n)
            if sigma > 0:
                data = data + sigma * (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape))
            tb.putcol("DATA", data.astype(np.complex64), startrow=start, nrow=n)
        # a noiseless simulation keeps unit weights (all equal, as natural weighting needs)
        sigma_col = sigma if sigma > 0 else 1.0
        tb.putcol("SIGMA", np.full((flags.shape[0], nrow), sigma_col, dtype=np.float32))
        tb.putcol("WEIGHT", np.full((flags.shape[0], nrow), sigma_col ** -2, dtype=np.float32))
        extra = [c for c in ("MODEL_DATA", "CORRECTED_DATA") if c in tb.colnames()]
        if extra:
            tb.removecols(extra)
    return {"target_rms_jy_per_beam": rms, "noise_free_peak_jy_per_beam": peak, "sigma_per_visibility_jy": sigma,
            "rows_per_channel": unflagged, **noise}
