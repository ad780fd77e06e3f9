"""Fast dirty cubes with ducc0: per-channel NUFFTs on a fixed uv coverage.

The same linear algebra as ``simobserve`` + ``tclean`` (niter 0):
visibilities V_k = sum_j PB_j S_j exp(-2 pi i u_k . x_j) of the primary-beam
attenuated sky, Gaussian thermal noise added to each visibility, and the dirty
image sum_k w_k Re[V_k exp(+2 pi i u_k . x)] / sum_k w_k, channel by channel
with the uv coordinates scaled by frequency. No w-term (tclean's ``standard``
gridder ignores it too). One NUFFT plan per channel is built once and reused
for every cube, which is where the speed comes from; single-threaded plans
keep results bit-identical whatever the number of parallel jobs.

Orientation and sign conventions are those of tclean (checked in the tests
against CASA and against ``gridding.dirty_image``).
"""

from __future__ import annotations

import numpy as np
import ducc0

from .coverage import Coverage
from .gridding import ARCSEC

C_LIGHT = 299_792_458.0


def briggs_weights(uv_lambda: np.ndarray, npix: int, cell_arcsec: float, robust: float) -> np.ndarray:
    """Briggs (robust) weights of unit-weight visibilities, as CASA's BriggsCubeWeightor makes them.

    Weight density = visibilities per cell of the image's uv grid (nearest
    cell, conjugates not folded), f^2 = (5 10^-R)^2 / (sum density^2 / N).
    tclean's own weight gridding differs in details we do not reproduce: the
    dirty images agree to about 1.5% of the peak (natural: 1e-4).
    """
    du = 1.0 / (npix * cell_arcsec * ARCSEC)
    iu = np.round(uv_lambda[:, 0] / du).astype(np.int64)
    iv = np.round(-uv_lambda[:, 1] / du).astype(np.int64)
    _, inverse, counts = np.unique(iu * (4 * npix + 1) + iv, return_inverse=True, return_counts=True)
    density = counts[inverse].astype(np.float64)
    f2 = (5.0 * 10.0 ** (-robust)) ** 2 / (np.sum(counts.astype(np.float64) ** 2) / uv_lambda.shape[0])
    return 1.0 / (1.0 + density * f2)


class ChannelImager:
    """Prediction and dirty imaging on one coverage, channel by channel, with reusable NUFFT plans."""

    def __init__(self, coverage: Coverage, epsilon: float = 1e-5, weighting: str = "natural", robust: float = 0.5,
                 nthreads: int = 1):
        if weighting not in ("natural", "briggs"):
            raise ValueError(f"weighting {weighting!r}: the ducc backend supports natural and briggs")
        self.coverage = coverage
        self.grid = coverage.grid
        self.epsilon = epsilon
        self.weighting = weighting
        self.robust = robust
        self.nthreads = nthreads
        self.nrow = coverage.uvw_m.shape[0]
        self._plans: dict[int, ducc0.nufft.plan] = {}
        self._weights: dict[int, np.ndarray] = {}

    def uv_lambda(self, chan: int) -> np.ndarray:
        return self.coverage.uvw_m[:, :2] * (self.coverage.freqs_hz[chan] / C_LIGHT)

    def plan(self, chan: int) -> ducc0.nufft.plan:
        if chan not in self._plans:
            uv = self.uv_lambda(chan)
            step = 2 * np.pi * self.grid.cell_arcsec * ARCSEC
            # image axes are (y, x): -v along y and +u along x give tclean's orientation
            coord = np.stack([-step * uv[:, 1], step * uv[:, 0]], axis=1)
            self._plans[chan] = ducc0.nufft.plan(nu2u=True, coord=coord, grid_shape=(self.grid.ny, self.grid.nx),
                                                 epsilon=self.epsilon, nthreads=self.nthreads)
        return self._plans[chan]

    def weights(self, chan: int) -> np.ndarray:
        if chan not in self._weights:
            if self.weighting == "natural":
                self._weights[chan] = np.ones(self.nrow)
            else:
                self._weights[chan] = briggs_weights(self.uv_lambda(chan), self.grid.nx, self.grid.cell_arcsec,
                                                     self.robust)
        return self._weights[chan]

    def predict(self, image: np.ndarray, chan: int) -> np.ndarray:
        """Visibilities (Jy) of a ``(ny, nx)`` Jy/pixel image (already multiplied by the primary beam)."""
        return self.plan(chan).u2nu(grid=np.asarray(image, dtype=np.complex128), forward=True)

    def dirty(self, vis: np.ndarray, chan: int) -> np.ndarray:
        """Weighted dirty image (Jy/beam) of ``vis`` for channel ``chan``."""
        w = self.weights(chan)
        return self.plan(chan).nu2u(points=np.asarray(vis * w, dtype=np.complex128), forward=False).real / w.sum()

    def psf(self, chan: int) -> np.ndarray:
        return self.dirty(np.ones(self.nrow), chan)


def simulate_cube(imager: ChannelImager, sky: np.ndarray, noise: dict, rng: np.random.Generator
                  ) -> tuple[np.ndarray, dict]:
    """Dirty cube (Jy/beam) of a sky cube (Jy/pixel, not attenuated) with thermal noise.

    ``noise`` as in the config: ``rms_jy_per_beam`` of the natural-weighted
    dirty image, or ``snr`` = noise-free dirty peak / RMS. Noise is added to
    Stokes I visibilities with sigma = RMS * sqrt(N) per real and imaginary
    part, which gives that RMS for N natural-weighted visibilities (and the
    same statistics as the CASA backend's XX/YY noise).
    """
    nchan = sky.shape[0]
    apparent = sky * imager.coverage.pb
    model_vis = [imager.predict(apparent[c], c) for c in range(nchan)]
    if "rms_jy_per_beam" in noise:
        rms, peak = float(noise["rms_jy_per_beam"]), None
    else:
        peak = max(float((imager.dirty(model_vis[c], c)).max()) for c in range(nchan))
        if peak <= 0:
            raise ValueError("the noise-free dirty cube has no positive peak; an SNR cannot define the noise")
        rms = peak / float(noise["snr"])
    sigma = rms * np.sqrt(imager.nrow)
    dirty = np.empty(sky.shape, dtype=np.float64)
    for c in range(nchan):
        vis = model_vis[c]
        if sigma > 0:
            vis = vis + sigma * (rng.standard_normal(imager.nrow) + 1j * rng.standard_normal(imager.nrow))
        dirty[c] = imager.dirty(vis, c)
    return dirty, {"target_rms_jy_per_beam": rms, "noise_free_peak_jy_per_beam": peak,
                   "sigma_per_visibility_jy": sigma, "rows_per_channel": imager.nrow}
