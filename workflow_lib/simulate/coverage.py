"""The uv coverage of one observation setup, made once with CASA and reused for every cube.

``simobserve`` of an empty sky gives the exact uvw that the CASA backend would
produce (same array, date, hour angle, integration), and ``tclean`` gives the
primary beam it applies; both go into a small HDF5 file. The measurement set
itself is deleted.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from astropy.io import fits

from .. import msio, provenance
from ..casa import check_epoch
from ..fitsio import Grid, read_cube, write_cube
from ..imaging import tclean_to_fits
from ..skymodels import simulation_grid
from .casa_backend import simobserve


@dataclass
class Coverage:
    """uvw (m) of the unflagged rows, channel frequencies (Hz) and primary beam ``(nchan, ny, nx)``."""

    uvw_m: np.ndarray
    freqs_hz: np.ndarray
    pb: np.ndarray
    grid: Grid

    def save(self, path: str | Path, params=None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        with h5py.File(tmp, "w", track_order=True) as h5:
            h5.create_dataset("uvw_m", data=self.uvw_m, track_times=False)
            h5.create_dataset("freqs_hz", data=self.freqs_hz, track_times=False)
            h5.create_dataset("pb", data=self.pb.astype(np.float32), track_times=False)
            h5.attrs["grid_header"] = self.grid.header("Jy/pixel").tostring()
            h5.attrs["provenance"] = json.dumps(provenance.record(params), default=str)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "Coverage":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: uv coverage file does not exist")
        try:
            with h5py.File(path, "r") as h5:
                header = fits.Header.fromstring(h5.attrs["grid_header"])
                return cls(uvw_m=h5["uvw_m"][...], freqs_hz=h5["freqs_hz"][...], pb=h5["pb"][...],
                           grid=Grid.from_header(header, str(path)))
        except (OSError, KeyError) as exc:
            raise ValueError(f"{path}: not a valid uv coverage file ({exc})") from exc


def usable_rows(ms: str) -> np.ndarray:
    """Boolean mask of the rows whose parallel hands are unflagged in every channel."""
    with msio.table(ms) as tb:
        flagged = tb.getcol("FLAG")[[0, -1]].any(axis=(0, 1)) | tb.getcol("FLAG_ROW")
    if flagged.all():
        raise ValueError(f"{ms}: all rows are flagged")
    return ~flagged


def read_uvw(ms: str) -> np.ndarray:
    """uvw (m) of the usable rows."""
    with msio.table(ms) as tb:
        uvw = tb.getcol("UVW").T
    return np.ascontiguousarray(uvw[usable_rows(ms)])


def write_visibilities(template_ms: str, out_ms: str, vis: np.ndarray, sigma: float) -> None:
    """A copy of ``template_ms`` whose DATA holds the Stokes I ``vis`` ``(nrow_usable, nchan)`` on both hands.

    Rows that the coverage left out are flagged; SIGMA/WEIGHT describe the
    noise of each hand (sigma * sqrt(2)), so (XX + YY) / 2 has ``sigma``.
    """
    msio.require_ms(template_ms)
    shutil.rmtree(out_ms, ignore_errors=True)
    shutil.copytree(template_ms, out_ms)
    rows = usable_rows(out_ms)
    try:
        with msio.table(out_ms, writable=True) as tb:
            shape = tb.getcol("FLAG", startrow=0, nrow=1).shape
            data = np.zeros((shape[0], vis.shape[1], rows.size), dtype=np.complex64)
            data[:, :, rows] = vis.T[None]
            flags = np.ones((shape[0], vis.shape[1], rows.size), dtype=bool)
            flags[:, :, rows] = False
            tb.putcol("DATA", data)
            tb.putcol("FLAG", flags)
            sigma_hand = sigma * np.sqrt(2) if sigma > 0 else 1.0
            tb.putcol("SIGMA", np.full((shape[0], rows.size), sigma_hand, dtype=np.float32))
            tb.putcol("WEIGHT", np.full((shape[0], rows.size), sigma_hand ** -2, dtype=np.float32))
    except BaseException:
        shutil.rmtree(out_ms, ignore_errors=True)
        raise


def simulate_empty_sky(grid: Grid, observation: dict, ms_out: str, casa_log: str | None = None) -> None:
    """simobserve of an all-zero sky on ``grid``: the setup's uvw, channels and a template for
    :func:`write_visibilities` (model and corrected columns removed)."""
    check_epoch(observation["ref_date"])
    out = Path(ms_out).resolve()
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        blank = scratch / "blank.fits"
        write_cube(blank, np.zeros((grid.nchan, grid.ny, grid.nx)), grid.header("Jy/pixel"))
        simobserve(str(blank), str(out), observation, casa_log)
        with msio.table(out, writable=True) as tb:
            tb.removecols([c for c in ("MODEL_DATA", "CORRECTED_DATA") if c in tb.colnames()])
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def make_coverage(grid: Grid, observation: dict, out_h5: str, casa_log: str | None = None, params=None) -> Coverage:
    """Simulate an empty sky with CASA on ``grid`` and keep uvw, frequencies and primary beam."""
    out = Path(out_h5).resolve()
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        ms = str(scratch / "coverage.ms")
        simulate_empty_sky(grid, observation, ms, casa_log)
        blank = scratch / "blank.fits"
        write_cube(blank, np.zeros((grid.nchan, grid.ny, grid.nx)), grid.header("Jy/pixel"))
        pb_fits = str(scratch / "pb.fits")
        tclean_to_fits(ms=ms, skymodel=str(blank), pb=pb_fits, casa_log=casa_log)
        pb, _ = read_cube(pb_fits)
        coverage = Coverage(uvw_m=read_uvw(ms), freqs_hz=msio.channel_frequencies(ms), pb=pb, grid=grid)
        if not np.allclose(coverage.freqs_hz, grid.freqs_hz, rtol=0, atol=1.0):
            raise RuntimeError(f"simobserve wrote channels {coverage.freqs_hz[:3]}... instead of {grid.freqs_hz[:3]}...")
        coverage.save(out, params)
        return coverage
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def dataset_coverage(*, dataset: dict, observation: dict, out: str, casa_log: str | None = None, params=None) -> None:
    """The uv coverage and primary beam of the training set's observation setup (on the grid its cubes are
    simulated on, guard ring included)."""
    make_coverage(simulation_grid(dataset, observation), observation, out, casa_log, params=params)


def dataset_template_ms(*, dataset: dict, observation: dict, out: str, casa_log: str | None = None) -> None:
    """An empty measurement set of the training set's observation setup (see :func:`write_visibilities`)."""
    simulate_empty_sky(simulation_grid(dataset, observation), observation, out, casa_log)
