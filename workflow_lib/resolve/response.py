"""The measurement: sky brightness (Jy/sr) on the image grid -> Stokes I visibilities (Jy).

Two ways to evaluate it:

* :class:`Response`, exact: ducc0's wgridder (``dirty2vis`` / ``vis2dirty``)
  with w-correction when the field needs it. Images are ``(ny, nx)`` in FITS
  orientation (RA increasing to the left), handed to ducc0 transposed with
  ``flip_v=True``: the convention of ``simulate/gridding.py`` that reproduces
  tclean's dirty images, so RESOLVE and tCLEAN images match pixel for pixel.
* :class:`ImagePlaneNormal`, fast: the normal operator R^T N^-1 R of each
  spectral window as a convolution with its PSF. The idea is fast-resolve's
  (Roth et al. 2024, A&A 690, A387), but without a w-term the convolution is
  exact for a pixelised sky: it only needs the PSF at pixel lags up to
  +-(npix - 1), i.e. on a grid twice the image size, computed once. A
  likelihood evaluation then costs one FFT pair instead of two gridder calls.

Both include the pixel solid angle (Jy/sr -> Jy/pixel) and the primary beam.
:class:`ExactNormal` offers the exact path through the same per-window
interface, so one likelihood serves both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import ducc0
import nifty8 as ift
import numpy as np
from scipy.special import j1

from ..units import ARCSEC, C_LIGHT
from .observation import Observation

# uvw are handed to ducc0 in wavelengths, so the "frequency" that scales them is c
_UNIT_FREQ = np.array([C_LIGHT])
# CASA's ALMA 12 m voltage pattern (vpmanager): Airy disk of a 10.7 m effective aperture with 0.75 m blockage.
# Reproduces tclean's .pb images to 1%. Whatever DISH_DIAMETER an ANTENNA table says (importuvfits writes 25 m),
# ALMA's main-array dishes are 12 m.
ALMA12M_EFFECTIVE_DIAMETER_M = 10.7
ALMA12M_BLOCKAGE_M = 0.75
# w-correction is switched on (wgridding: auto) when the w-term phase at the image corner exceeds this
W_PHASE_TOLERANCE_RAD = 0.05

log = logging.getLogger(__name__)


def image_domain(npix: int, cell_arcsec: float) -> ift.RGSpace:
    """Square image grid; distances in radians, so harmonic lengths are in wavelengths."""
    return ift.RGSpace((npix, npix), distances=cell_arcsec * ARCSEC)


def primary_beam(npix: int, cell_arcsec: float, freq_hz: float, model: str) -> np.ndarray:
    """Power pattern at ``freq_hz`` on the image grid (phase centre at pixel npix // 2)."""
    if model == "none":
        return np.ones((npix, npix))
    if model != "alma12m":
        raise ValueError(f"primary_beam: unknown model {model!r} (alma12m or none)")
    offsets = (np.arange(npix) - npix // 2) * cell_arcsec * ARCSEC
    x = np.pi * ALMA12M_EFFECTIVE_DIAMETER_M / (C_LIGHT / freq_hz) * np.hypot(*np.meshgrid(offsets, offsets))
    eps = ALMA12M_BLOCKAGE_M / ALMA12M_EFFECTIVE_DIAMETER_M
    x = np.where(x == 0, 1e-12, x)
    amplitude = (2 * j1(x) / x - eps * 2 * j1(eps * x) / x) / (1 - eps ** 2)
    return amplitude ** 2


def w_phase(obs: Observation, npix: int, cell_arcsec: float) -> float:
    """Largest w-term phase (rad) in the image: 2 pi |w| (1 - n) at the corner."""
    r2 = 2 * (npix / 2 * cell_arcsec * ARCSEC) ** 2
    return float(2 * np.pi * np.abs(obs.uvw[:, 2]).max() * r2 / (1 + np.sqrt(1 - r2)))


def use_wgridding(obs: Observation, npix: int, cell_arcsec: float, setting) -> bool:
    phase = w_phase(obs, npix, cell_arcsec)
    need = phase > W_PHASE_TOLERANCE_RAD
    chosen = need if setting == "auto" else bool(setting)
    log.info("w-term phase at the image corner: %.3g rad; w-correction %s", phase, "on" if chosen else "off")
    return chosen


@dataclass(frozen=True)
class Gridder:
    """ducc0 wgridder on one set of uvw (wavelengths) and one square grid, in FITS orientation.

    Single-threaded: on another thread count ducc0's gridder rounds differently (4e-16 relative for
    ``dirty2vis``; ``vis2dirty`` adds its threads' partial grids in a varying order), MGVI amplifies that to
    tens of percent of the posterior, and reproducible means the same bits at any thread count. The
    threads go to NIFTy's Hartley transforms, which give the same bits on any number.
    """

    uvw: np.ndarray
    cell_arcsec: float
    epsilon: float
    wgridding: bool

    def _common(self):
        cell = self.cell_arcsec * ARCSEC
        return dict(freq=_UNIT_FREQ, pixsize_x=cell, pixsize_y=cell, epsilon=self.epsilon,
                    do_wgridding=self.wgridding, nthreads=1, flip_v=True)

    def degrid(self, image: np.ndarray) -> np.ndarray:
        """(ny, nx) image -> (nvis,) visibilities."""
        dirty = np.ascontiguousarray(image.T, dtype=np.float64)
        return ducc0.wgridder.experimental.dirty2vis(uvw=self.uvw, dirty=dirty, **self._common())[:, 0]

    def grid(self, vis: np.ndarray, npix: int) -> np.ndarray:
        """Adjoint of :meth:`degrid`: (nvis,) -> (npix, npix) image (no normalisation)."""
        vis = np.ascontiguousarray(vis, dtype=np.complex128)[:, None]
        image = ducc0.wgridder.experimental.vis2dirty(uvw=self.uvw, vis=vis, npix_x=npix, npix_y=npix,
                                                      **self._common())
        return image.T


def pixel_factor(cell_arcsec: float, beam: np.ndarray) -> np.ndarray:
    """Jy/sr -> apparent Jy/pixel: pixel solid angle times the primary beam."""
    return (cell_arcsec * ARCSEC) ** 2 * beam


class Response(ift.LinearOperator):
    """Exact R: sky (Jy/sr, image domain) -> visibilities (Jy, unstructured), R-linear real -> complex."""

    def __init__(self, domain: ift.RGSpace, gridder: Gridder, factor: np.ndarray):
        self._domain = ift.DomainTuple.make(domain)
        self._target = ift.DomainTuple.make(ift.UnstructuredDomain(gridder.uvw.shape[0]))
        self._capability = self.TIMES | self.ADJOINT_TIMES
        self.gridder, self.factor = gridder, factor

    def apply(self, x, mode):
        self._check_input(x, mode)
        if mode == self.TIMES:
            return ift.makeField(self._target, self.gridder.degrid(x.val * self.factor))
        return ift.makeField(self._domain, self.gridder.grid(x.val, self._domain.shape[0]) * self.factor)


class ImagePlaneNormal:
    """R_b^T W_b R_b per spectral window b as FFT convolutions, plus what the likelihood needs besides.

    With s the sky (Jy/sr) and f the pixel factor, sum_b beta_b 0.5 |d_b - R_b s|^2_{W_b} =
    sum_b beta_b (0.5 (f s) T_b (f s) - (f s) j_b + c_b), where T_b is the convolution with window b's
    PSF, j_b its weighted dirty image (not normalised) and c_b = 0.5 d_b^H W_b d_b.
    """

    def __init__(self, obs: Observation, npix: int, gridder: Gridder, factor: np.ndarray,
                 kernel_epsilon: float = 1e-9):
        if gridder.wgridding:
            raise ValueError(f"{obs.ms}: response.mode psf assumes no w-term, but this field needs w-correction; "
                             "use response.mode: exact")
        self.npix, self.factor = npix, factor
        self.nspw = len(obs.spws)
        self.counts = np.bincount(obs.spw_index, minlength=self.nspw).astype(float)
        self._weight_sqrt = np.sqrt(obs.weight)
        self._spw_index = obs.spw_index
        self._gridder = gridder
        accurate = Gridder(obs.uvw, gridder.cell_arcsec, min(kernel_epsilon, gridder.epsilon), False)
        kernels, dirty, const = [], [], []
        for b in range(self.nspw):
            sel = obs.spw_index == b
            sub = Gridder(obs.uvw[sel], gridder.cell_arcsec, accurate.epsilon, False)
            psf = sub.grid(obs.weight[sel].astype(np.complex128), 2 * npix)
            kernels.append(self._rfft(np.fft.ifftshift(psf)).real)
            dirty.append(sub.grid(obs.weight[sel] * obs.vis[sel], npix))
            const.append(0.5 * np.sum(obs.weight[sel] * np.abs(obs.vis[sel]) ** 2))
        self.kernels, self.dirty, self.const = np.array(kernels), np.array(dirty), np.array(const)
        self._combined = (None, None)
        # rfft keeps half of the spectrum: columns 0 and npix are their own mirror, the others count twice
        self._parseval = np.full(npix + 1, 2.0)
        self._parseval[[0, npix]] = 1.0
        self._parseval /= (2 * npix) ** 2

    @staticmethod
    def _rfft(image):
        """Single-threaded, as :meth:`convolve`'s inverse: from 256 x 256 on, ducc0's real FFTs round
        differently on another thread count (its complex and Hartley transforms do not)."""
        return ducc0.fft.r2c(image, nthreads=1)

    def transform(self, shat: np.ndarray) -> np.ndarray:
        """Spectrum of the apparent sky ``f s`` zero-padded to the doubled grid."""
        padded = np.zeros((2 * self.npix, 2 * self.npix))
        padded[:self.npix, :self.npix] = shat
        return self._rfft(padded)

    def quadratic(self, spectrum: np.ndarray) -> np.ndarray:
        """0.5 (f s) T_b (f s) per window, from the spectrum by Parseval."""
        power = (spectrum.real ** 2 + spectrum.imag ** 2) * self._parseval
        return 0.5 * np.array([np.vdot(kernel, power) for kernel in self.kernels])

    def _combine(self, beta: np.ndarray, stack: np.ndarray) -> np.ndarray:
        """sum_b beta_b stack_b; beta changes only between minimiser steps, so the last result is kept."""
        key = (id(stack), beta.tobytes())
        if self._combined[0] != key:
            self._combined = (key, sum(b * item for b, item in zip(beta, stack)))
        return self._combined[1]

    def convolve(self, spectrum: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """sum_b beta_b T_b (f s), on the image grid."""
        out = ducc0.fft.c2r(spectrum * self._combine(beta, self.kernels), lastsize=2 * self.npix, forward=False,
                            inorm=2, nthreads=1)
        return out[:self.npix, :self.npix]

    def half_chi2(self, sky: np.ndarray):
        """0.5 sum_{k in b} w_k |d_k - (R s)_k|^2 per window b, and what :meth:`gradient` reuses."""
        shat = self.factor * sky
        spectrum = self.transform(shat)
        linear = np.array([np.vdot(dirty, shat) for dirty in self.dirty])
        return self.quadratic(spectrum) - linear + self.const, spectrum

    def gradient(self, spectrum: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """d/ds of sum_b beta_b half_chi2_b."""
        return self.factor * (self.convolve(spectrum, beta) - sum(b * d for b, d in zip(beta, self.dirty)))

    def apply_metric(self, x: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """sum_b beta_b R_b^T W_b R_b x."""
        return self.factor * self.convolve(self.transform(self.factor * x), beta)

    def draw(self, beta: np.ndarray) -> np.ndarray:
        """Sample of N(0, sum_b beta_b R_b^T W_b R_b), through the exact adjoint response."""
        return _draw(self._gridder, self.factor, self.npix, self._weight_sqrt * np.sqrt(beta[self._spw_index]))


class ExactNormal:
    """The quantities of :class:`ImagePlaneNormal`, gridding in every call (any w-term)."""

    def __init__(self, obs: Observation, R: Response):
        self.nspw = len(obs.spws)
        self.counts = np.bincount(obs.spw_index, minlength=self.nspw).astype(float)
        self.npix, self.factor = R.domain.shape[0], R.factor
        self._R, self._obs = R, obs

    def _field(self, x):
        return ift.makeField(self._R.domain, x)

    def half_chi2(self, sky: np.ndarray):
        residual = self._obs.vis - self._R(self._field(sky)).val
        per = 0.5 * np.bincount(self._obs.spw_index, weights=self._obs.weight * np.abs(residual) ** 2,
                                minlength=self.nspw)
        return per, residual

    def _adjoint(self, vis):
        return self._R.adjoint(ift.makeField(self._R.target, vis)).val

    def gradient(self, residual: np.ndarray, beta: np.ndarray) -> np.ndarray:
        return -self._adjoint(self._obs.weight * beta[self._obs.spw_index] * residual)

    def apply_metric(self, x: np.ndarray, beta: np.ndarray) -> np.ndarray:
        return self._adjoint(self._obs.weight * beta[self._obs.spw_index] * self._R(self._field(x)).val)

    def draw(self, beta: np.ndarray) -> np.ndarray:
        return _draw(self._R.gridder, self.factor, self.npix, np.sqrt(self._obs.weight * beta[self._obs.spw_index]))


def _draw(gridder: Gridder, factor: np.ndarray, npix: int, amplitude: np.ndarray) -> np.ndarray:
    """f G^T (amplitude xi), xi complex with unit-variance real and imaginary parts: covariance f G^T A^2 G f."""
    rng = ift.random.current_rng()
    xi = rng.normal(size=amplitude.size) + 1j * rng.normal(size=amplitude.size)
    return factor * gridder.grid(amplitude * xi, npix)
