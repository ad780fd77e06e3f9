"""Build one HDF5 shard of simulated cubes.

A shard holds ``shard_size`` consecutive cubes (the last one fewer). Cube
``i`` depends only on the config and ``i`` (its own random streams), so a
shard is bit-identical whichever job, machine or parallelism builds it; the
ducc backend runs single-threaded for the same reason.

Layout (all images float32, cube axes (chan, y, x)):

* ``dirty``, ``model``: (n, nchan, ny, nx); dirty in Jy/beam, model = true sky in Jy/pixel
* ``dirty_integrated``, ``model_integrated``: (n, ny, nx), the sum over channels
* ``psf``, ``pb``: (nchan, ny, nx), shared by all cubes (one uv coverage)
* ``noise_rms``: (n,) Jy/beam; ``index``: (n,) global cube indices
* ``sources``: one row per source with its cube index and truth parameters,
  incl. ``peak_jy_beam`` (noise-free dirty peak at the line centre) and ``snr``
* attrs: ``grid_header`` (FITS WCS of a cube), ``params`` (JSON), ``provenance`` (JSON)

With ``guard_pix`` > 0 each cube is simulated on its tile plus a ring of sky
(:func:`..skymodels.training_cube`) and every image above is the tile cut out
of it; the ring's sources are in no table, their spill-over is in ``model``.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from astropy.table import Table

from .. import provenance, seeds, skymodels
from ..fitsio import read_cube, write_cube
from ..imaging import tclean_to_fits
from ..simulate.coverage import Coverage
from ..simulate.ducc_backend import ChannelImager, simulate_cube
from ..simulate.observe import simulate_observation

log = logging.getLogger(__name__)
COMPRESSION = dict(compression="gzip", compression_opts=1, shuffle=True)


def shard_range(shard: int, shard_size: int, count: int) -> range:
    start = shard * shard_size
    if shard < 0 or start >= count:
        raise ValueError(f"shard {shard} is outside the {count} cubes of {shard_size} per shard")
    return range(start, min(start + shard_size, count))


def source_snr(imager: ChannelImager, sources: list[skymodels.LineSource], grid, rms: float) -> tuple[list, list]:
    """Noise-free dirty peak (Jy/beam) of each source alone at its line-centre channel, and peak / rms."""
    peaks = []
    ref = float(grid.freqs_hz.mean())
    for s in sources:
        chan = int(np.clip(round(s.line_centre_chan), 0, grid.nchan - 1))
        flux = s.spectrum(grid.freqs_hz, ref)[chan]
        image = flux * skymodels.gaussian_2d(grid.nx, grid.ny, s.x_pix, s.y_pix, s.fwhm_major_arcsec / grid.cell_arcsec,
                                             s.fwhm_minor_arcsec / grid.cell_arcsec, s.pa_deg)
        peaks.append(float(imager.convolve_psf(image * imager.coverage.pb[chan], chan).max()))
    snr = [p / rms if rms > 0 else np.inf for p in peaks]
    return peaks, snr


def casa_dirty_cube(sky: np.ndarray, grid, observation: dict, noise: dict, weighting: dict, seed: int, index: int,
                    scratch: Path, casa_log: str | None) -> tuple[np.ndarray, dict]:
    """The reference path: simobserve + thermal noise + tclean niter 0 for one cube."""
    cube_dir = scratch / f"cube_{index}"
    cube_dir.mkdir(parents=True, exist_ok=True)
    sky_fits = cube_dir / "sky.fits"
    write_cube(sky_fits, sky, grid.header("Jy/pixel"))
    ms = cube_dir / "sim.ms"
    record = simulate_observation(skymodel=str(sky_fits), ms=str(ms), record=str(cube_dir / "noise.json"),
                                  observation=observation, noise=noise, seed=seed, stream=["dataset", index],
                                  casa_log=casa_log)
    method = None if weighting["weighting"] == "natural" else {"deconvolver": "hogbom", **weighting}
    tclean_to_fits(ms=str(ms), skymodel=str(sky_fits), method=method, image=str(cube_dir / "dirty.fits"),
                   casa_log=casa_log)
    dirty, _ = read_cube(cube_dir / "dirty.fits")
    shutil.rmtree(cube_dir, ignore_errors=True)
    return dirty, record


def build_shard(*, dataset: dict, observation: dict, seed: int, coverage: str, index: int, shard: str,
                checksum: str, casa_log: str | None = None, params=None) -> dict:
    """Simulate the cubes of shard number ``index`` with the configured backend into the HDF5 ``shard`` and
    write its SHA-256 sidecar ``checksum``."""
    spec, coverage_h5, out_h5, number = dataset, coverage, shard, index   # the rule's names, shadowed below
    coverage = Coverage.load(coverage_h5)
    grid, sim_grid = skymodels.cube_grid(spec, observation), skymodels.simulation_grid(spec, observation)
    if not coverage.grid.matches(sim_grid):
        raise ValueError(f"{coverage_h5}: uv coverage was made for {coverage.grid}, not the configured {sim_grid}")
    guard = spec["guard_pix"]
    weighting = {"weighting": spec["weighting"], "robust": spec["robust"]}
    imager = ChannelImager(coverage, epsilon=spec["epsilon"], **weighting)
    indices = shard_range(index, spec["shard_size"], spec["count"])
    n, shape = len(indices), (grid.nchan, grid.ny, grid.nx)
    out = Path(out_h5)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    rows, started = [], time.perf_counter()
    try:
        with h5py.File(tmp, "w") as h5:
            def dataset(name, dshape, chunks=None, **kw):
                return h5.create_dataset(name, shape=dshape, dtype=np.float32, chunks=chunks, track_times=False, **kw)

            dirty_ds = dataset("dirty", (n, *shape), (1, *shape), **COMPRESSION)
            model_ds = dataset("model", (n, *shape), (1, *shape), **COMPRESSION)
            dirty_int = dataset("dirty_integrated", (n, grid.ny, grid.nx), (1, grid.ny, grid.nx), **COMPRESSION)
            model_int = dataset("model_integrated", (n, grid.ny, grid.nx), (1, grid.ny, grid.nx), **COMPRESSION)
            rms_ds = dataset("noise_rms", (n,))
            for j, cube in enumerate(indices):
                sky, sources, every = skymodels.training_cube(spec, observation, seed, cube)
                if spec["backend"] == "ducc":
                    rng = seeds.rng(seed, "noise", "dataset", cube)
                    dirty, record = simulate_cube(imager, sky, spec["noise"], rng, spec["noise_draw"])
                else:
                    dirty, record = casa_dirty_cube(sky, sim_grid, observation, spec["noise"], weighting, seed, cube,
                                                    scratch, casa_log)
                dirty, sky = skymodels.tile_of(dirty, guard), skymodels.tile_of(sky, guard)
                rms = record["target_rms_jy_per_beam"]
                table = skymodels.source_table(sources, grid)
                table["peak_jy_beam"], table["snr"] = source_snr(imager, every[:len(sources)], sim_grid, rms)
                table.add_column(np.full(len(table), cube, dtype=np.int64), name="cube", index=0)
                rows.append(table)
                dirty_ds[j], model_ds[j] = dirty, sky
                dirty_int[j], model_int[j] = dirty.sum(axis=0), sky.sum(axis=0)
                rms_ds[j] = rms
                log.info("shard %d: cube %d (%d/%d) %d sources (+%d in the guard ring), rms %.3g Jy/beam, %.2f s/cube",
                         number, cube, j + 1, n, len(sources), len(every) - len(sources), rms,
                         (time.perf_counter() - started) / (j + 1))
            h5.create_dataset("index", data=np.asarray(indices, dtype=np.int64), track_times=False)
            psf = skymodels.tile_of(np.stack([imager.psf(c) for c in range(grid.nchan)]), guard)
            h5.create_dataset("psf", data=psf.astype(np.float32), track_times=False, **COMPRESSION)
            h5.create_dataset("pb", data=skymodels.tile_of(coverage.pb, guard).astype(np.float32), track_times=False,
                              **COMPRESSION)
            catalogue = _stack(rows)
            h5.create_dataset("sources", data=catalogue.as_array(), track_times=False)
            h5.attrs["grid_header"] = grid.header("Jy/pixel").tostring()
            h5.attrs["units"] = json.dumps({"dirty": "Jy/beam", "model": "Jy/pixel", "psf": "1", "pb": "1"})
            h5.attrs["params"] = json.dumps(params, sort_keys=True, default=str)
            h5.attrs["provenance"] = json.dumps(provenance.record(params), sort_keys=True, default=str)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"disk full while writing {out}; free space and rerun") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    digest = provenance.file_sha256(out)
    Path(checksum).write_text(f"{digest}  {out.name}\n")
    entry = {"file": out.name, "first": indices.start, "count": n, "sha256": digest}
    log.info("shard written: %s", json.dumps(entry))
    return entry


def _stack(tables: list[Table]) -> Table:
    from astropy.table import vstack

    stacked = vstack(tables, metadata_conflicts="silent") if tables else Table()
    for name in stacked.colnames:  # HDF5 compound types: plain numbers, units live in the docs
        stacked[name].unit = None
    return stacked
