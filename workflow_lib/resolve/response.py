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

A mosaic is one sky seen through several pointings: each pointing's
visibilities keep their own phase centre (the gridder is told where the
image centre lies from it) and see the sky through the primary beam centred
on that pointing. The response is the stack of the pointings' responses; the
normal operator the sum of theirs, each with its own PSF per window.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import ducc0
import nifty8 as ift
import numpy as np
from scipy.special import j1

from ..units import ARCSEC, C_LIGHT
from .observation import Observation, Pointing

# uvw are handed to ducc0 in wavelengths, so the "frequency" that scales them is c
_UNIT_FREQ = np.array([C_LIGHT])
# CASA's ALMA 12 m voltage pattern (vpmanager): Airy disk of a 10.7 m effective aperture with 0.75 m blockage.
# Reproduces tclean's .pb images to 1%. Whatever other DISH_DIAMETER an ANTENNA table says (importuvfits writes
# 25 m), ALMA's main-array dishes are 12 m; 7 m dishes (the ACA) take alma7m.
ALMA12M_EFFECTIVE_DIAMETER_M = 10.7
ALMA12M_BLOCKAGE_M = 0.75
# the ACA's 7 m dishes: no Airy pattern matches CASA's beam better than 2.5%, so it is CASA's own, tabulated
# (power against radius x frequency, benchmarks/aca_primary_beam.py)
ACA_DISH_M = 7.0
ALMA7M_TABLE = Path(__file__).with_name("data") / "alma7m_pb.csv"
BEAM_DISHES = {"alma12m": 12.0, "alma7m": ACA_DISH_M}   # the dish each model is for
# w-correction is switched on (wgridding: auto) when the w-term phase at the image corner exceeds this
W_PHASE_TOLERANCE_RAD = 0.05

log = logging.getLogger(__name__)


def image_domain(npix: int, cell_arcsec: float) -> ift.RGSpace:
    """Square image grid; distances in radians, so harmonic lengths are in wavelengths."""
    return ift.RGSpace((npix, npix), distances=cell_arcsec * ARCSEC)


def primary_beam(npix: int, cell_arcsec: float, freq_hz: float, model: str,
                 centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Power pattern at ``freq_hz`` on the image grid, pointed at ``centre`` (l east, m north, radians from
    the image centre, pixel npix // 2)."""
    if model == "none":
        return np.ones((npix, npix))
    if model not in BEAM_DISHES:
        raise ValueError(f"primary_beam: unknown model {model!r} ({', '.join(BEAM_DISHES)} or none)")
    offsets = (np.arange(npix) - npix // 2) * cell_arcsec * ARCSEC
    l, m = np.meshgrid(-offsets, offsets)   # FITS orientation: RA (l) grows to the left
    radius = np.hypot(l - centre[0], m - centre[1])
    if model == "alma7m":
        x_table, power = _alma7m_table()
        return np.interp(radius / ARCSEC * freq_hz / 1e9, x_table, power, right=0.0)
    x = np.pi * ALMA12M_EFFECTIVE_DIAMETER_M / (C_LIGHT / freq_hz) * radius
    eps = ALMA12M_BLOCKAGE_M / ALMA12M_EFFECTIVE_DIAMETER_M
    x = np.where(x == 0, 1e-12, x)
    amplitude = (2 * j1(x) / x - eps * 2 * j1(eps * x) / x) / (1 - eps ** 2)
    return amplitude ** 2


@functools.cache
def _alma7m_table() -> tuple[np.ndarray, np.ndarray]:
    """(radius x frequency in arcsec GHz, power) of CASA's 7 m beam; zero beyond the last row, as in CASA."""
    table = np.loadtxt(ALMA7M_TABLE, delimiter=",", comments="#", skiprows=2)
    return table[:, 0], table[:, 1]


def check_dishes(obs: Observation, beam_model: str) -> None:
    """Refuse a primary-beam model made for other dishes than the ANTENNA table's (a heterogeneous array, which
    needs a beam per baseline, included); importuvfits's 25 m default counts as ALMA's 12 m."""
    dishes = {ACA_DISH_M if d == ACA_DISH_M else 12.0 for d in obs.dish_diameters_m}
    if beam_model == "none" or not dishes:
        return
    if len(dishes) > 1:
        raise ValueError(f"{obs.ms}: the ANTENNA table has {sorted(obs.dish_diameters_m)} m dishes: a heterogeneous "
                         "array needs a primary beam per baseline, which is not modelled; image each array alone")
    (dish,) = dishes
    if dish != BEAM_DISHES[beam_model]:
        right = next(m for m, d in BEAM_DISHES.items() if d == dish)
        raise ValueError(f"{obs.ms}: the ANTENNA table says {dish:g} m dishes, but image.primary_beam is "
                         f"{beam_model}; use primary_beam: {right}")


def sin_offset(ra0_deg: float, dec0_deg: float, ra_deg: float, dec_deg: float) -> tuple[float, float]:
    """Direction cosines (l east, m north) of (ra, dec) in the SIN projection about (ra0, dec0); exactly zero
    for the same direction (a single field's phase centre)."""
    if (ra0_deg, dec0_deg) == (ra_deg, dec_deg):
        return 0.0, 0.0
    ra0, dec0, ra, dec = np.deg2rad([ra0_deg, dec0_deg, ra_deg, dec_deg])
    l = np.cos(dec) * np.sin(ra - ra0)
    m = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(ra - ra0)
    return float(l), float(m)


def w_phase(obs: Observation, npix: int, cell_arcsec: float) -> float:
    """Largest w-term phase (rad) in the image: 2 pi |w| (1 - n) at the corner farthest from a phase centre."""
    offset = max(np.hypot(*sin_offset(p.ra_deg, p.dec_deg, obs.ra_deg, obs.dec_deg)) for p, _ in obs.pointing_rows())
    r2 = (np.sqrt(2) * npix / 2 * cell_arcsec * ARCSEC + offset) ** 2
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
    centre: tuple[float, float] = (0.0, 0.0)  # the image centre seen from the phase centre: l east, m north (rad)

    def _common(self):
        cell = self.cell_arcsec * ARCSEC
        # ducc0's image axes run against l (FITS x) and, with flip_v, against m: hence -l, -m (pinned by
        # tests/test_resolve_mosaic.py against simobserve's mosaic visibilities)
        return dict(freq=_UNIT_FREQ, pixsize_x=cell, pixsize_y=cell, epsilon=self.epsilon,
                    do_wgridding=self.wgridding, nthreads=1, flip_v=True, center_x=-self.centre[0],
                    center_y=-self.centre[1])

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


@dataclass(frozen=True)
class PointingResponse:
    """One pointing on one image plane (a cube's channel; the only plane of an image): its visibilities' rows
    in the observation, their gridder and the pixel factor (pixel solid angle times the primary beam centred on
    the pointing)."""

    pointing: Pointing
    rows: np.ndarray | slice
    gridder: Gridder
    beam: np.ndarray     # power pattern on the image grid
    factor: np.ndarray
    plane: int = 0


def pointing_responses(obs: Observation, npix: int, cell_arcsec: float, epsilon: float, wgridding: bool,
                       beam_model: str) -> list[PointingResponse]:
    """One :class:`PointingResponse` per pointing and plane of ``obs`` (one for a single-field image) on the
    image grid centred at (``obs.ra_deg``, ``obs.dec_deg``); a mosaic needs a primary beam. A cube's planes
    see the beam at their own frequency, an image at the data's mean frequency."""
    if obs.is_mosaic and beam_model == "none":
        raise ValueError(f"{obs.ms}: a mosaic of {len(obs.pointings)} pointings needs each pointing's primary "
                         "beam (image.primary_beam alma12m); without it the pointings cannot be told apart")
    check_dishes(obs, beam_model)
    out = []
    for pointing, plane, rows, gridder in pointing_gridders(obs, cell_arcsec, epsilon, wgridding):
        at = sin_offset(obs.ra_deg, obs.dec_deg, pointing.ra_deg, pointing.dec_deg)
        freq = obs.channel_freqs_hz[plane] if obs.channel_freqs_hz else obs.mean_freq_hz
        beam = primary_beam(npix, cell_arcsec, freq, beam_model, at)
        out.append(PointingResponse(pointing, rows, gridder, beam, pixel_factor(cell_arcsec, beam), plane))
    return out


def pointing_gridders(obs: Observation, cell_arcsec: float, epsilon: float, wgridding: bool
                      ) -> list[tuple[Pointing, int, np.ndarray | slice, Gridder]]:
    """Each pointing and plane of ``obs`` (:meth:`.Observation.blocks`), its rows and the gridder of its
    visibilities onto the image grid."""
    return [(pointing, plane, rows, Gridder(obs.uvw[rows], cell_arcsec, epsilon, wgridding,
                                            sin_offset(pointing.ra_deg, pointing.dec_deg, obs.ra_deg, obs.dec_deg)))
            for pointing, plane, rows in obs.blocks()]


def planes(image: np.ndarray) -> np.ndarray:
    """An image ``(ny, nx)`` or cube ``(nplanes, ny, nx)`` as ``(nplanes, ny, nx)`` (a view)."""
    return image.reshape((-1,) + image.shape[-2:])


def predict(pointings: list[PointingResponse], image: np.ndarray, nvis: int) -> np.ndarray:
    """Visibilities of a sky ``image`` (or cube) in Jy/pixel seen through each pointing's primary beam."""
    vis = np.empty(nvis, dtype=np.complex128)
    cube = planes(image)
    for p in pointings:
        vis[p.rows] = p.gridder.degrid(cube[p.plane] * p.beam)
    return vis


class Response(ift.LinearOperator):
    """Exact R: sky (Jy/sr, image or cube domain) -> visibilities (Jy, unstructured), R-linear real -> complex.

    The stack of the pointings' (and a cube's planes') responses, each filling its own rows of the
    visibilities from its own plane of the sky.
    """

    def __init__(self, domain, pointings: list[PointingResponse], nvis: int):
        self._domain = ift.DomainTuple.make(domain)
        self._target = ift.DomainTuple.make(ift.UnstructuredDomain(nvis))
        self._capability = self.TIMES | self.ADJOINT_TIMES
        self.pointings = pointings

    @functools.cached_property
    def factor(self) -> np.ndarray:
        """Pixel factor of the best-placed pointing at each pixel (the only one for a single field), in the
        domain's shape."""
        out = np.zeros(self._domain.shape)
        cube = planes(out)
        for p in self.pointings:
            np.maximum(cube[p.plane], p.factor, out=cube[p.plane])
        return out

    def apply(self, x, mode):
        self._check_input(x, mode)
        if mode == self.TIMES:
            vis = np.empty(self._target.shape, dtype=np.complex128)
            cube = planes(x.val)
            for p in self.pointings:
                vis[p.rows] = p.gridder.degrid(cube[p.plane] * p.factor)
            return ift.makeField(self._target, vis)
        out = np.zeros(self._domain.shape)
        cube = planes(out)
        npix = cube.shape[-1]
        for p in self.pointings:
            cube[p.plane] += p.gridder.grid(x.val[p.rows], npix) * p.factor
        return ift.makeField(self._domain, out)


class ImagePlaneNormal:
    """R_b^T W_b R_b per spectral window b as FFT convolutions, plus what the likelihood needs besides.

    With s the sky (Jy/sr) and f the pixel factor, sum_b beta_b 0.5 |d_b - R_b s|^2_{W_b} =
    sum_b beta_b (0.5 (f s) T_b (f s) - (f s) j_b + c_b), where T_b is the convolution with window b's
    PSF, j_b its weighted dirty image (not normalised) and c_b = 0.5 d_b^H W_b d_b. A mosaic has one such
    block per pointing and window, with the pointing's own f, T and j; a window's sums add its pointings'. A
    cube has one per pointing and channel, each on its own plane of the sky.
    """

    def __init__(self, obs: Observation, R: Response, kernel_epsilon: float = 1e-9):
        if any(p.gridder.wgridding for p in R.pointings):
            raise ValueError(f"{obs.ms}: response.mode psf assumes no w-term, but this field needs w-correction; "
                             "use response.mode: exact")
        self.npix = npix = R.domain.shape[-1]
        self.nspw = len(obs.spws)
        self.counts = np.bincount(obs.spw_index, minlength=self.nspw).astype(float)
        self._R = R
        self._weight_sqrt = np.sqrt(obs.weight)
        self._spw_index = obs.spw_index
        self.factors = [p.factor for p in R.pointings]
        self._planes = [p.plane for p in R.pointings]
        self._shape = R.domain.shape
        kernels, dirty, const, self._block_spw, self._block_pointing = [], [], [], [], []
        for k, p in enumerate(R.pointings):
            uvw, weight, vis, spw = (a[p.rows] for a in (obs.uvw, obs.weight, obs.vis, obs.spw_index))
            for b in range(self.nspw):
                sel = spw == b
                if not sel.any():
                    continue
                # the PSF does not depend on where the phase centre is (R^H W R has no phase); j does
                epsilon = min(kernel_epsilon, p.gridder.epsilon)
                psf = Gridder(uvw[sel], p.gridder.cell_arcsec, epsilon, False).grid(
                    weight[sel].astype(np.complex128), 2 * npix)
                kernels.append(self._rfft(np.fft.ifftshift(psf)).real)
                sub = Gridder(uvw[sel], p.gridder.cell_arcsec, epsilon, False, p.gridder.centre)
                dirty.append(sub.grid(weight[sel] * vis[sel], npix))
                const.append(0.5 * np.sum(weight[sel] * np.abs(vis[sel]) ** 2))
                self._block_spw.append(b)
                self._block_pointing.append(k)
        self.kernels, self.dirty, self.const = np.array(kernels), np.array(dirty), np.array(const)
        self._block_spw = np.array(self._block_spw)
        self._pointing_blocks = [[k for k, q in enumerate(self._block_pointing) if q == p]
                                 for p in range(len(R.pointings))]
        self._combined = {}
        # rfft keeps half of the spectrum: columns 0 and npix are their own mirror, the others count twice
        self._parseval = np.full(npix + 1, 2.0)
        self._parseval[[0, npix]] = 1.0
        self._parseval /= (2 * npix) ** 2

    @staticmethod
    def _rfft(image):
        """Single-threaded, as :meth:`convolve`'s inverse: from 256 x 256 on, ducc0's real FFTs round
        differently on another thread count (its complex and Hartley transforms do not)."""
        return ducc0.fft.r2c(image, nthreads=1)

    def _per_spw(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self._block_spw, weights=values, minlength=self.nspw)

    def transform(self, shat: np.ndarray) -> np.ndarray:
        """Spectrum of an apparent sky ``f s`` zero-padded to the doubled grid."""
        padded = np.zeros((2 * self.npix, 2 * self.npix))
        padded[:self.npix, :self.npix] = shat
        return self._rfft(padded)

    def _combine(self, pointing: int, beta: np.ndarray) -> np.ndarray:
        """sum_b beta_b T_b of one pointing's blocks (in the spectral domain); beta changes only between
        minimiser steps, so the last result is kept."""
        key = beta.tobytes()
        cached = self._combined.get(pointing)
        if cached is None or cached[0] != key:
            cached = (key, sum(beta[self._block_spw[k]] * self.kernels[k] for k in self._pointing_blocks[pointing]))
            self._combined[pointing] = cached
        return cached[1]

    def convolve(self, spectrum: np.ndarray, pointing: int, beta: np.ndarray) -> np.ndarray:
        """sum_b beta_b T_b (f s) of one pointing, on the image grid."""
        out = ducc0.fft.c2r(spectrum * self._combine(pointing, beta), lastsize=2 * self.npix, forward=False,
                            inorm=2, nthreads=1)
        return out[:self.npix, :self.npix]

    def _accumulate(self, terms) -> np.ndarray:
        """The sky-shaped sum of (plane, image) terms."""
        out = np.zeros(self._shape)
        cube = planes(out)
        for plane, image in terms:
            cube[plane] += image
        return out

    def half_chi2(self, sky: np.ndarray):
        """0.5 sum_{k in b} w_k |d_k - (R s)_k|^2 per window b, and what :meth:`gradient` reuses."""
        cube = planes(sky)
        shats = [f * cube[plane] for f, plane in zip(self.factors, self._planes)]
        spectra = [self.transform(shat) for shat in shats]
        values = np.empty(len(self.kernels))
        for p, (spectrum, shat) in enumerate(zip(spectra, shats)):
            power = (spectrum.real ** 2 + spectrum.imag ** 2) * self._parseval   # once per pointing
            for k in self._pointing_blocks[p]:
                values[k] = 0.5 * np.vdot(self.kernels[k], power) - np.vdot(self.dirty[k], shat) + self.const[k]
        return self._per_spw(values), spectra

    def gradient(self, spectra: list[np.ndarray], beta: np.ndarray) -> np.ndarray:
        """d/ds of sum_b beta_b half_chi2_b."""
        return self._accumulate(
            (plane, f * (self.convolve(spectrum, p, beta)
                         - sum(beta[self._block_spw[k]] * self.dirty[k] for k in self._pointing_blocks[p])))
            for p, (f, plane, spectrum) in enumerate(zip(self.factors, self._planes, spectra)))

    def apply_metric(self, x: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """sum_b beta_b R_b^T W_b R_b x."""
        cube = planes(x)
        return self._accumulate((plane, f * self.convolve(self.transform(f * cube[plane]), p, beta))
                                for p, (f, plane) in enumerate(zip(self.factors, self._planes)))

    def draw(self, beta: np.ndarray) -> np.ndarray:
        """Sample of N(0, sum_b beta_b R_b^T W_b R_b), through the exact adjoint response."""
        return _draw(self._R, self._weight_sqrt * np.sqrt(beta[self._spw_index]))


class ExactNormal:
    """The quantities of :class:`ImagePlaneNormal`, gridding in every call (any w-term)."""

    def __init__(self, obs: Observation, R: Response):
        self.nspw = len(obs.spws)
        self.counts = np.bincount(obs.spw_index, minlength=self.nspw).astype(float)
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
        return _draw(self._R, np.sqrt(self._obs.weight * beta[self._obs.spw_index]))


def _draw(R: Response, amplitude: np.ndarray) -> np.ndarray:
    """R^T (amplitude xi), xi complex with unit-variance real and imaginary parts: covariance R^T A^2 R."""
    rng = ift.random.current_rng()
    xi = rng.normal(size=amplitude.size) + 1j * rng.normal(size=amplitude.size)
    return R.adjoint(ift.makeField(R.target, amplitude * xi)).val
