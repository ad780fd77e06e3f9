"""The DeepFocus pipeline at inference: batched over cubes, models loaded once.

``DeepFocus.run(cubes, grid)`` takes dirty cubes (Jy/beam, ``(nchan, ny,
nx)`` each) on one grid and returns, per cube, a catalogue (astropy Table), the
reconstructed model cube (Jy/pixel: one 3-D Gaussian per source) and the
continuum image (Jy/beam). Every network sees the whole batch at once. A
catalogue source's box is the footprint box of its characterised shape (see
:mod:`.geometry`) times its line range: the detection stages' boxes only
locate it. Each row carries its measured SNR (the dirty spectrum's peak at the position over the cube's
noise) and, given a reliability model (:mod:`.reliability`), its reliability; the operating point keeps the
rows whose score or reliability reaches its threshold.

Inputs are checked against what the models were trained on: the pixel scale
and channel width must match (a clear error otherwise); images larger than
the training set's are tiled (see :func:`.blobsfinder.probability`), smaller
ones are an error; NaN pixels count as zero (and are reported); a cube
without any variation yields an empty catalogue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from astropy import units as u
from astropy.table import Table
from scipy import ndimage

from .. import fitsio, provenance, skymodels
from ..units import GAUSSIAN_AREA_PER_FWHM
from . import blobsfinder, deepgru, focusing, geometry, reliability, resnets, sidelobes
from .preprocess import crop, measured_snr, robust_rms
from .settings import CUBE_PRODUCTS
from .train import choose_device, load_model

log = logging.getLogger(__name__)
# a cube's centre frequency may differ from the training set's by this fraction: its beam is then that much
# wider or narrower in pixels, within the spread of sizes the networks see among the training sources
FREQUENCY_TOLERANCE = 0.01

BOX_COLUMNS = [f"box_{a}" for a in ("x0", "y0", "z0", "x1", "y1", "z1")]  # 3-D box (pixels, channels)
CATALOGUE_COLUMNS = (
    ("id", int, ""), ("x_pix", float, "pix"), ("y_pix", float, "pix"), ("ra_deg", float, "deg"),
    ("dec_deg", float, "deg"), ("line_centre_chan", float, ""), ("line_fwhm_chan", float, ""),
    ("line_centre_ghz", float, "GHz"), ("line_fwhm_mhz", float, "MHz"), ("fwhm_major_arcsec", float, "arcsec"),
    ("fwhm_minor_arcsec", float, "arcsec"), ("pa_deg", float, "deg"), ("line_flux_jy", float, "Jy"),
    ("line_integrated_flux_jy_mhz", float, "Jy MHz"), ("line_aperture_flux_jy_mhz", float, "Jy MHz"),
    ("continuum_flux_jy", float, "Jy"), ("snr", float, ""), ("snr_integrated", float, ""), ("pixel_snr", float, ""),
    ("measured_snr", float, ""), ("score", float, ""), ("reliability", float, ""), ("deblended", bool, ""),
    *((c, float, "") for c in BOX_COLUMNS),
)
DUPLICATE_IOU = 0.5  # catalogue sources overlapping this much in 3-D are one: the best-scoring is kept


def boxes_of(table: Table, columns=BOX_COLUMNS) -> np.ndarray:
    """(N, len(columns)) array of a catalogue's box columns (3-D boxes by default)."""
    if len(table) == 0:
        return np.zeros((0, len(columns)))
    return np.stack([np.asarray(table[c], float) for c in columns], axis=1)


@dataclass
class Result:
    catalogue: Table
    model: np.ndarray
    continuum: np.ndarray


@dataclass
class Stages:
    """What the detection stages computed for a batch of cubes, kept for figures and diagnostics."""

    probability: np.ndarray  # (n, ny, nx) Blobs Finder maps (zero for cubes without variation)
    blobs: list[tuple[int, dict]]  # (cube in the batch, island of :func:`.blobsfinder.find_blobs`)
    spectra: np.ndarray  # (n_blobs, nchan) the blobs' box-summed dirty spectra (Jy/beam x pixels)
    emission: np.ndarray  # (n_blobs, nchan) DeepGRU emission probability of those spectra
    sources: list[list[dict]]  # per blob: its sources after focusing (see :func:`.focusing.box_sources`)
    detections: list[list[dict]]  # per cube: the sources of its blobs


def empty_catalogue() -> Table:
    table = Table(names=[c[0] for c in CATALOGUE_COLUMNS], dtype=[c[1] for c in CATALOGUE_COLUMNS])
    for name, _, unit in CATALOGUE_COLUMNS:
        if unit:
            table[name].unit = u.Unit(unit)
    return table


def settings_of(config: dict, point: dict | None = None) -> dict:
    """The inference settings of the ``deepfocus`` config section, flat, at an operating point (``rule``,
    ``ranking``, ``threshold`` and the ``reliability`` model, see :mod:`.operating_point`; default: the
    study's rule, every detection, no reliability)."""
    point = point or {"rule": "study", "ranking": "score", "threshold": -np.inf}
    if point["ranking"] == "reliability" and not point.get("reliability"):
        raise ValueError("an operating point that ranks by reliability needs its reliability model")
    return {"threshold": config["blobsfinder"]["threshold"],
            "outside_clean_sigma": config["blobsfinder"]["outside_clean_sigma"], "focus_size": config["focus_size"],
            "batch_cubes": config["batch_cubes"], **config["focusing"],
            "lines": {k: config["deepgru"][k] for k in ("height", "prominence", "distance", "half_width")},
            "rule": point["rule"], "ranking": point["ranking"], "ranking_threshold": float(point["threshold"]),
            "reliability": point.get("reliability")}


def barycentre(image: np.ndarray, box, peak: tuple[int, int] | None = None) -> tuple[float, float]:
    """Pixel-weighted barycentre (x, y) of the source's core in ``box``: the pixels above half the ``peak``
    pixel (x, y; default the box's brightest) connected to it, weighted by their excess over that half, so
    that a neighbour sharing the box does not pull the position (the box centre if the peak is not positive).

    Deblended boxes pass the peak their source was grown from: the box of a faint source beside a bright
    one can reach into the bright one's wing, whose pixels are then the box's brightest."""
    ys, xs = geometry.box_slices(box)
    part = image[ys, xs]
    cx, cy = geometry.box_centre(box)
    if part.size == 0:
        return float(cx), float(cy)
    if peak is None:
        py, px = np.unravel_index(np.argmax(part), part.shape)
    else:
        py = int(np.clip(peak[1] - ys.start, 0, part.shape[0] - 1))
        px = int(np.clip(peak[0] - xs.start, 0, part.shape[1] - 1))
    if part[py, px] <= 0:
        return float(cx), float(cy)
    half = 0.5 * part[py, px]
    labels, _ = ndimage.label(part >= half, blobsfinder.EIGHT_CONNECTED)
    core = labels == labels[py, px]
    w = part[core] - half * (1 - 1e-9)  # weights fall to ~zero at the cut: no pull from the pixel grid
    yy, xx = np.nonzero(core)
    return float((xx * w).sum() / w.sum() + xs.start), float((yy * w).sum() / w.sum() + ys.start)


def focused_crops(cube: np.ndarray, sources: list[dict], size: int, dilation: float) -> dict:
    """Continuum, positions and the ResNets' crops (focused and line image) of one cube's sources."""
    continuum = focusing.continuum_image(cube, focusing.continuum_mask(cube.shape, sources, dilation))
    out = {"continuum": continuum, "xy": [], "focused": [], "line": []}
    for s in sources:
        focused, line = focusing.focus(cube, s["range"]), focusing.line_image(cube, continuum, s["range"])
        x, y = barycentre(line, s["box"], s.get("peak"))
        out["xy"].append((x, y))
        out["focused"].append(crop(focused, x, y, size)[0])
        out["line"].append(crop(line, x, y, size)[0])
    return out


def aperture_flux(image: np.ndarray, box, x: float, y: float, seen_cov: np.ndarray, beam: geometry.Beam) -> float:
    """Flux (Jy, or Jy x channel for a line image) of a Gaussian source of known seen shape from a box sum.

    A source of flux F appears in a Jy/beam image as F (A_beam / A_seen) times
    its unit-peak footprint, so F = sum_box(image) A_seen / (A_beam sum_box(footprint)).
    """
    ys, xs = geometry.box_slices(box)
    fp = geometry.footprint(image.shape, x, y, seen_cov)[ys, xs].sum()
    return float(image[ys, xs].sum() * geometry.gaussian_area(seen_cov) / (beam.area * fp)) if fp > 0 else 0.0


class DeepFocus:
    """The trained models and the settings that turn their outputs into catalogues."""

    def __init__(self, finder: blobsfinder.BlobsFinder, gru: deepgru.DeepGRU, nets: dict[str, resnets.ResNet] | None,
                 meta: dict, settings: dict, device: torch.device | None = None):
        self.finder, self.gru, self.nets = finder, gru, nets or {}
        self.beam = geometry.Beam(**meta["beam"])
        self.meta, self.settings = meta, settings
        self.device = device or choose_device()

    @classmethod
    def load(cls, checkpoints: dict[str, str], settings: dict, device=None) -> "DeepFocus":
        """Models from checkpoint paths: ``blobsfinder``, ``deepgru`` and (to characterise) ``resnet_<target>``."""
        device = device or choose_device()
        finder, meta = load_model(checkpoints["blobsfinder"], blobsfinder.BlobsFinder, device)
        gru, _ = load_model(checkpoints["deepgru"], deepgru.DeepGRU, device)
        nets = {}
        for name in resnets.TARGETS:
            path = checkpoints.get(f"resnet_{name}")
            if path is None:
                continue
            nets[name], extra = load_model(path, resnets.ResNet, device)
            if extra.get("target") != name:
                raise ValueError(f"{path}: checkpoint is the ResNet for {extra.get('target')!r}, not for {name!r}")
        return cls(finder, gru, nets, meta, settings, device)

    # ------------------------------------------------------------------ input checks

    def check_grid(self, grid: fitsio.Grid, where: str = "cube") -> None:
        """Pixel scale, channel width and (within ``FREQUENCY_TOLERANCE``) centre frequency must be the
        training set's, the image at least its size; a refusal names the dataset keys that would train
        models for the cube."""
        cell, dfreq = self.meta["cell_arcsec"], self.meta["dfreq_hz"]
        if not np.isclose(grid.cell_arcsec, cell, rtol=1e-6):
            raise ValueError(f"{where}: pixels of {grid.cell_arcsec:.6g} arcsec, but the models were trained on "
                             f"{cell:.6g} arcsec pixels; regrid the cube, or train models for it "
                             f"(dataset.cell_arcsec: {grid.cell_arcsec:.6g})")
        if not np.isclose(abs(grid.dfreq_hz), abs(dfreq), rtol=1e-6):
            raise ValueError(f"{where}: channels of {grid.dfreq_hz / 1e6:.6g} MHz, but the models were trained on "
                             f"{dfreq / 1e6:.6g} MHz channels; train models for it "
                             f"(dataset.channel_width_mhz: {abs(grid.dfreq_hz) / 1e6:.6g})")
        centre, trained = float(grid.freqs_hz.mean()), self.meta.get("centre_freq_hz")
        if trained is None:
            log.warning("%s: these models do not record their training frequency (trained before 2026-12-08); "
                        "the cube's %.6g GHz is not checked", where, centre / 1e9)
        elif abs(centre / trained - 1) > FREQUENCY_TOLERANCE:
            raise ValueError(f"{where}: centred at {centre / 1e9:.6g} GHz, but the models were trained at "
                             f"{trained / 1e9:.6g} GHz: its beam is {trained / centre:.3g} times theirs in pixels; "
                             f"train models for it (dataset.centre_freq_ghz: {centre / 1e9:.6g})")
        _, ny, nx = self.meta["shape"]
        if grid.nx < nx or grid.ny < ny:
            raise ValueError(f"{where}: {grid.nx} x {grid.ny} pixels, smaller than the {nx} x {ny} images the "
                             f"Blobs Finder was trained on; train models for it (dataset.npix: "
                             f"{min(grid.nx, grid.ny)})")

    @staticmethod
    def sanitise(cubes: np.ndarray, where: str = "cube") -> np.ndarray:
        cubes = np.asarray(cubes, dtype=np.float32)
        if cubes.ndim != 4:
            raise ValueError(f"{where}: expected cubes (n, nchan, ny, nx), got an array of shape {cubes.shape}")
        bad = ~np.isfinite(cubes)
        if bad.any():
            log.warning("%s: %d NaN/inf pixels set to zero", where, int(bad.sum()))
            cubes = np.where(bad, 0.0, cubes).astype(np.float32)
        return cubes

    # ------------------------------------------------------------------ stages

    def detect(self, cubes: np.ndarray, psf: np.ndarray | None = None) -> list[list[dict]]:
        """Stages 1-4 for a batch of cubes: per cube, the sources that pass focusing and the FP rules."""
        return self.stages(cubes, psf).detections

    def stages(self, cubes: np.ndarray, psf: np.ndarray | None = None) -> Stages:
        """Stages 1-4 for a batch of cubes with what each stage computed (see :class:`Stages`); with the
        cubes' PSF cube (nchan, ny, nx), each Blobs Finder tile of a field larger than the training tile
        loses the sidelobes of the sources outside it (:mod:`.sidelobes`)."""
        s = self.settings
        n, nchan, ny, nx = cubes.shape
        flat = np.array([np.ptp(c) == 0 for c in cubes], dtype=bool)
        integrated = cubes.sum(axis=1)
        out = Stages(np.zeros((n, ny, nx), dtype=np.float32), [], np.zeros((0, nchan)), np.zeros((0, nchan)), [],
                     [[] for _ in cubes])
        live = np.flatnonzero(~flat)
        if live.size == 0:
            return out
        out.probability[live] = blobsfinder.probability(
            self.finder, integrated[live], self.device, psf=None if psf is None else sidelobes.integrated_psf(psf),
            clean_sigma=s["outside_clean_sigma"])
        out.blobs = [(i, b) for i in live for b in blobsfinder.find_blobs(out.probability[i], s["threshold"])]
        if not out.blobs:
            return out
        out.spectra = np.stack([deepgru.box_spectrum(cubes[i], b["box"]) for i, b in out.blobs])
        out.emission = deepgru.probability(self.gru, out.spectra, self.device)
        continua = {i: focusing.median_continuum(cubes[i]) for i in {i for i, _ in out.blobs}}
        for (i, blob), p in zip(out.blobs, out.emission):
            lines = deepgru.find_lines(p, **s["lines"])
            out.sources.append(focusing.box_sources(cubes[i], integrated[i], blob, lines, s, continua[i]))
            out.detections[i] += out.sources[-1]
        return out

    def characterise(self, cubes: np.ndarray, detections: list[list[dict]], grid: fitsio.Grid,
                     beam: geometry.Beam | None = None) -> list[Result]:
        """Stage 5-6: ResNet parameters, fluxes, catalogue, model cube and continuum image per cube; boxes and
        aperture fluxes with the cubes' ``beam`` (pixels; default: the training set's)."""
        size = self.settings["focus_size"]
        per_cube = [focused_crops(c, d, size, self.settings["mask_dilation"]) for c, d in zip(cubes, detections)]
        stacked = {kind: np.array([x for p in per_cube for x in p[kind]]).reshape(-1, size, size)
                   for kind in ("focused", "line")}
        params = {}
        for name, net in self.nets.items():
            x, scales = resnets.inputs(stacked[resnets.IMAGE[name]])
            params[name] = resnets.decode(name, resnets.predict(net, x, self.device), scales)
        missing = set(resnets.TARGETS) - set(params)
        if missing:
            raise ValueError(f"characterisation needs the ResNets for {sorted(missing)}")
        results, k = [], 0
        for cube, sources, crops in zip(cubes, detections, per_cube):
            n = len(sources)
            values = {name: v[k:k + n] for name, v in params.items()}
            k += n
            catalogue = self._catalogue(cube, sources, crops, values, grid, beam or self.beam)
            results.append(Result(catalogue, self.model_cube(catalogue, grid), crops["continuum"]))
        return results

    def run(self, cubes: np.ndarray, grid: fitsio.Grid, where: str = "cube", beam: geometry.Beam | None = None,
            psf: np.ndarray | None = None) -> list[Result]:
        """The whole pipeline on dirty cubes (n, nchan, ny, nx) of ``grid`` and ``beam`` (pixels; default: the
        training set's), in batches (``where`` names them in errors); ``psf``: their PSF cube (see
        :meth:`stages`)."""
        self.check_grid(grid, where)
        cubes = self.sanitise(cubes, where)
        if cubes.shape[1:] != (grid.nchan, grid.ny, grid.nx):
            raise ValueError(f"cubes of shape {cubes.shape[1:]} do not match their grid "
                             f"({grid.nchan}, {grid.ny}, {grid.nx})")
        out = []
        for start in range(0, len(cubes), self.settings["batch_cubes"]):
            batch = cubes[start:start + self.settings["batch_cubes"]]
            out += self.characterise(batch, self.detect(batch, psf), grid, beam)
        return out

    def run_fits(self, path: str | Path, psf: str | Path | None = None) -> tuple[Result, fitsio.Grid]:
        """The pipeline on one FITS dirty cube, and the cube's grid (checked against the training set's); the
        catalogue's boxes and aperture fluxes use the cube's restoring beam where its header gives one. With
        its ``psf`` FITS (as tclean writes it: the same channels, peak at the centre pixel) a field larger
        than the training tile is read without its neighbours' sidelobes (see :meth:`stages`)."""
        data, header = fitsio.read_cube(path)
        grid = fitsio.Grid.from_header(header, str(path))
        beam = fitsio.read_beam(path)
        if beam is not None:
            beam = geometry.Beam.from_arcsec(beam, grid.cell_arcsec)
        psf_cube = None
        if psf is not None:
            psf_cube, _ = fitsio.read_cube(psf)
            if psf_cube.shape[0] != data.shape[0]:
                raise ValueError(f"{psf}: {psf_cube.shape[0]} PSF channels for the {data.shape[0]} of {path}")
        return self.run(data[None], grid, str(path), beam, psf_cube)[0], grid

    # ------------------------------------------------------------------ products

    def _catalogue(self, cube, sources, crops, values, grid: fitsio.Grid, beam: geometry.Beam) -> Table:
        """Catalogue rows of one cube's sources with their reliability (NaN without a model); duplicates (3-D
        IoU >= ``DUPLICATE_IOU`` with a source of higher score, e.g. one line found from two islands of a bright
        source) and sources below the operating point's threshold on its ranking column are left out (the
        continuum image still masks them)."""
        table = empty_catalogue()
        if not sources:
            return table
        cell, rms = grid.cell_arcsec, robust_rms(cube)
        wcs = grid.celestial_wcs()
        for j, s in enumerate(sources):
            x, y = crops["xy"][j]
            major, minor = float(values["fwhm_major"][j]), float(values["fwhm_minor"][j])
            pa = float(values["pa"][j])
            if minor > major:  # the two networks disagree on which axis is longer: swap, turn the PA
                major, minor, pa = minor, major, (pa + 90.0) % 180.0
            major, minor = max(major, 0.05 / cell), max(minor, 0.05 / cell)
            seen = geometry.seen_covariance(major, minor, pa, beam)
            box = geometry.clip_box(geometry.footprint_box(x, y, seen), cube.shape[1:])
            z0, z1 = s["range"]
            centre, fwhm = (z0 + z1) / 2, (z1 - z0) / 2
            flux = float(values["flux"][j])
            line = focusing.line_image(cube, crops["continuum"], s["range"])
            ra, dec = wcs.pixel_to_world_values(x, y)
            table.add_row({
                "id": j + 1, "x_pix": x, "y_pix": y, "ra_deg": float(ra), "dec_deg": float(dec),
                "line_centre_chan": centre, "line_fwhm_chan": fwhm,
                "line_centre_ghz": (grid.freq0_hz + grid.dfreq_hz * centre) / 1e9,
                "line_fwhm_mhz": fwhm * abs(grid.dfreq_hz) / 1e6,
                "fwhm_major_arcsec": major * cell, "fwhm_minor_arcsec": minor * cell, "pa_deg": pa,
                "line_flux_jy": flux / (fwhm * GAUSSIAN_AREA_PER_FWHM),
                "line_integrated_flux_jy_mhz": flux * abs(grid.dfreq_hz) / 1e6,
                "line_aperture_flux_jy_mhz": aperture_flux(line, box, x, y, seen, beam)
                * abs(grid.dfreq_hz) / 1e6,
                "continuum_flux_jy": aperture_flux(crops["continuum"], box, x, y, seen, beam),
                "snr": s["snr"], "snr_integrated": s["snr_integrated"], "pixel_snr": s["pixel_snr"],
                "measured_snr": measured_snr(cube, x, y, rms), "score": s["score"], "reliability": np.nan,
                "deblended": s["deblended"],
                **dict(zip(BOX_COLUMNS, map(float, geometry.box_3d(box, s["range"])))),
            })
        table = table[geometry.suppress(boxes_of(table), table["score"], DUPLICATE_IOU)]
        if self.settings["reliability"]:
            table["reliability"] = reliability.probability(self.settings["reliability"], table)
        table = table[np.asarray(table[self.settings["ranking"]], float) >= self.settings["ranking_threshold"]]
        table["id"] = np.arange(1, len(table) + 1)
        return table

    @staticmethod
    def model_cube(catalogue: Table, grid: fitsio.Grid) -> np.ndarray:
        """Jy/pixel cube: each source a Gaussian in space times continuum + Gaussian line in frequency."""
        sources = [skymodels.LineSource(
            x_pix=float(r["x_pix"]), y_pix=float(r["y_pix"]), fwhm_major_arcsec=float(r["fwhm_major_arcsec"]),
            fwhm_minor_arcsec=float(r["fwhm_minor_arcsec"]), pa_deg=float(r["pa_deg"]),
            line_centre_chan=float(r["line_centre_chan"]), line_fwhm_chan=float(r["line_fwhm_chan"]),
            line_flux_jy=float(r["line_flux_jy"]), continuum_flux_jy=max(float(r["continuum_flux_jy"]), 0.0),
            spectral_index=0.0) for r in catalogue]
        return skymodels.render_cube(sources, grid).astype(np.float32)


def continuum_grid(grid: fitsio.Grid) -> fitsio.Grid:
    """One-channel grid spanning the cube's band, for the continuum image."""
    centre = grid.freq0_hz + grid.dfreq_hz * (grid.nchan - 1) / 2
    return fitsio.Grid(nx=grid.nx, ny=grid.ny, cell_arcsec=grid.cell_arcsec, ra_deg=grid.ra_deg,
                       dec_deg=grid.dec_deg, freq0_hz=centre, dfreq_hz=grid.dfreq_hz * grid.nchan, nchan=1)


def write_products(result: Result, grid: fitsio.Grid, files: dict[str, str], params=None) -> dict[str, Path]:
    """The ``catalogue`` (ECSV), ``model`` (FITS, Jy/pixel) and ``continuum`` (FITS, Jy/beam) of one cube, with
    the cube's WCS, at the paths ``files`` gives them (see :data:`.settings.CUBE_PRODUCTS`)."""
    paths = {key: Path(files[key]) for key in CUBE_PRODUCTS}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    table = result.catalogue.copy()
    table.meta.update(provenance.record(params))
    tmp = paths["catalogue"].with_name(f".{paths['catalogue'].name}.tmp")
    table.write(tmp, format="ascii.ecsv", overwrite=True)
    tmp.replace(paths["catalogue"])
    fitsio.write_cube(paths["model"], result.model, grid.header("Jy/pixel"), params=params)
    fitsio.write_cube(paths["continuum"], result.continuum, continuum_grid(grid).header("Jy/beam"), params=params)
    return paths
