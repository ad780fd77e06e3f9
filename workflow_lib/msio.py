"""Low-level measurement-set access through casatools tables.

Small helpers shared by the simulators (adding noise) and the readers of
later stages. Errors name the file and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from .casa import casa


def require_ms(path: str | os.PathLike) -> Path:
    """Check that ``path`` is a readable CASA table directory."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: measurement set does not exist")
    if not path.is_dir() or not (path / "table.dat").is_file():
        raise ValueError(f"{path}: not a CASA table (no table.dat): not a measurement set or corrupt")
    return path


@contextlib.contextmanager
def table(path: str | os.PathLike, writable: bool = False):
    """casatools table opened on ``path`` (a measurement set or a subtable)."""
    tb = casa().tools.table()
    try:
        ok = tb.open(str(path), nomodify=not writable)
    except RuntimeError as exc:
        raise ValueError(f"{path}: cannot open as a CASA table ({exc})") from exc
    if ok is False:
        raise ValueError(f"{path}: cannot open as a CASA table")
    try:
        yield tb
    finally:
        tb.close()


def channel_frequencies(ms: str | os.PathLike, spw: int = 0) -> np.ndarray:
    with table(Path(ms) / "SPECTRAL_WINDOW") as tb:
        if spw >= tb.nrows():
            raise ValueError(f"{ms}: spectral window {spw} does not exist ({tb.nrows()} windows)")
        return np.asarray(tb.getcell("CHAN_FREQ", spw), dtype=np.float64)


# CASA's frequency frames (MEAS_FREQ_REF codes 0-8, MFrequency types) and their FITS SPECSYS values
CASA_FRAMES = ("REST", "LSRK", "LSRD", "BARY", "GEO", "TOPO", "GALACTO", "LGROUP", "CMB")
FITS_SPECSYS = dict(enumerate(("SOURCE", "LSRK", "LSRD", "BARYCENT", "GEOCENTR", "TOPOCENT", "GALACTOC", "LOCALGRP",
                               "CMBDIPOL")))
CASA_FRAME_OF = {fits_name: CASA_FRAMES[code] for code, fits_name in FITS_SPECSYS.items()}   # SPECSYS -> frame


def spectral_frame(ms: str | os.PathLike, spw: int = 0) -> str:
    """The FITS SPECSYS of a spectral window's channel frequencies (its MEAS_FREQ_REF)."""
    with table(Path(ms) / "SPECTRAL_WINDOW") as tb:
        code = int(tb.getcell("MEAS_FREQ_REF", spw))
    if code not in FITS_SPECSYS:
        raise ValueError(f"{ms}: spectral window {spw} has frequency reference code {code}, none of CASA's "
                         f"{sorted(FITS_SPECSYS)}")
    return FITS_SPECSYS[code]


def require_columns(ms: str | os.PathLike, tb, columns) -> None:
    missing = [c for c in columns if c not in tb.colnames()]
    if missing:
        raise ValueError(f"{ms}: missing column(s) {', '.join(missing)}")
