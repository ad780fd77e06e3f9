"""Fast dirty cubes with ducc0, channel by channel on a fixed uv coverage.

The same linear algebra as ``simobserve`` + ``tclean`` (niter 0): the dirty
image of channel c is sum_k w_k Re[V_k exp(+2 pi i u_k . x)] / sum_k w_k with
V_k = sum_j PB_j S_j exp(-2 pi i u_k . x_j) + n_k, the uv coordinates scaled
with the channel frequency. No w-term (tclean's ``standard`` gridder ignores
it too). Orientation and signs are tclean's (tests compare with CASA).

Two exact shortcuts make it fast:

* the noise-free part is the primary-beam attenuated sky convolved with the
  channel's PSF (computed once on a grid twice the image size, so the linear
  convolution has no wrap-around) instead of a prediction and a gridding;
* thermal noise (``noise_draw="visibilities"``, the reference) is drawn per
  visibility and gridded with a NUFFT plan per channel that is built once and
  reused for every cube.

The faster ``noise_draw="image"`` draws the same noise in the image domain:
gridded visibility noise is a stationary Gaussian field whose covariance is
sigma^2 sum_k w_k^2 cos(2 pi u_k . dx) / (sum_k w_k)^2 (for natural weights
the PSF over N), i.e. whose spectrum is the density of w^2 at +-uv. White
noise on the doubled grid shaped by the square root of that density (gridded
cloud-in-cell onto the doubled grid's uv cells, so never negative) and cropped
to the image has the same per-pixel variance and, up to that half-cell
smoothing of the density, the same power spectrum, for one FFT pair per
channel and no visibilities. Its draws are not the visibility path's, and no
visibilities lie behind them (see :func:`cube_visibilities`).

Plans run single-threaded in single precision (epsilon >= 1e-6) so that a
shard is bit-identical whatever the number of parallel jobs.
"""

from __future__ import annotations

import numpy as np
import ducc0

from ..units import ARCSEC, C_LIGHT
from .coverage import Coverage



def briggs_weights(uv_lambda: np.ndarray, npix: int, cell_arcsec: float, robust: float) -> np.ndarray:
    """Briggs (robust) weights of unit-weight visibilities, as CASA's BriggsCubeWeightor makes them.

    Weight density = visibilities per cell of the image's uv grid (nearest
    cell), counting every visibility at (u, v) and at its conjugate (-u, -v)
    as tclean's gridded weights do; f^2 = (5 10^-R)^2 / (sum density^2 / 2N).
    Reproduces tclean's Briggs PSF to 1e-4 of its peak.
    """
    du = 1.0 / (npix * cell_arcsec * ARCSEC)
    iu = np.round(uv_lambda[:, 0] / du).astype(np.int64)
    iv = np.round(-uv_lambda[:, 1] / du).astype(np.int64)
    cells = iu * (4 * npix + 1) + iv          # unique while |iv| <= 2 npix; (-u, -v) is -cells
    _, inverse, counts = np.unique(np.concatenate([cells, -cells]), return_inverse=True, return_counts=True)
    density = counts[inverse[:cells.size]].astype(np.float64)
    f2 = (5.0 * 10.0 ** (-robust)) ** 2 / (np.sum(counts.astype(np.float64) ** 2) / (2 * cells.size))
    return 1.0 / (1.0 + density * f2)


class ChannelImager:
    """Prediction and dirty imaging on one coverage, channel by channel, with cached plans and PSFs."""

    def __init__(self, coverage: Coverage, epsilon: float = 1e-5, weighting: str = "natural", robust: float = 0.5,
                 nthreads: int = 1):
        if weighting not in ("natural", "briggs"):
            raise ValueError(f"weighting {weighting!r}: the ducc backend supports natural and briggs")
        if not 1e-6 < epsilon < 1e-1:
            raise ValueError(f"epsilon={epsilon}: single-precision NUFFTs need 1e-6 < epsilon < 0.1")
        self.coverage = coverage
        self.grid = coverage.grid
        self.epsilon = epsilon
        self.weighting = weighting
        self.robust = robust
        self.nthreads = nthreads
        self.nrow = coverage.uvw_m.shape[0]
        self._plans: dict[int, ducc0.nufft.plan] = {}
        self._weights: dict[int, np.ndarray] = {}
        self._psf_fft: dict[int, np.ndarray] = {}
        self._noise_amplitude: dict[int, np.ndarray] = {}

    def uv_lambda(self, chan: int) -> np.ndarray:
        return self.coverage.uvw_m[:, :2] * (self.coverage.freqs_hz[chan] / C_LIGHT)

    def _coord(self, chan: int) -> np.ndarray:
        uv = self.uv_lambda(chan)
        step = 2 * np.pi * self.grid.cell_arcsec * ARCSEC
        # image axes are (y, x): -v along y and +u along x give tclean's orientation
        return np.stack([-step * uv[:, 1], step * uv[:, 0]], axis=1)

    def plan(self, chan: int) -> ducc0.nufft.plan:
        if chan not in self._plans:
            self._plans[chan] = ducc0.nufft.plan(nu2u=True, coord=self._coord(chan).astype(np.float32),
                                                 grid_shape=(self.grid.ny, self.grid.nx), epsilon=self.epsilon,
                                                 nthreads=self.nthreads)
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
        return self.plan(chan).u2nu(grid=np.asarray(image, dtype=np.complex64), forward=True)

    def dirty(self, vis: np.ndarray, chan: int) -> np.ndarray:
        """Weighted dirty image (Jy/beam) of ``vis`` for channel ``chan``."""
        w = self.weights(chan)
        points = np.asarray(vis * w, dtype=np.complex64)
        return self.plan(chan).nu2u(points=points, forward=False).real.astype(np.float64) / w.sum()

    def psf(self, chan: int, size: int = 1) -> np.ndarray:
        """PSF of ``chan`` on a grid ``size`` times the image (peak 1 at pixel ``(size*ny//2, size*nx//2)``)."""
        w = self.weights(chan)
        shape = (size * self.grid.ny, size * self.grid.nx)
        out = np.empty(shape, dtype=np.complex128)
        ducc0.nufft.nu2u(points=w.astype(np.complex128), coord=self._coord(chan), forward=False,
                         epsilon=min(self.epsilon, 1e-7), nthreads=self.nthreads, out=out)
        return out.real / w.sum()

    def noise_amplitude(self, chan: int) -> np.ndarray:
        """Square root of the dirty-image noise spectrum of unit-sigma visibility noise in ``chan``, on the rfft2
        layout of the doubled grid: the weights squared gridded at +-uv by cloud-in-cell onto that grid's
        uv cells, normalised so that the noise variance is sum w^2 / (sum w)^2 as for the gridded noise."""
        if chan not in self._noise_amplitude:
            ny, nx = 2 * self.grid.ny, 2 * self.grid.nx
            w = self.weights(chan)
            uv = self.uv_lambda(chan) * (self.grid.cell_arcsec * ARCSEC)  # cycles per pixel
            density = np.zeros(ny * nx)
            for sign in (1.0, -1.0):   # a visibility and its conjugate; axes (y, x) take (-v, +u) as in _coord
                fy, fx = -sign * uv[:, 1] * ny, sign * uv[:, 0] * nx
                y0, x0 = np.floor(fy), np.floor(fx)
                dy, dx = fy - y0, fx - x0
                for oy, wy in ((0, 1 - dy), (1, dy)):
                    for ox, wx in ((0, 1 - dx), (1, dx)):
                        flat = ((y0 + oy).astype(np.int64) % ny) * nx + (x0 + ox).astype(np.int64) % nx
                        density += np.bincount(flat, weights=w**2 * wy * wx, minlength=ny * nx)
            spectrum = density.reshape(ny, nx)[:, : nx // 2 + 1] * (ny * nx) / (2 * w.sum() ** 2)
            self._noise_amplitude[chan] = np.sqrt(spectrum)
        return self._noise_amplitude[chan]

    def image_noise(self, rng: np.random.Generator, chan: int) -> np.ndarray:
        """Dirty-image noise of unit-sigma visibility noise in ``chan``, drawn in the image domain."""
        ny, nx = self.grid.ny, self.grid.nx
        white = rng.standard_normal((2 * ny, 2 * nx))
        return np.fft.irfft2(np.fft.rfft2(white) * self.noise_amplitude(chan), s=(2 * ny, 2 * nx))[:ny, :nx]

    def convolve_psf(self, image: np.ndarray, chan: int) -> np.ndarray:
        """Dirty image of a noise-free ``(ny, nx)`` Jy/pixel image: exact linear convolution with the PSF."""
        ny, nx = self.grid.ny, self.grid.nx
        if chan not in self._psf_fft:
            self._psf_fft[chan] = np.fft.rfft2(self.psf(chan, size=2))
        padded = np.zeros((2 * ny, 2 * nx))
        padded[:ny, :nx] = image
        full = np.fft.irfft2(np.fft.rfft2(padded) * self._psf_fft[chan], s=(2 * ny, 2 * nx))
        return full[ny:, nx:]


def _noise_sigma(imager: ChannelImager, rms: float) -> float:
    """Per-visibility sigma (real and imaginary part) giving ``rms`` in the natural-weighted dirty image."""
    return rms * np.sqrt(imager.nrow)


def _unit_noise(imager: ChannelImager, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(2 * imager.nrow, dtype=np.float32).view(np.complex64)


NOISE_DRAWS = ("visibilities", "image")


def simulate_cube(imager: ChannelImager, sky: np.ndarray, noise: dict, rng: np.random.Generator,
                  noise_draw: str = "visibilities") -> tuple[np.ndarray, dict]:
    """Dirty cube (Jy/beam) of a sky cube (Jy/pixel, not attenuated) with thermal noise.

    ``noise`` as in the config: ``rms_jy_per_beam`` of the natural-weighted
    dirty image, or ``snr`` = noise-free dirty peak / RMS. The noise is that of
    Stokes I visibilities with sigma = RMS * sqrt(N) per real and imaginary
    part, which gives that RMS for N natural-weighted visibilities (and the
    same statistics as the CASA backend's XX/YY noise), drawn per visibility or
    in the image domain (``noise_draw``, see the module docstring).
    """
    if noise_draw not in NOISE_DRAWS:
        raise ValueError(f"noise_draw {noise_draw!r}: one of {', '.join(NOISE_DRAWS)}")
    nchan = sky.shape[0]
    apparent = sky * imager.coverage.pb
    dirty = np.stack([imager.convolve_psf(apparent[c], c) for c in range(nchan)])
    if "rms_jy_per_beam" in noise:
        rms, peak = float(noise["rms_jy_per_beam"]), None
    else:
        peak = float(dirty.max())
        if peak <= 0:
            raise ValueError("the noise-free dirty cube has no positive peak; an SNR cannot define the noise")
        rms = peak / float(noise["snr"])
    sigma = _noise_sigma(imager, rms)
    if sigma > 0:
        for c in range(nchan):
            unit = imager.image_noise(rng, c) if noise_draw == "image" else imager.dirty(_unit_noise(imager, rng), c)
            dirty[c] += sigma * unit
    return dirty, {"target_rms_jy_per_beam": rms, "noise_free_peak_jy_per_beam": peak,
                   "sigma_per_visibility_jy": sigma, "rows_per_channel": imager.nrow, "noise_draw": noise_draw}


def cube_visibilities(imager: ChannelImager, sky: np.ndarray, rms: float, rng: np.random.Generator) -> np.ndarray:
    """Stokes I visibilities ``(nrow, nchan)`` behind :func:`simulate_cube`'s dirty cube.

    With the same ``rng`` state and the RMS that :func:`simulate_cube`
    recorded, the noise is the very same draw, so imaging these visibilities
    (e.g. with tclean) reproduces the dataset's dirty cube.
    """
    apparent = sky * imager.coverage.pb
    sigma = _noise_sigma(imager, rms)
    vis = np.empty((imager.nrow, sky.shape[0]), dtype=np.complex64)
    for c in range(sky.shape[0]):
        vis[:, c] = imager.predict(apparent[c], c)
        if sigma > 0:
            vis[:, c] += sigma * _unit_noise(imager, rng)
    return vis
