"""tCLEAN reference images, exported to FITS with beam keywords and provenance.

One call makes one image (dirty or a deconvolution method) of one measurement
set. CASA image directories (and casacore's TempLattice scratch images, which
go to the cwd) are written to a scratch directory and deleted after export;
only the FITS products are kept. Cubes use a common restoring
beam so that BMAJ/BMIN/BPA describe every channel.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fitsio import Grid

# the CASA image suffixes exported, as FITS ``<dir>/<method>.<suffix>.fits`` (the Snakefile reads these
# without importing astropy, so the heavy imports below are inside the functions)
PRODUCTS_DIRTY = ("image", "psf", "pb")
PRODUCTS_CLEAN = ("image", "image.pbcor", "residual", "model", "psf", "pb")


def product_key(suffix: str) -> str:
    """Keyword (and rule output name) of a CASA image suffix: ``image.pbcor`` -> ``image_pbcor``."""
    return suffix.replace(".", "_")


def product_files(directory: str, method: str, suffixes=PRODUCTS_CLEAN) -> dict[str, str]:
    """Keyword -> FITS path of each exported product of ``method``."""
    return {product_key(s): f"{directory}/{method}.{s}.fits" for s in suffixes}


def data_selection(data: dict) -> dict:
    """tclean's data selection (field, spectral windows, column) matching RESOLVE's reader of a run's ``data``
    (no field: the only one with data, which the RESOLVE grid rule before tclean has made sure of, or every
    field of a mosaic, imaged with gridder mosaic)."""
    selection = {"datacolumn": data["column"].lower().replace("_data", "")}
    if data["mosaic"]:
        selection["gridder"] = "mosaic"
    if data["field"] is not None:
        selection["field"] = str(data["field"])
    if data["spws"] is not None:
        selection["spw"] = ",".join(map(str, data["spws"]))
    return selection


def tclean_arguments(grid: Grid, method: dict | None, niter: int, threshold_mjy: float, cube: bool) -> dict:
    """tclean keyword arguments; ``method=None`` is the dirty image (niter 0, natural weighting)."""
    args = dict(imsize=[grid.nx, grid.ny], cell=f"{grid.cell_arcsec}arcsec",
                phasecenter=f"J2000 {grid.ra_deg}deg {grid.dec_deg}deg", gridder="standard", interactive=False,
                pblimit=0.2, restoringbeam="common" if cube else [])
    if cube:
        from .msio import CASA_FRAME_OF

        if grid.specsys not in CASA_FRAME_OF:
            raise ValueError(f"SPECSYS {grid.specsys!r} has no CASA frame (one of {sorted(CASA_FRAME_OF)})")
        args.update(specmode="cube", nchan=grid.nchan, start=f"{grid.freq0_hz}Hz", width=f"{grid.dfreq_hz}Hz",
                    outframe=CASA_FRAME_OF[grid.specsys], restfreq=f"{grid.freq0_hz}Hz")   # the grid's own frame
    else:
        args.update(specmode="mfs")
    if method is None:
        args.update(niter=0, weighting="natural", deconvolver="hogbom")
        return args
    args.update(niter=int(niter), threshold=f"{threshold_mjy}mJy", deconvolver=method["deconvolver"],
                weighting=method["weighting"], pbcor=True)
    if method["weighting"] == "briggs":
        args["robust"] = float(method["robust"])
    if method["deconvolver"] == "multiscale":
        args["scales"] = [int(s) for s in method["scales"]]
    return args


def tclean_to_fits(*, ms: str, skymodel: str, method: dict | None = None, niter: int = 0,
                   threshold_mjy: float = 0.0, selection: dict | None = None, casa_log: str | None = None,
                   params=None, **products: str) -> None:
    """Image ``ms`` on the grid of the FITS ``skymodel`` and export the products given as keywords.

    ``products`` maps product keywords (``image``, ``image_pbcor``, ``psf``, ...;
    see :func:`product_key`) to FITS paths; ``method=None`` is the dirty image.
    ``selection`` adds tclean's data selection (``field``, ``spw``, ``datacolumn``) and, for a mosaic, its
    ``gridder``.
    """
    from astropy.io import fits

    from . import provenance
    from .casa import casa, working_directory
    from .fitsio import Grid
    from .msio import require_ms

    known = {product_key(s): s for s in (PRODUCTS_DIRTY if method is None else PRODUCTS_CLEAN)}
    unknown = sorted(set(products) - set(known))
    if unknown or not products:
        raise TypeError(f"tclean products {unknown or 'none'} given; this image makes {sorted(known)}")
    out_fits = {known[key]: path for key, path in products.items()}
    require_ms(ms)
    with fits.open(skymodel) as hdul:
        grid = Grid.from_header(hdul[0].header, skymodel)
    cube = grid.nchan > 1
    args = {**tclean_arguments(grid, method, niter, threshold_mjy, cube), **(selection or {})}
    first = Path(next(iter(out_fits.values()))).resolve()
    scratch = first.parent / f".{first.name}.tclean"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tasks = casa(casa_log).tasks
    imagename, vis = str(scratch / "img"), str(Path(ms).resolve())
    try:
        with working_directory(scratch):  # casacore puts TempLattice* scratch images into the cwd
            tasks.tclean(vis=vis, imagename=imagename, **args)
        for suffix, path in out_fits.items():
            source = f"{imagename}.{suffix}"
            if not Path(source).is_dir():
                raise RuntimeError(f"tclean did not produce {source}; see the CASA log {casa_log}")
            tmp = f"{path}.tmp.fits"
            tasks.exportfits(imagename=source, fitsimage=tmp, overwrite=True, dropdeg=False, history=False)
            with fits.open(tmp, mode="update") as hdul:
                provenance.stamp_header(hdul[0].header, {"tclean": args, "params": params})
            Path(tmp).replace(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
