"""The extent of a source: beam fit, footprints, boxes and their overlaps.

One definition serves the Blobs Finder's training target, the boxes it
detects and the evaluation, so that a perfect detection has IoU 1 with the
truth: a source seen in a dirty image is its Gaussian convolved with the
beam; its *footprint* is that Gaussian scaled to unit peak, and its box is
where the footprint exceeds ``FOOTPRINT_LEVEL``. Along frequency a line
spans its centre +- FWHM.

Pixel centres sit at integer coordinates (0-based, pixel ``i`` covers
``[i - 0.5, i + 0.5]``). Position angles are east of north with east
towards -x, as in :mod:`workflow_lib.skymodels`. A box in k dimensions is
an array ``(lo_1, ..., lo_k, hi_1, ..., hi_k)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..units import FWHM_TO_SIGMA

FOOTPRINT_LEVEL = 0.15  # the Blobs Finder's detection threshold in the study


def covariance(fwhm_major: float, fwhm_minor: float, pa_deg: float) -> np.ndarray:
    """2x2 covariance (pixels^2, axes x, y) of an elliptical Gaussian."""
    theta = np.deg2rad(pa_deg)
    major = np.array([-np.sin(theta), np.cos(theta)])  # north = +y, east = -x
    minor = np.array([np.cos(theta), np.sin(theta)])
    return ((fwhm_major * FWHM_TO_SIGMA) ** 2 * np.outer(major, major)
            + (fwhm_minor * FWHM_TO_SIGMA) ** 2 * np.outer(minor, minor))


def gaussian_area(cov: np.ndarray) -> float:
    """Integral (pixels) of the unit-peak Gaussian of covariance ``cov``."""
    return float(2 * np.pi * np.sqrt(np.linalg.det(cov)))


def shape_of(cov: np.ndarray) -> tuple[float, float, float]:
    """(fwhm_major, fwhm_minor, pa_deg in [0, 180)) of a covariance: the inverse of :func:`covariance`."""
    values, vectors = np.linalg.eigh(cov)
    ex, ey = vectors[:, 1]
    pa = np.rad2deg(np.arctan2(-ex, ey)) % 180.0
    return float(np.sqrt(values[1]) / FWHM_TO_SIGMA), float(np.sqrt(max(values[0], 0.0)) / FWHM_TO_SIGMA), float(pa)


@dataclass(frozen=True)
class Beam:
    """Gaussian approximation of the dirty beam's main lobe, in pixels."""

    fwhm_major: float
    fwhm_minor: float
    pa_deg: float

    @property
    def cov(self) -> np.ndarray:
        return covariance(self.fwhm_major, self.fwhm_minor, self.pa_deg)

    @property
    def area(self) -> float:
        """Integral of the unit-peak Gaussian (pixels): Jy/beam x pixels -> Jy."""
        return gaussian_area(self.cov)

    @classmethod
    def from_arcsec(cls, beam: tuple[float, float, float], cell_arcsec: float) -> "Beam":
        """A restoring beam (bmaj, bmin arcsec, bpa deg; e.g. :func:`..fitsio.read_beam`) in pixels of
        ``cell_arcsec``."""
        return cls(beam[0] / cell_arcsec, beam[1] / cell_arcsec, beam[2])

    @classmethod
    def fit(cls, psf: np.ndarray) -> "Beam":
        """Least-squares fit of log(psf) as a quadratic form over the main lobe above half maximum.

        For a Gaussian the logarithm is exactly quadratic, so the fit is linear
        and needs no starting values.
        """
        psf = np.asarray(psf, dtype=float)
        y0, x0 = np.unravel_index(np.argmax(psf), psf.shape)
        psf = psf / psf[y0, x0]
        yy, xx = np.mgrid[: psf.shape[0], : psf.shape[1]]
        from scipy import ndimage

        labels, _ = ndimage.label(psf > 0.5)
        lobe = labels == labels[y0, x0]
        dx, dy = (xx - x0)[lobe], (yy - y0)[lobe]
        design = np.stack([dx * dx, 2 * dx * dy, dy * dy], axis=1)
        a, b, c = np.linalg.lstsq(design, -2 * np.log(psf[lobe]), rcond=None)[0]
        return cls(*shape_of(np.linalg.inv(np.array([[a, b], [b, c]]))))


def seen_covariance(fwhm_major: float, fwhm_minor: float, pa_deg: float, beam: Beam) -> np.ndarray:
    """Covariance of a source as the dirty image shows it: its own convolved with the beam."""
    return covariance(fwhm_major, fwhm_minor, pa_deg) + beam.cov


def footprint(shape: tuple[int, int], x: float, y: float, cov: np.ndarray) -> np.ndarray:
    """Unit-peak Gaussian of covariance ``cov`` centred on (x, y), on a ``(ny, nx)`` grid."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d = np.stack([xx - x, yy - y])
    inv = np.linalg.inv(cov)
    q = inv[0, 0] * d[0] ** 2 + 2 * inv[0, 1] * d[0] * d[1] + inv[1, 1] * d[1] ** 2
    return np.exp(-0.5 * q)


def truncated_variance(level: float) -> float:
    """Variance of a 2-D Gaussian cut where it falls below ``level`` of its peak, in units of the full variance."""
    cut = -2.0 * np.log(level)
    return float((1 - (1 + cut / 2) * np.exp(-cut / 2)) / (1 - np.exp(-cut / 2)))


def moments(image: np.ndarray, region: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre (x, y) and covariance of the Gaussian whose part above ``level`` of its peak is ``region``.

    Value-weighted first and second moments of the region (negative values
    count as zero), the variance corrected for the cut at ``level``.
    """
    ys, xs = np.nonzero(region)
    w = np.clip(image[ys, xs], 0, None).astype(float)
    if w.sum() <= 0:
        w = np.ones_like(w)
    centre = np.array([(w * xs).sum(), (w * ys).sum()]) / w.sum()
    cov = np.cov(np.stack([xs, ys]), aweights=w, bias=True) if w.size > 1 else np.zeros((2, 2))
    return centre, cov / truncated_variance(level)


def footprint_box(x: float, y: float, cov: np.ndarray, level: float = FOOTPRINT_LEVEL) -> np.ndarray:
    """Box ``(x0, y0, x1, y1)`` around the region where the footprint exceeds ``level``."""
    k = np.sqrt(-2.0 * np.log(level))
    hx, hy = k * np.sqrt(cov[0, 0]), k * np.sqrt(cov[1, 1])
    return np.array([x - hx, y - hy, x + hx, y + hy])


def line_range(centre: float, fwhm: float) -> np.ndarray:
    """1-D box of a line: centre +- FWHM (channels)."""
    return np.array([centre - fwhm, centre + fwhm])


def box_3d(box_2d, line) -> np.ndarray:
    """(x0, y0, z0, x1, y1, z1) from a 2-D box and a 1-D line range."""
    return np.array([box_2d[0], box_2d[1], line[0], box_2d[2], box_2d[3], line[1]])


def box_centre(box) -> np.ndarray:
    box = np.asarray(box, dtype=float)
    k = box.shape[-1] // 2
    return (box[..., :k] + box[..., k:]) / 2


def iou(a, b) -> np.ndarray:
    """Pairwise intersection over union of boxes ``a`` (N, 2k) and ``b`` (M, 2k) in any dimension k -> (N, M)."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    if a.size == 0 or b.size == 0:
        return np.zeros((a.shape[0] if a.size else 0, b.shape[0] if b.size else 0))
    k = a.shape[1] // 2
    lo = np.maximum(a[:, None, :k], b[None, :, :k])
    hi = np.minimum(a[:, None, k:], b[None, :, k:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    vol_a = np.prod(a[:, k:] - a[:, :k], axis=-1)
    vol_b = np.prod(b[:, k:] - b[:, :k], axis=-1)
    union = vol_a[:, None] + vol_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def clip_box(box, shape: tuple[int, ...]) -> np.ndarray:
    """Clip a box to the edges of an array of ``shape`` (axis order x, y[, z] = reversed array axes)."""
    box = np.asarray(box, dtype=float).copy()
    k = box.size // 2
    sizes = np.asarray(shape[::-1][:k], dtype=float)
    box[:k] = np.clip(box[:k], -0.5, sizes - 0.5)
    box[k:] = np.clip(box[k:], -0.5, sizes - 0.5)
    return box


def box_slices(box) -> tuple[slice, ...]:
    """Array slices (y, x) of the pixels whose centres lie inside a 2-D box."""
    x0, y0, x1, y1 = box
    xs = slice(max(int(np.ceil(x0)), 0), max(int(np.floor(x1)) + 1, 0))
    ys = slice(max(int(np.ceil(y0)), 0), max(int(np.floor(y1)) + 1, 0))
    return ys, xs


def source_boxes(sources, beam: Beam, cell_arcsec: float, shape: tuple[int, int, int]) -> np.ndarray:
    """3-D boxes (N, 6) of catalogue sources (truth columns), clipped to a cube of ``shape`` (nchan, ny, nx)."""
    boxes = []
    for s in sources:
        cov = seen_covariance(s["fwhm_major_arcsec"] / cell_arcsec, s["fwhm_minor_arcsec"] / cell_arcsec,
                              s["pa_deg"], beam)
        box = box_3d(footprint_box(s["x_pix"], s["y_pix"], cov), line_range(s["line_centre_chan"], s["line_fwhm_chan"]))
        boxes.append(clip_box(box, shape))
    return np.array(boxes).reshape(-1, 6)


def match(overlap: np.ndarray, minimum: float, allowed: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of rows (truth) and columns (predictions), largest overlap first.

    Pairs need ``overlap >= minimum`` and, if given, ``allowed`` True.
    """
    ok = overlap >= minimum
    if allowed is not None:
        ok &= allowed
    rows, cols = np.nonzero(ok)
    pairs, used_r, used_c = [], set(), set()
    for k in np.argsort(-overlap[rows, cols], kind="stable"):
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def suppress(boxes, scores, overlap: float) -> np.ndarray:
    """Indices (ascending) of the boxes kept by non-maximum suppression: of boxes overlapping with
    IoU >= ``overlap``, only the highest-scoring one survives."""
    boxes = np.asarray(boxes, dtype=float)
    kept: list[int] = []
    for k in np.argsort(-np.asarray(scores, dtype=float), kind="stable"):
        if not kept or iou(boxes[k], boxes[kept]).max() < overlap:
            kept.append(int(k))
    return np.array(sorted(kept), dtype=int)
