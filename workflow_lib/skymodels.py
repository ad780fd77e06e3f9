"""Sky models: the continuum test field and random spectral-line cubes.

Pixel values are Jy/pixel. Each Gaussian is pixel-integrated (supersampled
where it is compact), so the sum over the pixels of an untruncated source
equals its flux density. Position angles are astronomical: the major axis
measured from north through east; east is towards smaller x (RA increases
to the left, ``CDELT1 < 0``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from astropy import units as u
from astropy.table import Table

from . import fitsio, provenance, seeds
from .units import FWHM_TO_SIGMA, GAUSSIAN_AREA_PER_FWHM


def gaussian_2d(nx: int, ny: int, x0: float, y0: float, fwhm_major_pix: float, fwhm_minor_pix: float,
                pa_deg: float) -> np.ndarray:
    """Unit-flux elliptical Gaussian on a ``(ny, nx)`` grid, pixel-integrated.

    The result sums to 1 when the source lies well inside the grid. Only a box
    of +-6 sigma around the centre is evaluated.
    """
    if fwhm_minor_pix <= 0 or fwhm_major_pix < fwhm_minor_pix:
        raise ValueError(f"need 0 < fwhm_minor <= fwhm_major, got {fwhm_minor_pix}, {fwhm_major_pix} pixels")
    s_maj, s_min = fwhm_major_pix * FWHM_TO_SIGMA, fwhm_minor_pix * FWHM_TO_SIGMA
    image = np.zeros((ny, nx))
    half = 6.0 * s_maj
    x_lo, x_hi = max(int(np.floor(x0 - half)), 0), min(int(np.ceil(x0 + half)) + 1, nx)
    y_lo, y_hi = max(int(np.floor(y0 - half)), 0), min(int(np.ceil(y0 + half)) + 1, ny)
    if x_lo >= x_hi or y_lo >= y_hi:
        return image
    # supersample so that the finest sigma spans >= 2 sub-pixels
    sub = int(np.clip(np.ceil(2.0 / s_min), 1, 16))
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    xs = (np.arange(x_lo, x_hi)[:, None] + offsets[None, :]).ravel()
    ys = (np.arange(y_lo, y_hi)[:, None] + offsets[None, :]).ravel()
    dx, dy = xs[None, :] - x0, ys[:, None] - y0
    # unit vector of the major axis in pixel coordinates: north = +y, east = -x
    theta = np.deg2rad(pa_deg)
    along = -dx * np.sin(theta) + dy * np.cos(theta)
    across = dx * np.cos(theta) + dy * np.sin(theta)
    g = np.exp(-0.5 * ((along / s_maj) ** 2 + (across / s_min) ** 2)) / (2 * np.pi * s_maj * s_min)
    g = g.reshape(y_hi - y_lo, sub, x_hi - x_lo, sub).mean(axis=(1, 3))
    image[y_lo:y_hi, x_lo:x_hi] = g
    return image


# ----------------------------------------------------------------------------- continuum field

def continuum_grid(spec: dict, observation: dict) -> fitsio.Grid:
    return fitsio.Grid(nx=spec["npix"], ny=spec["npix"], cell_arcsec=spec["cell_arcsec"],
                       ra_deg=observation["phase_centre"]["ra_deg"], dec_deg=observation["phase_centre"]["dec_deg"],
                       freq0_hz=spec["freq_ghz"] * 1e9, dfreq_hz=spec["bandwidth_ghz"] * 1e9, nchan=1)


def offset_to_pixel(grid: fitsio.Grid, east_arcsec: float, north_arcsec: float) -> tuple[float, float]:
    """Tangent-plane offset from the phase centre to 0-based pixel (x, y)."""
    cx, cy = grid.centre
    return cx - east_arcsec / grid.cell_arcsec, cy + north_arcsec / grid.cell_arcsec


def continuum_field(spec: dict, observation: dict) -> tuple[np.ndarray, Table, fitsio.Grid]:
    """Sky image (Jy/pixel) and component table of the continuum test field."""
    grid = continuum_grid(spec, observation)
    image = np.zeros((grid.ny, grid.nx))
    rows = []
    for comp in spec["components"]:
        x, y = offset_to_pixel(grid, *comp["offset_arcsec"])
        if not (0 <= x < grid.nx and 0 <= y < grid.ny):
            raise ValueError(f"continuum.components[{comp['name']}].offset_arcsec places the component outside the image")
        flux = comp["flux_mjy"] * 1e-3
        unit = gaussian_2d(grid.nx, grid.ny, x, y, comp["fwhm_major_arcsec"] / grid.cell_arcsec,
                           comp["fwhm_minor_arcsec"] / grid.cell_arcsec, comp["pa_deg"])
        image += flux * unit
        rows.append((comp["name"], x, y, *comp["offset_arcsec"], flux, comp["fwhm_major_arcsec"],
                     comp["fwhm_minor_arcsec"], comp["pa_deg"], flux * unit.max()))
    table = Table(rows=rows, names=("name", "x_pix", "y_pix", "offset_east_arcsec", "offset_north_arcsec", "flux_jy",
                                    "fwhm_major_arcsec", "fwhm_minor_arcsec", "pa_deg", "peak_jy_per_pixel"))
    _add_sky_coordinates(table, grid)
    table["flux_jy"].unit = u.Jy
    table["peak_jy_per_pixel"].unit = u.Jy / u.pix
    return image[None], table, grid


def _add_sky_coordinates(table: Table, grid: fitsio.Grid) -> None:
    ra, dec = grid.celestial_wcs().pixel_to_world_values(np.asarray(table["x_pix"]), np.asarray(table["y_pix"]))
    table["ra_deg"] = np.asarray(ra) * u.deg
    table["dec_deg"] = np.asarray(dec) * u.deg


# ----------------------------------------------------------------------------- spectral-line cubes

@dataclass(frozen=True)
class LineSource:
    """One source of a cube: a 2-D Gaussian with a power-law continuum and a Gaussian line."""

    x_pix: float
    y_pix: float
    fwhm_major_arcsec: float
    fwhm_minor_arcsec: float
    pa_deg: float
    line_centre_chan: float
    line_fwhm_chan: float
    line_flux_jy: float        # line peak flux density (spatially integrated) at the line centre
    continuum_flux_jy: float   # continuum flux density (spatially integrated) at the reference frequency
    spectral_index: float

    def spectrum(self, freqs_hz: np.ndarray, ref_freq_hz: float) -> np.ndarray:
        chan = np.arange(freqs_hz.size)
        sigma = self.line_fwhm_chan * FWHM_TO_SIGMA
        line = self.line_flux_jy * np.exp(-0.5 * ((chan - self.line_centre_chan) / sigma) ** 2)
        return self.continuum_flux_jy * (freqs_hz / ref_freq_hz) ** self.spectral_index + line


def cube_grid(spec: dict, observation: dict) -> fitsio.Grid:
    df = spec["channel_width_mhz"] * 1e6
    f0 = spec["centre_freq_ghz"] * 1e9 - df * (spec["nchan"] - 1) / 2
    return fitsio.Grid(nx=spec["npix"], ny=spec["npix"], cell_arcsec=spec["cell_arcsec"],
                       ra_deg=observation["phase_centre"]["ra_deg"], dec_deg=observation["phase_centre"]["dec_deg"],
                       freq0_hz=f0, dfreq_hz=df, nchan=spec["nchan"])


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_sources(spec: dict, grid: fitsio.Grid, rng: np.random.Generator) -> list[LineSource]:
    """Random sources apart by ``min_separation_arcsec``, the brightest at the field centre if
    ``brightest_at_centre`` (the training set's convention), else all placed uniformly; a ``sparse_fraction``
    of the cubes holds zero or one source instead of ``n_sources`` (no random draw spent when it is 0, so a
    config without sparse cubes draws what it drew before)."""
    low, high = spec["n_sources"]
    if spec["sparse_fraction"] > 0 and rng.random() < spec["sparse_fraction"]:
        low, high = 0, 1   # a noise-only or single-source cube
    n = int(rng.integers(low, high + 1))
    fluxes = sorted((_loguniform(rng, *spec["line_flux_mjy"]) * 1e-3 for _ in range(n)), reverse=True)
    margin = spec["edge_margin_arcsec"] / grid.cell_arcsec
    min_sep = spec["min_separation_arcsec"] / grid.cell_arcsec
    positions = [grid.centre] if spec["brightest_at_centre"] else []
    while len(positions) < n:
        for _ in range(10000):
            x, y = rng.uniform(margin, grid.nx - 1 - margin), rng.uniform(margin, grid.ny - 1 - margin)
            if all(np.hypot(x - px, y - py) >= min_sep for px, py in positions):
                positions.append((x, y))
                break
        else:
            raise ValueError(f"cubes: cannot place {n} sources {spec['min_separation_arcsec']} arcsec apart "
                             f"inside {grid.nx} x {grid.ny} pixels with edge_margin_arcsec={spec['edge_margin_arcsec']}")
    return _with_parameters(spec, positions, fluxes, grid.nchan, rng)


def _with_parameters(spec: dict, positions: list, fluxes: list, nchan: int, rng: np.random.Generator) -> list[LineSource]:
    """Sources at ``positions`` with line peak ``fluxes`` (Jy), their shapes and spectra drawn from ``spec``."""
    sources = []
    lo_line, hi_line = spec["line_fwhm_chan"]
    for (x, y), flux in zip(positions, fluxes):
        fwhm_major = rng.uniform(*spec["fwhm_arcsec"])
        fwhm_minor = fwhm_major * rng.uniform(spec["axis_ratio"][0], spec["axis_ratio"][1])
        line_fwhm = rng.uniform(lo_line, hi_line)
        centre = rng.uniform(line_fwhm, nchan - 1 - line_fwhm)
        sources.append(LineSource(
            x_pix=float(x), y_pix=float(y), fwhm_major_arcsec=float(fwhm_major), fwhm_minor_arcsec=float(fwhm_minor),
            pa_deg=float(rng.uniform(0.0, 180.0)), line_centre_chan=float(centre), line_fwhm_chan=float(line_fwhm),
            line_flux_jy=flux, continuum_flux_jy=flux * float(rng.uniform(*spec["continuum_to_line"])),
            spectral_index=float(rng.uniform(*spec["spectral_index"]))))
    return sources


# ----------------------------------------------------------------------------- training cubes with a guard ring

def simulation_grid(spec: dict, observation: dict) -> fitsio.Grid:
    """The grid a training cube is simulated on: its tile (:func:`cube_grid`) inside a ring of
    ``guard_pix`` pixels on every side, about the same phase centre."""
    tile, guard = cube_grid(spec, observation), spec["guard_pix"]
    return replace(tile, nx=tile.nx + 2 * guard, ny=tile.ny + 2 * guard)


def tile_of(array: np.ndarray, guard: int) -> np.ndarray:
    """The tile of an image or cube (last two axes y, x) simulated with a ``guard``-pixel ring."""
    return array[..., guard:array.shape[-2] - guard, guard:array.shape[-1] - guard]


def guard_sources(spec: dict, grid: fitsio.Grid, guard: int, placed: list, rng: np.random.Generator) -> list[LineSource]:
    """Sources of the guard ring of simulation ``grid``: a Poisson number at the mean density of
    ``n_sources`` per tile, centres at least ``edge_margin_arcsec`` outside the tile (as the tile's own keep
    it inside, so that no source is cut in two by the tile's edge) and inside the grid, and
    ``min_separation_arcsec`` from every source (``placed``: the tile's, in ``grid`` pixels); a position not
    found in 100 tries is given up (a crowded ring holds fewer)."""
    tile = grid.nx - 2 * guard
    ring_area = grid.nx * grid.ny - tile * tile
    n = int(rng.poisson(np.mean(spec["n_sources"]) * ring_area / tile ** 2))
    fluxes = sorted((_loguniform(rng, *spec["line_flux_mjy"]) * 1e-3 for _ in range(n)), reverse=True)
    margin = spec["edge_margin_arcsec"] / grid.cell_arcsec
    min_sep = spec["min_separation_arcsec"] / grid.cell_arcsec
    lo, hi = guard - 0.5 - margin, guard + tile - 0.5 + margin    # the tile's footprint and its margin
    positions, kept = [(s.x_pix, s.y_pix) for s in placed], []
    for flux in fluxes:
        for _ in range(100):
            x, y = rng.uniform(margin, grid.nx - 1 - margin), rng.uniform(margin, grid.ny - 1 - margin)
            outside = not (lo <= x < hi and lo <= y < hi)
            if outside and all(np.hypot(x - px, y - py) >= min_sep for px, py in positions):
                positions.append((x, y))
                kept.append(flux)
                break
    return _with_parameters(spec, positions[len(placed):], kept, grid.nchan, rng)


def training_cube(spec: dict, observation: dict, seed: int, index: int
                  ) -> tuple[np.ndarray, list[LineSource], list[LineSource]]:
    """Training cube ``index``: the sky on :func:`simulation_grid`, the tile's sources (tile pixels; its
    truth) and every source simulated (grid pixels, the tile's first). The tile's sources come from stream
    ``"cube", index`` as in a cube without a ring, the ring's from ``"guard", index``, so ``guard_pix: 0``
    gives the cubes it gave before."""
    tile, grid, guard = cube_grid(spec, observation), simulation_grid(spec, observation), spec["guard_pix"]
    sources = draw_sources(spec, tile, seeds.rng(seed, "cube", index))
    every = [replace(s, x_pix=s.x_pix + guard, y_pix=s.y_pix + guard) for s in sources]
    if guard:
        every += guard_sources(spec, grid, guard, every, seeds.rng(seed, "guard", index))
    return render_cube(every, grid), sources, every


def render_cube(sources: list[LineSource], grid: fitsio.Grid) -> np.ndarray:
    """Sky cube ``(nchan, ny, nx)`` in Jy/pixel."""
    cube = np.zeros((grid.nchan, grid.ny, grid.nx))
    freqs = grid.freqs_hz
    ref = float(freqs.mean())
    for s in sources:
        image = gaussian_2d(grid.nx, grid.ny, s.x_pix, s.y_pix, s.fwhm_major_arcsec / grid.cell_arcsec,
                            s.fwhm_minor_arcsec / grid.cell_arcsec, s.pa_deg)
        cube += s.spectrum(freqs, ref)[:, None, None] * image[None]
    return cube


def source_table(sources: list[LineSource], grid: fitsio.Grid) -> Table:
    """Truth catalogue of a cube, with sky coordinates and physical units."""
    names = [f.name for f in LineSource.__dataclass_fields__.values()]
    table = Table(rows=[[getattr(s, n) for n in names] for s in sources] or None, names=names,
                  dtype=[float] * len(names))
    table.add_column(np.arange(1, len(table) + 1), name="id", index=0)
    _add_sky_coordinates(table, grid)
    freqs = grid.freq0_hz + grid.dfreq_hz * np.asarray(table["line_centre_chan"])
    table["line_centre_ghz"] = freqs / 1e9 * u.GHz
    table["line_fwhm_mhz"] = np.asarray(table["line_fwhm_chan"]) * abs(grid.dfreq_hz) / 1e6 * u.MHz
    # Gaussian line integral: peak x FWHM x sqrt(pi / (4 ln 2))
    table["line_integrated_flux_jy_mhz"] = (np.asarray(table["line_flux_jy"]) * np.asarray(table["line_fwhm_mhz"])
                                            * GAUSSIAN_AREA_PER_FWHM) * u.Jy * u.MHz
    ref = float(grid.freqs_hz.mean())
    # flux density at the line centre: line peak on top of the continuum
    table["peak_flux_jy"] = (np.asarray(table["line_flux_jy"]) + np.asarray(table["continuum_flux_jy"])
                             * (freqs / ref) ** np.asarray(table["spectral_index"])) * u.Jy
    for name in ("line_flux_jy", "continuum_flux_jy"):
        table[name].unit = u.Jy
    table.meta["ref_freq_hz"] = ref
    return table


def sources_from_table(table: Table) -> list[LineSource]:
    names = [f.name for f in LineSource.__dataclass_fields__.values()]
    return [LineSource(**{n: float(row[n]) for n in names}) for row in table]


def random_cube(spec: dict, observation: dict, seed: int, index: int) -> tuple[np.ndarray, Table, fitsio.Grid]:
    grid = cube_grid(spec, observation)
    sources = draw_sources(spec, grid, seeds.rng(seed, "cube", index))
    return render_cube(sources, grid), source_table(sources, grid), grid


# ----------------------------------------------------------------------------- files

def write_skymodel(image: np.ndarray, table: Table, grid: fitsio.Grid, params: dict, fits_path, table_path) -> None:
    """Sky model FITS (Jy/pixel) and its truth catalogue (ECSV), both with provenance."""
    table.meta.update(provenance.record(params))
    table.write(str(table_path), format="ascii.ecsv", overwrite=True)
    fitsio.write_cube(fits_path, image, grid.header("Jy/pixel"), params=params)


def write_continuum_field(*, continuum: dict, observation: dict, fits: str, catalogue: str, params: dict) -> None:
    """The continuum test field (FITS) and its component table (ECSV)."""
    image, table, grid = continuum_field(continuum, observation)
    write_skymodel(image, table, grid, params, fits, catalogue)


def write_random_cube(*, cubes: dict, observation: dict, seed: int, index: int, fits: str, catalogue: str,
                      params: dict) -> None:
    """Random spectral-line cube ``index`` (FITS) and its truth catalogue (ECSV)."""
    cube, table, grid = random_cube(cubes, observation, seed, index)
    write_skymodel(cube, table, grid, params, fits, catalogue)
