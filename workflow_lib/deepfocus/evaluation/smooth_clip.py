"""Smooth-and-clip, the 3-D source finder of SoFiA (Serra et al. 2012; SoFiA-2, Westmeier et al. 2021), on
scipy.ndimage: the classical line-cube baseline beside PyBDSF.

SoFiA-2 itself does not install from the package registries; this is its algorithm with its default
parameters (``deepfocus.evaluation.smooth_clip``), called "smooth-and-clip (SoFiA algorithm)", not SoFiA. It
reads the continuum-subtracted cube (each pixel's sigma-clipped median over channels removed, as ``imcontsub``
at order 0 with the line channels excluded), as line finders are run:

1. **Smooth and clip**: every combination of a spatial Gaussian (FWHM ``kernels_xy`` pixels, 0 = none) and a
   spectral boxcar (``kernels_z`` channels, 0 = none) smooths the cube; voxels beyond +-``threshold`` times the
   smoothed cube's noise (the MAD of its negative voxels) join the positive or the negative mask.
2. **Link**: 26-connected components of each mask (SoFiA's linker radius 1); components narrower than
   ``min_size_xy`` pixels or ``min_size_z`` channels are dropped.
3. **Reliability**: positive and negative detections of all cubes of a set, in (log peak, log sum, log mean
   SNR) of the unsmoothed cube; Gaussian kernels whose widths are ``scale_kernel`` times the negatives' spread
   give the densities P and N at each positive detection, R = (P - N) / P; a detection is kept with R >=
   ``reliability`` and integrated SNR (sum / (rms sqrt(n))) >= ``min_snr``. The noise is symmetric, so the
   negatives sample the false positives without any truth. With fewer than ``MIN_NEGATIVES`` negatives R is
   not estimable and only the SNR cut applies (logged).
4. **Parameters**: position, size and line range from Gaussian moments over the emission above 15% of its peak
   inside the detection's mask (moment-0 image over its channels, then its spectrum), corrected for that
   truncation; boxes as the truth's (the source through the beam down to 15% of its peak, line centre +- FWHM).

Not SoFiA's: its flux replacement between kernels, the noise scaling per channel and the kinematic parameters.
A bright line wider than a few channels still shifts its pixels' continuum estimate, leaving a faint pedestal
(emission) or bowl (absorption) in the other channels that the largest kernels can pick up.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from astropy.table import Table, vstack
from scipy import ndimage

from ... import fitsio, provenance
from ...dataset.torch_dataset import CubeDataset
from .. import geometry
from ..pipeline import BOX_COLUMNS
from ..preprocess import MAD_TO_SIGMA
from ..trainsets import batches

log = logging.getLogger(__name__)
MIN_NEGATIVES = 5
LEVEL = geometry.FOOTPRINT_LEVEL
# second moment of a Gaussian cut at LEVEL of its peak over the full one's: 2-D (radial) and 1-D
_T = -math.log(LEVEL)
TRUNCATED_2D = 1 - _T * LEVEL / (1 - LEVEL)
TRUNCATED_1D = 1 - 2 * math.sqrt(2 * _T) * LEVEL / math.sqrt(2 * math.pi) / math.erf(math.sqrt(_T))
COLUMNS = ("x_pix", "y_pix", "z_pix", *BOX_COLUMNS, "peak_snr", "sum_snr", "mean_snr", "reliability", "n_pix")


def noise(cube: np.ndarray) -> float:
    """MAD of the negative voxels (SoFiA's default statistic): emission does not bias it."""
    negative = cube[cube < 0]
    return float(MAD_TO_SIGMA * np.median(-negative)) if negative.size else 0.0


def continuum(cube: np.ndarray, clip: float = 3.0, iterations: int = 2) -> np.ndarray:
    """Each pixel's median over the channels within ``clip`` sigma of it (iterated): a bright line would
    shift the plain median and leave a bowl or a pedestal in the other channels."""
    level = np.median(cube, axis=0)
    for _ in range(iterations):
        residual = cube - level
        sigma = MAD_TO_SIGMA * np.median(np.abs(residual), axis=0)
        level = np.nanmedian(np.where(np.abs(residual) <= clip * sigma, cube, np.nan), axis=0)
    return level


def masks(cube: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative smooth-and-clip masks of one cube (chan, y, x)."""
    positive = np.zeros(cube.shape, dtype=bool)
    negative = np.zeros(cube.shape, dtype=bool)
    for fwhm in settings["kernels_xy"]:
        spatial = ndimage.gaussian_filter(cube, (0, fwhm / 2.3548, fwhm / 2.3548), mode="constant") if fwhm \
            else cube
        for width in settings["kernels_z"]:
            smooth = ndimage.uniform_filter1d(spatial, int(width), axis=0, mode="constant") if width > 1 \
                else spatial
            rms = noise(smooth)
            if rms > 0:
                positive |= smooth > settings["threshold"] * rms
                negative |= smooth < -settings["threshold"] * rms
    return positive, negative


def components(mask: np.ndarray, settings: dict) -> list[tuple[slice, ...]]:
    """Voxel index arrays of the linked components at least min_size_xy pixels across and min_size_z deep."""
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    out = []
    for k, where in enumerate(ndimage.find_objects(labels), start=1):
        z, y, x = (s.stop - s.start for s in where)
        if max(x, y) >= settings["min_size_xy"] and z >= settings["min_size_z"]:
            out.append(np.nonzero(labels == k))
    return out


def snrs(values: np.ndarray, rms: float) -> tuple[float, float, float]:
    """(peak, integrated, mean) SNR of a detection's voxel values."""
    return values.max() / rms, values.sum() / (rms * np.sqrt(values.size)), values.mean() / rms


def reliability(positive: np.ndarray, negative: np.ndarray, scale_kernel: float) -> np.ndarray:
    """R = (P - N) / P at each positive detection (rows of log SNRs), densities from Gaussian kernels."""
    if len(negative) < MIN_NEGATIVES:
        log.warning("smooth-and-clip: %d negative detections (< %d), reliability not estimable; SNR cut only",
                    len(negative), MIN_NEGATIVES)
        return np.ones(len(positive))
    inverse = np.linalg.inv(np.cov(negative, rowvar=False) * scale_kernel**2)

    def density(points, at):
        d = at[:, None, :] - points[None, :, :]
        return np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", d, inverse, d)).sum(axis=1)

    p, n = density(positive, positive), density(negative, positive)
    return (p - n) / p


def parameters(cube: np.ndarray, voxels) -> dict:
    """Position, 3-D box and line range of one detection from truncation-corrected Gaussian moments."""
    z, y, x = voxels
    z0, z1 = z.min(), z.max() + 1
    moment0 = cube[z0:z1].sum(axis=0)
    inside = np.zeros(moment0.shape, dtype=bool)
    inside[y, x] = True
    yp, xp = np.unravel_index(np.argmax(np.where(inside, moment0, -np.inf)), moment0.shape)
    labels, _ = ndimage.label(inside & (moment0 >= LEVEL * moment0[yp, xp]))
    region = labels == labels[yp, xp]
    w = moment0 * region
    yy, xx = np.nonzero(region)
    weights = w[yy, xx]
    xc, yc = np.average(xx, weights=weights), np.average(yy, weights=weights)
    cov = np.cov(np.stack([xx, yy]), aweights=weights, bias=True) / TRUNCATED_2D
    spectrum = cube[:, region].sum(axis=1)
    zp = z0 + int(np.argmax(spectrum[z0:z1]))
    above = spectrum >= LEVEL * spectrum[zp]
    lo, hi = zp, zp
    while lo > z0 and above[lo - 1]:
        lo -= 1
    while hi < z1 - 1 and above[hi + 1]:
        hi += 1
    chans = np.arange(lo, hi + 1)
    zc = np.average(chans, weights=spectrum[lo:hi + 1])
    var = np.average((chans - zc) ** 2, weights=spectrum[lo:hi + 1]) / TRUNCATED_1D
    fwhm = max(np.sqrt(var) / 0.42466, 1.0)
    box = geometry.clip_box(geometry.box_3d(geometry.footprint_box(xc, yc, cov), geometry.line_range(zc, fwhm)),
                            cube.shape)
    return {"x_pix": float(xc), "y_pix": float(yc), "z_pix": float(zc), **dict(zip(BOX_COLUMNS, map(float, box)))}


def find(cubes: list[np.ndarray], settings: dict) -> list[Table]:
    """Smooth-and-clip catalogues of a set of cubes (reliability over the whole set)."""
    found, negatives = [], []
    for cube in cubes:
        cube = np.nan_to_num(np.asarray(cube, dtype=np.float64))
        cube = cube - continuum(cube)
        rms = noise(cube)
        pos_mask, neg_mask = masks(cube, settings)
        rows = []
        for voxels in components(pos_mask, settings):
            values = cube[voxels]
            if values.sum() > 0 and values.max() > 0:
                rows.append((voxels, snrs(values, rms)))
        for voxels in components(neg_mask, settings):
            values = -cube[voxels]
            if values.sum() > 0 and values.max() > 0:
                negatives.append(snrs(values, rms))
        found.append((cube, rows))
    positive = np.log10([s for _, rows in found for _, s in rows]).reshape(-1, 3)
    r = reliability(positive, np.log10(negatives).reshape(-1, 3), settings["scale_kernel"])
    tables, k = [], 0
    for cube, rows in found:
        table = Table(names=COLUMNS, dtype=[float] * len(COLUMNS))
        for voxels, (peak, total, mean) in rows:
            if r[k] >= settings["reliability"] and total >= settings["min_snr"]:
                table.add_row({**parameters(cube, voxels), "peak_snr": peak, "sum_snr": total, "mean_snr": mean,
                               "reliability": r[k], "n_pix": len(voxels[0])})
            k += 1
        tables.append(table)
    log.info("smooth-and-clip: %d cubes, %d positive and %d negative detections, %d kept", len(cubes),
             len(positive), len(negatives), sum(len(t) for t in tables))
    return tables


def _write(tables: list[Table], names: list, out: str, params) -> None:
    for table, name in zip(tables, names, strict=True):
        table.add_column(np.full(len(table), name), name="cube", index=0)
    merged = vstack(tables) if tables else Table(names=("cube", *COLUMNS))
    merged.meta.update(provenance.record(params))
    merged.write(out, format="ascii.ecsv", overwrite=True)


def test_catalogue(*, manifest: str, out: str, smooth_clip: dict, params=None) -> None:
    """Smooth-and-clip on every cube of the ducc test split; catalogue ``out`` (``cube`` = the cube index)."""
    ds = CubeDataset(manifest, "test", ("dirty",))
    cubes = [cube for _, arrays in batches(ds, 16) for cube in arrays["dirty"]]
    _write(find(cubes, smooth_clip), list(ds.indices), out, params)


def fits_catalogue(*, cubes: list[str], names: list[str], out: str, smooth_clip: dict, params=None) -> None:
    """Smooth-and-clip on FITS dirty cubes (the independent test set); ``cube`` = their ``names``."""
    _write(find([fitsio.read_cube(path)[0] for path in cubes], smooth_clip), names, out, params)
