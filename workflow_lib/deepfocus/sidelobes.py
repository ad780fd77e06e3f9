"""The sidelobes that sources beyond a Blobs Finder tile cast into it, taken out before the tile is read.

A training tile holds the sources behind all of its sidelobes; a tile of a larger field also carries the
sidelobes of its neighbours outside, which cost the Blobs Finder a third of its faint detections on
simulated wide fields (benchmarks/deepfocus_fields.md). Given the field's PSF, the integrated image is
CLEANed (Hogbom, point components down to ``clean_sigma`` times its robust RMS) and each tile loses the
PSF-convolved components that lie outside it: it then looks as a training tile does, its own sources and
their sidelobes kept. Only the Blobs Finder's input changes; every later stage reads the cube as it is.
"""

from __future__ import annotations

import numpy as np

from .preprocess import robust_rms


def place(psf: np.ndarray, y: int, x: int, shape: tuple[int, int]) -> np.ndarray:
    """``psf`` (peak at its pixel ``(ny // 2, nx // 2)``) moved to peak at pixel (y, x) of an image of
    ``shape`` and cut to it; beyond the PSF's own extent the result is zero."""
    out = np.zeros(shape)
    cy, cx = psf.shape[0] // 2, psf.shape[1] // 2
    y0, x0 = max(y - cy, 0), max(x - cx, 0)
    y1, x1 = min(y - cy + psf.shape[0], shape[0]), min(x - cx + psf.shape[1], shape[1])
    if y0 < y1 and x0 < x1:
        out[y0:y1, x0:x1] = psf[y0 - y + cy:y1 - y + cy, x0 - x + cx:x1 - x + cx]
    return out


def hogbom(image: np.ndarray, psf: np.ndarray, threshold: float, gain: float = 0.2,
           max_iter: int = 2000) -> list[tuple[int, int, float]]:
    """Point components ``(y, x, flux)`` of ``image`` until the residual's peak falls below ``threshold``
    (positive peaks only: the sources are emission)."""
    residual, components = np.asarray(image, dtype=float).copy(), []
    for _ in range(max_iter):
        y, x = np.unravel_index(np.argmax(residual), residual.shape)
        if residual[y, x] < threshold:
            break
        flux = gain * residual[y, x]
        residual -= flux * place(psf, y, x, residual.shape)
        components.append((int(y), int(x), float(flux)))
    return components


def tiles_without_outside(image: np.ndarray, psf: np.ndarray, clean_sigma: float, size: int,
                          starts: list[tuple[int, int]]) -> np.ndarray:
    """The ``size`` x ``size`` tiles of ``image`` at ``starts`` ((y, x) corners), each without the sidelobes
    of the components outside it; ``psf`` is the integrated image's, peak 1."""
    components = hogbom(image, psf, clean_sigma * robust_rms(image))
    tiles = []
    for y0, x0 in starts:
        tile = np.asarray(image, dtype=float).copy()
        for y, x, flux in components:
            if not (y0 <= y < y0 + size and x0 <= x < x0 + size):
                tile -= flux * place(psf, y, x, image.shape)
        tiles.append(tile[y0:y0 + size, x0:x0 + size])
    return np.stack(tiles)


def integrated_psf(psf_cube: np.ndarray) -> np.ndarray:
    """The PSF of a frequency-integrated image from a PSF cube (nchan, ny, nx): the channel mean, peak 1
    (over a training band the beam's size changes by well under 1%)."""
    psf = np.nan_to_num(np.asarray(psf_cube, dtype=float)).mean(axis=0)
    if psf.max() <= 0:
        raise ValueError("the PSF has no positive peak")
    return psf / psf.max()
