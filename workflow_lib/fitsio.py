"""FITS images and cubes the way CASA, DS9 and CARTA expect them.

Arrays in memory are ``(nchan, ny, nx)``; on disk they are 4-D
``(STOKES, FREQ, DEC, RA)`` with a SIN projection, the reference pixel at the
image centre in CASA's convention (0-based pixel ``npix // 2``), ``BUNIT`` and,
for restored images, ``BMAJ``/``BMIN``/``BPA``. Writes are atomic: a failed
write never leaves a file that looks complete.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from . import provenance

ARCSEC_PER_DEG = 3600.0


def wcs_of(header: fits.Header) -> WCS:
    """WCS of a header, without astropy's notes on CASA's OBSGEO/MJD keywords."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header)


@dataclass(frozen=True)
class Grid:
    """Pixel grid of a sky image or cube (square pixels, SIN projection)."""

    nx: int
    ny: int
    cell_arcsec: float
    ra_deg: float
    dec_deg: float
    freq0_hz: float
    dfreq_hz: float
    nchan: int = 1
    specsys: str = "LSRK"   # the frame of the frequencies (FITS SPECSYS)

    @property
    def freqs_hz(self) -> np.ndarray:
        return self.freq0_hz + self.dfreq_hz * np.arange(self.nchan)

    @property
    def centre(self) -> tuple[int, int]:
        """0-based (x, y) pixel of the phase centre, as CASA places it."""
        return self.nx // 2, self.ny // 2

    def header(self, bunit: str) -> fits.Header:
        h = fits.Header()
        h["NAXIS"] = 4
        for i, n in enumerate((self.nx, self.ny, self.nchan, 1), start=1):
            h[f"NAXIS{i}"] = n
        cx, cy = self.centre
        cdelt = self.cell_arcsec / ARCSEC_PER_DEG
        h["BUNIT"] = bunit
        h["BTYPE"] = "Intensity"
        axes = [
            ("RA---SIN", self.ra_deg, -cdelt, cx + 1, "deg"),
            ("DEC--SIN", self.dec_deg, cdelt, cy + 1, "deg"),
            ("FREQ", self.freq0_hz, self.dfreq_hz, 1, "Hz"),
            ("STOKES", 1.0, 1.0, 1, ""),
        ]
        for i, (ctype, crval, cdelt_i, crpix, cunit) in enumerate(axes, start=1):
            h[f"CTYPE{i}"] = ctype
            h[f"CRVAL{i}"] = crval
            h[f"CDELT{i}"] = cdelt_i
            h[f"CRPIX{i}"] = crpix
            if cunit:
                h[f"CUNIT{i}"] = cunit
        h["EQUINOX"] = 2000.0
        h["RADESYS"] = "FK5"
        h["SPECSYS"] = self.specsys
        h["RESTFRQ"] = self.freq0_hz
        h["TELESCOP"] = "ALMA"
        return h

    def matches(self, other: "Grid") -> bool:
        """Same pixels and channels (floats compared to a part in 1e9, as after a FITS round trip)."""
        ints = (self.nx, self.ny, self.nchan) == (other.nx, other.ny, other.nchan)
        floats = np.allclose([self.cell_arcsec, self.ra_deg, self.dec_deg, self.freq0_hz, self.dfreq_hz],
                             [other.cell_arcsec, other.ra_deg, other.dec_deg, other.freq0_hz, other.dfreq_hz],
                             rtol=1e-9, atol=0)
        return ints and floats

    def celestial_wcs(self) -> WCS:
        return wcs_of(self.header("Jy/pixel")).celestial

    @classmethod
    def from_header(cls, header: fits.Header, path: str = "image") -> "Grid":
        wcs = wcs_of(header)
        if not wcs.has_celestial:
            raise ValueError(f"{path}: no celestial WCS (RA/Dec axes) in the FITS header")
        cel = wcs.celestial
        scales = [float(s) * ARCSEC_PER_DEG for s in proj_plane_pixel_scales(cel)]
        if not np.isclose(scales[0], scales[1], rtol=1e-6):
            raise ValueError(f"{path}: non-square pixels ({scales[0]} x {scales[1]} arcsec) are not supported")
        nx, ny = header["NAXIS1"], header["NAXIS2"]
        centre = cel.pixel_to_world_values(nx // 2, ny // 2)
        spec = wcs.spectral if wcs.has_spectral else None
        if spec is not None:
            nchan = header[f"NAXIS{wcs.wcs.spec + 1}"]
            f0 = float(spec.pixel_to_world_values(0))
            df = float(spec.pixel_to_world_values(1)) - f0 if nchan > 1 else float(spec.wcs.cdelt[0])
        else:
            raise ValueError(f"{path}: no spectral (FREQ) axis in the FITS header")
        return cls(nx=nx, ny=ny, cell_arcsec=scales[0], ra_deg=float(centre[0]), dec_deg=float(centre[1]),
                   freq0_hz=f0, dfreq_hz=df, nchan=nchan, specsys=str(header.get("SPECSYS", "LSRK")))


def write_cube(path: str | os.PathLike, data: np.ndarray, header: fits.Header, params=None,
               beam: tuple[float, float, float] | None = None) -> None:
    """Write ``data`` (``(nchan, ny, nx)`` or ``(ny, nx)``) atomically with ``header``.

    ``beam`` is (bmaj, bmin, bpa) in arcsec, arcsec, deg.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    header = header.copy()
    if beam is not None:
        header["BMAJ"] = beam[0] / ARCSEC_PER_DEG
        header["BMIN"] = beam[1] / ARCSEC_PER_DEG
        header["BPA"] = beam[2]
    if params is not None:
        provenance.stamp_header(header, params)
    _write_atomically(path, fits.HDUList([fits.PrimaryHDU(data=data[None], header=header)]))


def _write_atomically(path: str | os.PathLike, hdus: fits.HDUList) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        hdus.writeto(tmp, overwrite=True, output_verify="exception")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def crop_border(path: str | os.PathLike, border: int) -> None:
    """Cut ``border`` pixels off every side of the FITS image ``path`` in place: the primary image's last two
    (y, x) axes and the reference pixel; other HDUs (a BEAMS table) are kept as they are."""
    if border == 0:
        return
    with fits.open(path, memmap=False) as hdus:
        primary = hdus[0]
        ny, nx = primary.data.shape[-2:]
        if min(nx, ny) <= 2 * border:
            raise ValueError(f"{path}: {nx} x {ny} pixels cannot lose {border} on every side")
        primary.data = np.ascontiguousarray(primary.data[..., border:ny - border, border:nx - border])
        primary.header["CRPIX1"] -= border
        primary.header["CRPIX2"] -= border
        _write_atomically(path, hdus)


def read_cube(path: str | os.PathLike) -> tuple[np.ndarray, fits.Header]:
    """Read a FITS image/cube as ``(nchan, ny, nx)`` float array and its header.

    Degenerate Stokes axis is dropped; a missing celestial WCS is an error.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: FITS file does not exist")
    try:
        with fits.open(path) as hdul:
            header = hdul[0].header.copy()
            data = np.asarray(hdul[0].data, dtype=np.float64)
    except OSError as exc:
        raise ValueError(f"{path}: not a readable FITS file ({exc})") from exc
    if data is None or data.ndim < 2:
        raise ValueError(f"{path}: primary HDU holds no image")
    if not wcs_of(header).has_celestial:
        raise ValueError(f"{path}: no celestial WCS (RA/Dec axes) in the FITS header")
    while data.ndim > 3:
        if data.shape[0] != 1:
            raise ValueError(f"{path}: only one Stokes plane is supported, found shape {data.shape}")
        data = data[0]
    if data.ndim == 2:
        data = data[None]
    return data, header


def read_beam(path: str | os.PathLike) -> tuple[float, float, float] | None:
    """Restoring beam (bmaj, bmin, bpa) in arcsec, arcsec, deg of a FITS image: BMAJ/BMIN/BPA, else the median
    over planes of CASA's per-plane BEAMS table; None when it has neither."""
    from astropy import units as u

    with fits.open(path) as hdul:
        if "BMAJ" in hdul[0].header:
            return beam_arcsec(hdul[0].header)
        if "BEAMS" not in hdul:
            return None
        table = hdul["BEAMS"]
        columns = {c.name: (np.asarray(table.data[c.name], float), c.unit) for c in table.columns}
    try:
        bmaj, bmin = (np.median(v) * u.Unit(unit or "arcsec").to(u.arcsec) for v, unit in
                      (columns["BMAJ"], columns["BMIN"]))
        bpa = np.median(columns["BPA"][0]) * u.Unit(columns["BPA"][1] or "deg").to(u.deg)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable BEAMS table ({exc})") from exc
    return float(bmaj), float(bmin), float(bpa)


def beam_arcsec(header: fits.Header) -> tuple[float, float, float]:
    """Restoring beam (bmaj, bmin, bpa) in arcsec, arcsec, deg from a FITS header."""
    if "BMAJ" not in header:
        raise ValueError("FITS header has no restoring beam (BMAJ/BMIN/BPA)")
    return header["BMAJ"] * ARCSEC_PER_DEG, header["BMIN"] * ARCSEC_PER_DEG, float(header.get("BPA", 0.0))
