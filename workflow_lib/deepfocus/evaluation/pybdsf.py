"""PyBDSF, the classical source finder, on the integrated (dirty or tCLEAN) images of the test cubes.

PyBDSF runs with hard thresholds, a constant noise map (the images are a few
beams wide, too small for its box-wise RMS map) and island/pixel thresholds
low enough that a cut on each source's peak SNR afterwards reproduces any
stricter ``thresh_pix`` (a source is kept if its peak exceeds thresh_pix x
RMS). Each
source's box is the footprint box of its fitted Gaussian, which is the
source convolved with the beam: the definition DeepFocus's boxes follow
(see :mod:`..deepfocus.geometry`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io.fits.verify import VerifyWarning
from astropy.table import Table, vstack

from ... import fitsio, provenance
from ...dataset.torch_dataset import CubeDataset
from .. import geometry
from ..pipeline import continuum_grid
from ..preprocess import measured_snrs
from ..trainsets import batches, dataset_meta

# Gaussians of an island form one source if they overlap this much: PyBDSF's default (1.0) joins the
# neighbours of these crowded fields (sources 1 arcsec apart, 0.9 arcsec beam); 0.5 recovers ~4% more of them
GROUP_TOL = 0.5
COLUMNS = ("x_pix", "y_pix", "fwhm_major_pix", "fwhm_minor_pix", "pa_deg", "peak", "rms", "snr",
           "box_x0", "box_y0", "box_x1", "box_y1")  # pixels, deg, Jy/beam; snr = peak / rms


@contextlib.contextmanager
def _without_gc_collect():
    """PyBDSF calls gc.collect() after each of its steps: most of its run time on small images, no effect here."""
    collect = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        yield
    finally:
        gc.collect = collect


def empty_table() -> Table:
    return Table(names=COLUMNS, dtype=[float] * len(COLUMNS))


def find_sources(image: np.ndarray, grid: fitsio.Grid, beam: geometry.Beam, thresh_isl: float, thresh_pix: float,
                 workdir: str | Path) -> Table:
    """PyBDSF sources of a 2-D image in Jy/beam on a one-channel ``grid``; ``beam`` in pixels."""
    import bdsf

    if np.ptp(image) == 0:  # PyBDSF stops on an image without noise: nothing to find there
        return empty_table()
    scratch = Path(tempfile.mkdtemp(prefix=".pybdsf.", dir=workdir))
    try:
        path = scratch / "image.fits"
        cell = grid.cell_arcsec
        fitsio.write_cube(path, image, grid.header("Jy/beam"),
                          beam=(beam.fwhm_major * cell, beam.fwhm_minor * cell, beam.pa_deg))
        logging.getLogger("PyBDSF").propagate = False  # its own log file gets the parameter dump
        with _without_gc_collect(), contextlib.redirect_stdout(None):
            result = bdsf.process_image(str(path), thresh="hard", thresh_isl=thresh_isl, thresh_pix=thresh_pix,
                                        rms_map=False, mean_map="const", group_tol=GROUP_TOL, quiet=True, ncores=1)
        if result.nsrc == 0:
            return empty_table()
        catalogue = scratch / "sources.fits"
        with contextlib.redirect_stdout(None), warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)  # PyBDSF's long header comments
            result.write_catalog(outfile=str(catalogue), format="fits", catalog_type="srl", clobber=True)
        found = Table.read(catalogue)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    x, y = grid.celestial_wcs().world_to_pixel_values(np.asarray(found["RA"]), np.asarray(found["DEC"]))
    table = empty_table()
    for xi, yi, row in zip(np.atleast_1d(x), np.atleast_1d(y), found):
        major = float(row["Maj_img_plane"]) * fitsio.ARCSEC_PER_DEG / cell
        minor = float(row["Min_img_plane"]) * fitsio.ARCSEC_PER_DEG / cell
        pa = float(row["PA_img_plane"]) % 180.0
        box = geometry.clip_box(geometry.footprint_box(xi, yi, geometry.covariance(major, max(minor, 1e-3), pa)),
                                image.shape)
        rms = float(row["Isl_rms"])
        table.add_row([xi, yi, major, minor, pa, float(row["Peak_flux"]), rms, float(row["Peak_flux"]) / rms, *box])
    return table


def test_catalogues(*, manifest: str, tclean_cubes: list[int], tclean_images: list[str], thresh_isl: float,
                    thresh_pix: float, dirty: str, tclean: str, params=None) -> None:
    """PyBDSF on the integrated dirty image of every test cube (catalogue ``dirty``) and on the integrated
    tCLEAN ``tclean_images`` of the ``tclean_cubes`` (catalogue ``tclean``).

    Each source also gets the measured SNR every method's detections are
    binned by (:func:`..preprocess.measured_snr` on the dirty cube).
    """
    out_dirty, out_tclean = dirty, tclean
    tclean_files = dict(zip(tclean_cubes, tclean_images, strict=True))
    ds = CubeDataset(manifest, "test", ("dirty",))
    grid = continuum_grid(ds.grid())
    dirty_beam = geometry.Beam(**dataset_meta(manifest)["beam"])
    workdir = Path(out_dirty).parent
    workdir.mkdir(parents=True, exist_ok=True)
    found = {"dirty": [], "tclean": []}
    for indices, arrays in batches(ds, 16):
        for index, cube in zip(indices, arrays["dirty"]):
            images = {"dirty": (cube.sum(axis=0), dirty_beam)}
            if index in tclean_files:
                image, header = fitsio.read_cube(tclean_files[index])
                images["tclean"] = (np.nan_to_num(image).sum(axis=0),
                                    geometry.Beam.from_arcsec(fitsio.beam_arcsec(header), grid.cell_arcsec))
            for kind, (image, beam) in images.items():
                found[kind].append(_cube_sources(image, cube, grid, beam, index, thresh_isl, thresh_pix, workdir))
    for kind, path in (("dirty", out_dirty), ("tclean", out_tclean)):
        _write(found[kind], np.int64, path, params)


def fits_catalogue(*, cubes: list[str], names: list[str], thresh_isl: float, thresh_pix: float, out: str,
                   params=None) -> None:
    """PyBDSF on the integrated image of each FITS dirty cube (the independent test set), with the cube's own
    restoring beam; catalogue ``out`` with the cubes' ``names`` in its ``cube`` column."""
    found = []
    workdir = Path(out).parent
    workdir.mkdir(parents=True, exist_ok=True)
    for path, name in zip(cubes, names, strict=True):
        cube, header = fitsio.read_cube(path)
        grid = continuum_grid(fitsio.Grid.from_header(header, path))
        beam = fitsio.read_beam(path)
        if beam is None:
            raise ValueError(f"{path}: no restoring beam (BMAJ or a BEAMS table) for PyBDSF")
        beam = geometry.Beam.from_arcsec(beam, grid.cell_arcsec)
        found.append(_cube_sources(cube.sum(axis=0), cube, grid, beam, name, thresh_isl, thresh_pix, workdir))
    _write(found, str, out, params)


def _cube_sources(image, cube, grid, beam, name, thresh_isl, thresh_pix, workdir) -> Table:
    """PyBDSF's sources of one integrated ``image`` with the measured SNR on its ``cube`` and a ``cube`` column."""
    table = find_sources(image, grid, beam, thresh_isl, thresh_pix, workdir)
    table["measured_snr"] = measured_snrs(cube, zip(table["x_pix"], table["y_pix"]))
    table.add_column(np.full(len(table), name), name="cube", index=0)
    return table


def _write(tables: list[Table], cube_dtype, path: str, params) -> None:
    table = vstack(tables) if tables else empty_table()
    if "cube" not in table.colnames:  # no image of this kind
        table.add_column(np.zeros(0, dtype=cube_dtype), name="cube", index=0)
        table["measured_snr"] = np.zeros(0)
    table.meta.update(provenance.record(params))
    table.write(path, format="ascii.ecsv", overwrite=True)
