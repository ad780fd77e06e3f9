"""Calibrated Stokes I visibilities from a measurement set, ready for RESOLVE.

Everything RESOLVE needs from a measurement set is flattened into one list of
visibilities: uvw in wavelengths (each channel at its own frequency), complex
Stokes I, its weight (1 / sigma^2 of the real and of the imaginary part, the
CASA convention) and the index of its spectral window, so that the noise model
can rescale each window. Visibilities that cannot be used are dropped with a
count in the log; a file that cannot be read is an error naming it.

A mosaic (``mosaic=True``) is read as one list too: every visibility keeps
its own pointing's phase centre and uvw, and ``pointing_index`` says which
of ``pointings`` it belongs to; the image is centred on the pointings' mean
direction.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field as dataclass_field

import numpy as np

from .. import msio
from ..units import C_LIGHT, FWHM_TO_SIGMA, RAD_TO_ARCSEC

# casacore Stokes codes of the correlations that make Stokes I
_STOKES_I, _RR, _LL, _XX, _YY = 1, 5, 8, 9, 12
_CORR_NAMES = {1: "I", 5: "RR", 6: "RL", 7: "LR", 8: "LL", 9: "XX", 10: "XY", 11: "YX", 12: "YY"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pointing:
    """One field of a measurement set: where its visibilities are phased to."""

    name: str
    ra_deg: float
    dec_deg: float


@dataclass(frozen=True)
class Observation:
    """Stokes I visibilities of one field or one mosaic, flattened over rows, windows and channels.

    ``ra_deg``, ``dec_deg``: the image centre (the phase centre of a single field).
    """

    ms: str
    field_name: str
    ra_deg: float
    dec_deg: float
    uvw: np.ndarray       # (nvis, 3) wavelengths
    vis: np.ndarray       # (nvis,) complex128, Jy
    weight: np.ndarray    # (nvis,) float64, 1/Jy^2
    spw_index: np.ndarray  # (nvis,) position of each visibility's window in ``spws``
    freq_hz: np.ndarray   # (nvis,) frequency at which uvw was scaled
    spws: tuple[int, ...]
    bandwidth_hz: float   # from the lowest to the highest selected channel edge
    dropped: dict = dataclass_field(default_factory=dict)
    # (nvis,) half difference of the parallel hands, (XX - YY) / 2: Stokes I's noise without its signal;
    # None for data stored as Stokes I
    vis_difference: np.ndarray | None = None
    # a mosaic's fields, and the position of each visibility's field in them; () and None for one field
    pointings: tuple[Pointing, ...] = ()
    pointing_index: np.ndarray | None = None
    dish_diameters_m: tuple[float, ...] = ()   # of the antennas in the data, as the ANTENNA table says
    # a cube: the plane (selected channel) of each visibility and each plane's frequency; None and () for an
    # image of all channels together
    channel_index: np.ndarray | None = None
    channel_freqs_hz: tuple[float, ...] = ()
    specsys: str = "LSRK"   # the frame of the (first) window's frequencies, as FITS SPECSYS

    @property
    def is_mosaic(self) -> bool:
        return len(self.pointings) > 1

    def pointing_rows(self) -> list[tuple[Pointing, np.ndarray | slice]]:
        """Each pointing with the selection of its visibilities (one pointing at the image centre, all rows,
        for a single field)."""
        if not self.pointings:
            return [(Pointing(self.field_name, self.ra_deg, self.dec_deg), slice(None))]
        return [(p, np.flatnonzero(self.pointing_index == k)) for k, p in enumerate(self.pointings)]

    @property
    def nplanes(self) -> int:
        """Image planes: the cube's channels, or 1."""
        return max(len(self.channel_freqs_hz), 1)

    @property
    def channel_spacing_hz(self) -> float:
        """A cube's (signed) frequency step from plane to plane; the checks at reading made it even."""
        return self.channel_freqs_hz[1] - self.channel_freqs_hz[0]

    def blocks(self) -> list[tuple[Pointing, int, np.ndarray | slice]]:
        """(pointing, plane, rows) of every pointing and image plane that holds visibilities: what one gridder
        maps (a single-field image: one block of all rows; rows ascending within a block)."""
        if self.channel_index is None:
            return [(p, 0, rows) for p, rows in self.pointing_rows()]
        out = []
        for p, rows in self.pointing_rows():
            index = np.arange(self.nvis)[rows]
            index = index[np.argsort(self.channel_index[index], kind="stable")]
            planes = self.channel_index[index]
            for sel in np.split(index, np.flatnonzero(np.diff(planes)) + 1):
                if sel.size:
                    out.append((p, int(self.channel_index[sel[0]]), sel))
        return out

    @property
    def nvis(self) -> int:
        return self.vis.size

    @property
    def uv_length(self) -> np.ndarray:
        return np.hypot(self.uvw[:, 0], self.uvw[:, 1])

    @property
    def mean_freq_hz(self) -> float:
        return float(np.average(self.freq_hz, weights=self.weight))

    def natural_beam_fwhm_arcsec(self) -> float:
        """Major-axis FWHM of the natural-weighted beam, from the weighted spread of the uv points.

        A Gaussian uv distribution of standard deviation s (wavelengths) gives a
        Gaussian beam of FWHM sqrt(8 ln 2) / (2 pi s); we use the smaller of the u
        and v spreads, i.e. the beam's major axis.
        """
        s = min(np.sqrt(np.average(self.uvw[:, i] ** 2, weights=self.weight)) for i in (0, 1))
        return float(1 / (FWHM_TO_SIGMA * 2 * np.pi * s) * RAD_TO_ARCSEC)

    def check_image(self, npix: int, cell_arcsec: float, key: str = "image") -> None:
        """Refuse a grid whose field of view is smaller than the beam or whose pixels miss the longest baselines."""
        beam = self.natural_beam_fwhm_arcsec()
        fov = npix * cell_arcsec
        if fov < beam:
            raise ValueError(f"{self.ms}: {key}: the field of view ({npix} x {cell_arcsec} arcsec = {fov:.3g} arcsec) "
                             f"is smaller than the natural beam of these data (about {beam:.3g} arcsec)")
        nyquist = 0.5 / self.uv_length.max() * RAD_TO_ARCSEC
        if cell_arcsec > nyquist:
            raise ValueError(f"{self.ms}: {key}.cell_arcsec={cell_arcsec} is larger than 1/(2 |uv|max) = "
                             f"{nyquist:.3g} arcsec: the longest baselines fall off the uv grid")


def read(ms: str | os.PathLike, column: str = "DATA", field: int | str | None = None, spws: list[int] | None = None,
         channels: list[int] | None = None, average: bool = False, mosaic: bool = False,
         cube: bool = False) -> Observation:
    """Read Stokes I of one field of ``ms``, or of all its fields as one mosaic.

    ``field``: id or name; None takes the only field that holds data, and several are an error listing them
    (a mosaic must not be imaged silently as its first pointing).
    ``mosaic``: read every field that holds data (``field`` must be None), each visibility with its field's
    phase centre.
    ``spws``: spectral-window ids (None: all windows observed for the field);
    ``channels``: ``[start, stop)`` in every selected window (None: all);
    ``average``: average the selected channels of each window into one,
    weighted by the visibility weights, with uvw scaled at the weighted mean
    frequency (as the study did for Sz114).
    ``cube``: keep each selected channel as its own image plane (``channel_index``); one spectral window,
    channels of one width, no averaging.
    Stokes I = (XX + YY) / 2 or (RR + LL) / 2 with weight 4 w1 w2 / (w1 + w2);
    a visibility is flagged if either hand is. Weights come from
    WEIGHT_SPECTRUM where the column holds data, otherwise from WEIGHT.
    """
    path = msio.require_ms(ms)
    if mosaic and field is not None:
        raise ValueError(f"{path}: data.mosaic images every field with data; leave data.field null "
                         f"(it is {field!r})")
    fields = mosaic_fields(path) if mosaic else [field_info(path, field)]
    windows = _data_descriptions(path)
    selected = sorted(windows) if spws is None else [int(s) for s in spws]
    for spw in selected:
        if spw not in windows:
            raise ValueError(f"{path}: spectral window {spw} does not exist (windows: {sorted(windows)})")
    cube_freqs = _check_cube(path, selected, channels, average) if cube else None
    counts = {"total": 0, "flagged": 0, "nonfinite": 0, "nonpositive_weight": 0}
    parts, edges, empty = [], [], []  # parts: (pointing, spw, arrays)
    with msio.table(path) as tb:
        msio.require_columns(path, tb, ["UVW", "FLAG", "WEIGHT", column])
        for k, (field_id, name, _, _) in enumerate(fields):
            for spw in selected:
                ddid, corr_types = windows[spw]
                sub = tb.query(f"FIELD_ID=={field_id} AND DATA_DESC_ID=={ddid}")
                try:
                    if sub.nrows() == 0:
                        empty.append((name, spw))
                        continue
                    part = _read_window(path, sub, column, corr_types, msio.channel_frequencies(path, spw),
                                        _channel_slice(path, spw, channels), average, counts)
                finally:
                    sub.close()
                parts.append((k, spw, part))
                edges += _channel_edges(path, spw, _channel_slice(path, spw, channels))
    if mosaic:
        pointings = tuple(Pointing(name, ra, dec) for _, name, ra, dec in fields)
        ra_deg, dec_deg = mean_direction([(p.ra_deg, p.dec_deg) for p in pointings])
        field_name = f"mosaic of {len(pointings)} fields"
    else:
        pointings = ()
        _, field_name, ra_deg, dec_deg = fields[0]
    if counts["total"] == 0:
        raise ValueError(f"{path}: field {field_name!r} has no rows in spectral windows {selected}")
    if empty and spws is not None:
        raise ValueError(f"{path}: " + "; ".join(f"field {name!r} has no data in spectral window {spw}"
                                                 for name, spw in empty) + f" (selected: {selected})")
    if empty:
        log.info("%s: %s", path, "; ".join(f"spectral window {spw} holds no data of field {name!r}"
                                           for name, spw in empty))
    if mosaic:
        missing = sorted(set(range(len(fields))) - {k for k, _, p in parts if p[1].size})
        if missing:
            raise ValueError(f"{path}: mosaic fields {[fields[k][1] for k in missing]} have no usable "
                             f"visibilities in spectral windows {selected} (all flagged, NaN or zero weight); "
                             "split the others into their own measurement set (CASA split) to image them")
    usable = sum(p[1].size for _, _, p in parts)
    if counts["flagged"] == counts["total"]:
        raise ValueError(f"{path}: all {counts['total']} visibilities of field {field_name!r} in spectral windows "
                         f"{selected} are flagged")
    log.info("%s: %d visibilities (channels x rows) in field %r, spws %s: %d flagged, %d NaN/inf dropped, "
             "%d with zero or negative weight dropped", path, counts["total"], field_name, selected,
             counts["flagged"], counts["nonfinite"], counts["nonpositive_weight"])
    if usable == 0:
        raise ValueError(f"{path}: no usable visibilities remain ({counts['flagged']} flagged, {counts['nonfinite']} "
                         f"NaN/inf, {counts['nonpositive_weight']} with zero or negative weight, of {counts['total']})")
    uvw, vis, weight, freq, difference, chan = (np.concatenate([p[k] for _, _, p in parts]) for k in range(6))
    spws_read = tuple(sorted({spw for _, spw, _ in parts}, key=selected.index))
    spw_index = np.concatenate([np.full(p[1].size, spws_read.index(spw)) for _, spw, p in parts])
    obs = Observation(ms=str(path), field_name=field_name, ra_deg=ra_deg, dec_deg=dec_deg, uvw=uvw, vis=vis,
                      weight=weight, spw_index=spw_index, freq_hz=freq, spws=spws_read,
                      bandwidth_hz=float(max(edges) - min(edges)),
                      dropped={k: v for k, v in counts.items() if k != "total"},
                      vis_difference=difference if np.all(np.isfinite(difference)) else None,
                      pointings=pointings,
                      pointing_index=np.concatenate([np.full(p[1].size, k) for k, _, p in parts]) if mosaic else None,
                      dish_diameters_m=dish_diameters(path, [f[0] for f in fields]),
                      channel_index=chan if cube else None,
                      channel_freqs_hz=tuple(float(f) for f in cube_freqs) if cube else (),
                      specsys=msio.spectral_frame(path, spws_read[0]))
    if mosaic:
        log.info("%s: mosaic of %d pointings (%s), image centre RA %.6f Dec %.6f deg", path, len(pointings),
                 ", ".join(f"{n} {c}" for n, c in zip((p.name for p in pointings),
                                                      np.bincount(obs.pointing_index))), ra_deg, dec_deg)
    log.info("%s: %d Stokes I visibilities kept, |uv| up to %.4g wavelengths, natural beam about %.3g arcsec",
             path, obs.nvis, obs.uv_length.max(), obs.natural_beam_fwhm_arcsec())
    return obs


def _check_cube(ms, spws: list[int], channels, average: bool) -> np.ndarray:
    """A cube needs one spectral window (its channels are the planes) of channels of one width at even
    spacing (the FITS cube's linear frequency axis); the frequencies (Hz) of its selected channels."""
    if average:
        raise ValueError(f"{ms}: a cube keeps every channel as a plane; data.average_channels must be false")
    if len(spws) != 1:
        raise ValueError(f"{ms}: a cube run images one spectral window, but {len(spws)} are selected ({spws}); "
                         "choose one with data.spws")
    chans = _channel_slice(ms, spws[0], channels)
    with msio.table(ms / "SPECTRAL_WINDOW") as tb:
        width = np.abs(np.asarray(tb.getcell("CHAN_WIDTH", spws[0])))[chans]
        freq = np.asarray(tb.getcell("CHAN_FREQ", spws[0]))[chans]
    if not np.allclose(width, width[0], rtol=1e-6):
        raise ValueError(f"{ms}: spectral window {spws[0]} has channels of different widths "
                         f"({', '.join(f'{w:.6g}' for w in np.unique(width))} Hz); a cube needs one width "
                         "(select channels of one width with data.channels, or regrid with CASA mstransform)")
    spacing = np.diff(freq)
    if spacing.size and not np.allclose(spacing, spacing[0], rtol=1e-6, atol=0):
        raise ValueError(f"{ms}: spectral window {spws[0]} has channels at uneven spacing (from "
                         f"{np.abs(spacing).min():.6g} to {np.abs(spacing).max():.6g} Hz); a cube's planes need a "
                         "linear frequency axis (select contiguous channels with data.channels, or regrid with CASA "
                         "mstransform)")
    return freq


def dish_diameters(ms, field_ids: list[int]) -> tuple[float, ...]:
    """The distinct DISH_DIAMETER values (m) of the antennas that observed the fields ``field_ids``."""
    with msio.table(ms) as tb:
        sub = tb.query(f"FIELD_ID IN [{', '.join(map(str, field_ids))}]", columns="ANTENNA1, ANTENNA2")
        try:
            used = np.union1d(np.unique(sub.getcol("ANTENNA1")), np.unique(sub.getcol("ANTENNA2")))
        finally:
            sub.close()
    with msio.table(ms / "ANTENNA") as tb:
        return tuple(float(d) for d in np.unique(tb.getcol("DISH_DIAMETER")[used]))


def mean_direction(directions: list[tuple[float, float]]) -> tuple[float, float]:
    """RA, Dec (deg) of the normalised mean of the unit vectors of ``directions`` (RA, Dec in deg)."""
    ra, dec = np.deg2rad(np.array(directions, dtype=float)).T
    x, y, z = (np.mean(c) for c in (np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)))
    return float(np.rad2deg(np.arctan2(y, x)) % 360.0), float(np.rad2deg(np.arctan2(z, np.hypot(x, y))))


def mosaic_fields(ms) -> list[tuple[int, str, float, float]]:
    """:func:`field_info` of every field that holds data, in field-id order."""
    with msio.table(ms) as tb:
        ids = np.unique(tb.getcol("FIELD_ID"))
    return [field_info(ms, int(i)) for i in ids]


def field_info(ms, field) -> tuple[int, str, float, float]:
    """Id, name and phase centre (RA, Dec in degrees) of a field given by id or name (None: see :func:`read`)."""
    if field is None:
        with msio.table(ms) as tb:
            ids, rows = np.unique(tb.getcol("FIELD_ID"), return_counts=True)
    with msio.table(ms / "FIELD") as tb:
        names = list(tb.getcol("NAME"))
        if field is None:
            if len(ids) != 1:
                listing = ", ".join(f"{i} {str(names[i])!r} ({n} rows)" for i, n in zip(ids, rows))
                raise ValueError(f"{ms}: {len(ids)} fields hold data ({listing}); choose one with data.field, "
                                 "or image them all as one sky with data.mosaic: true")
            field_id = int(ids[0])
        elif isinstance(field, str):
            if field not in names:
                raise ValueError(f"{ms}: no field named {field!r} (fields: {names})")
            field_id = names.index(field)
        else:
            field_id = int(field)
            if not 0 <= field_id < len(names):
                raise ValueError(f"{ms}: field {field_id} does not exist ({len(names)} fields: {names})")
        ra, dec = np.asarray(tb.getcell("PHASE_DIR", field_id))[:, 0]
    return field_id, str(names[field_id]), float(np.rad2deg(ra) % 360.0), float(np.rad2deg(dec))


def _data_descriptions(ms) -> dict[int, tuple[int, list[int]]]:
    """spw id -> (data description id, correlation types)."""
    with msio.table(ms / "POLARIZATION") as tb:
        corr_types = [list(np.atleast_1d(tb.getcell("CORR_TYPE", i))) for i in range(tb.nrows())]
    with msio.table(ms / "DATA_DESCRIPTION") as tb:
        spw_ids, pol_ids = tb.getcol("SPECTRAL_WINDOW_ID"), tb.getcol("POLARIZATION_ID")
    out = {}
    for ddid, (spw, pol) in enumerate(zip(spw_ids, pol_ids)):
        out.setdefault(int(spw), (ddid, [int(c) for c in corr_types[pol]]))
    return out


def _channel_edges(ms, spw, chans: slice) -> list[float]:
    with msio.table(ms / "SPECTRAL_WINDOW") as tb:
        freq = np.asarray(tb.getcell("CHAN_FREQ", spw))[chans]
        width = np.abs(np.asarray(tb.getcell("CHAN_WIDTH", spw))[chans])
    return [float((freq - width / 2).min()), float((freq + width / 2).max())]


def _channel_slice(ms, spw, channels) -> slice:
    nchan = msio.channel_frequencies(ms, spw).size
    if channels is None:
        return slice(0, nchan)
    start, stop = int(channels[0]), int(channels[1])
    if not 0 <= start < stop <= nchan:
        raise ValueError(f"{ms}: channels [{start}, {stop}) outside spectral window {spw} with {nchan} channels")
    return slice(start, stop)


def _parallel_hands(ms, corr_types: list[int]) -> list[int]:
    for pair in ((_STOKES_I,), (_XX, _YY), (_RR, _LL)):
        if all(c in corr_types for c in pair):
            return [corr_types.index(c) for c in pair]
    names = [_CORR_NAMES.get(c, str(c)) for c in corr_types]
    raise ValueError(f"{ms}: correlations {names} hold neither XX and YY nor RR and LL: no Stokes I")


def _weights(sub, shape) -> np.ndarray:
    """(ncorr, nchan, nrow) weights: WEIGHT_SPECTRUM where it holds data, else WEIGHT per channel."""
    if "WEIGHT_SPECTRUM" in sub.colnames() and sub.iscelldefined("WEIGHT_SPECTRUM", 0):
        spectrum = sub.getcol("WEIGHT_SPECTRUM")
        if spectrum.shape == shape:
            return spectrum.astype(np.float64)
    return np.broadcast_to(sub.getcol("WEIGHT")[:, None, :].astype(np.float64), shape)


def _read_window(ms, sub, column, corr_types, freqs, chans, average, counts):
    """uvw (wavelengths), Stokes I, weight, frequency, half hand difference and channel (within ``chans``) of
    the usable visibilities of one window."""
    hands = _parallel_hands(ms, corr_types)
    data = sub.getcol(column)
    weight = _weights(sub, data.shape)[hands][:, chans]
    flag = sub.getcol("FLAG")[hands][:, chans].any(axis=0) | sub.getcol("FLAG_ROW")[None, :]  # (nchan, nrow)
    data, freqs = data[hands][:, chans], freqs[chans]
    uvw_m = sub.getcol("UVW").T                                        # (nrow, 3)
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN/inf and zero weights are counted below
        vis = data.mean(axis=0)
        difference = (data[0] - data[1]) / 2 if len(hands) == 2 else np.full_like(vis, np.nan)
        wgt = np.where((weight > 0).all(axis=0), weight.prod(axis=0) / weight.sum(axis=0) * len(hands) ** 2, 0.0)
    finite = np.isfinite(vis) & np.isfinite(wgt)
    counts["total"] += flag.size
    counts["flagged"] += int(flag.sum())
    counts["nonfinite"] += int((~flag & ~finite).sum())
    counts["nonpositive_weight"] += int((~flag & finite & ~(wgt > 0)).sum())
    good = ~flag & finite & (wgt > 0)                                  # (nchan, nrow)
    if average:
        w = np.where(good, wgt, 0.0)
        wsum = w.sum(axis=0)
        keep = wsum > 0
        vis = (np.where(good, vis, 0) * w).sum(axis=0)[keep] / wsum[keep]
        difference = (np.where(good, difference, 0) * w).sum(axis=0)[keep] / wsum[keep]
        freq = (freqs[:, None] * w).sum(axis=0)[keep] / wsum[keep]
        return (uvw_m[keep] * (freq / C_LIGHT)[:, None], vis.astype(np.complex128), wsum[keep], freq,
                difference.astype(np.complex128), np.zeros(freq.size, dtype=int))
    chan, row = np.nonzero(good)
    freq = freqs[chan]
    return (uvw_m[row] * (freq / C_LIGHT)[:, None], vis[chan, row].astype(np.complex128), wgt[chan, row], freq,
            difference[chan, row].astype(np.complex128), chan)
