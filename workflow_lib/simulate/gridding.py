"""Dirty images from visibilities with ducc0's wgridder, in tclean's conventions.

Orientation: the returned image is ``(ny, nx)`` with RA increasing to the left
(FITS/CASA convention); normalisation is Jy/beam, i.e. divided by the sum of the
weights so that the PSF peaks at 1.
"""

from __future__ import annotations

import numpy as np
import ducc0

from ..units import ARCSEC


def dirty_image(uvw_m: np.ndarray, freqs_hz: np.ndarray, vis: np.ndarray, weight: np.ndarray, npix: int,
                cell_arcsec: float, epsilon: float = 1e-6, nthreads: int = 1) -> np.ndarray:
    """Natural (or given) weighted dirty image of ``vis`` ``(nrow, nchan)`` summed over channels."""
    vis = np.ascontiguousarray(vis, dtype=np.complex128)
    weight = np.ascontiguousarray(np.broadcast_to(weight, vis.shape), dtype=np.float64)
    img = ducc0.wgridder.experimental.vis2dirty(
        uvw=np.ascontiguousarray(uvw_m, dtype=np.float64), freq=np.asarray(freqs_hz, dtype=np.float64), vis=vis,
        wgt=weight, npix_x=npix, npix_y=npix, pixsize_x=cell_arcsec * ARCSEC, pixsize_y=cell_arcsec * ARCSEC,
        epsilon=epsilon, do_wgridding=False, nthreads=nthreads, flip_v=True)
    # ducc returns (x, y) with x along -l; flip_v makes +y north, as in FITS
    return img.T / weight.sum()
