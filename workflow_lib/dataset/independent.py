"""DeepFocus's independent test set: cubes that CASA makes end to end, never used in training or tuning.

The training cubes come from this project's ducc0 simulator with its own
Gaussian noise; these come from CASA alone. Each cube: a sky drawn from the
training set's source population (sources placed uniformly, not the brightest
at the centre), ``simobserve`` with ``thermalnoise="tsys-atm"`` (CASA's noise
from its atmosphere model) under the ``independent.observation`` setup (another
date, declination, hour angle and integration), and ``tclean`` niter 0
(natural weighting) of the noisy and of the noise-free measurement set.
Fields come in kinds (``independent.fields``): the training tile, sparse
fields with zero or one source, wide fields that the pipeline must tile.

The truth SNR is the training set's: the noise-free dirty peak of each source
alone at its line centre (on this observation's uvw and tclean's primary
beam, see :func:`.shards.source_snr`) over the image noise, which here is
measured: the standard deviation of the noisy minus the noise-free dirty cube.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import msio, provenance, seeds, skymodels
from ..casa import check_epoch
from ..config import independent_spec
from ..fitsio import beam_arcsec, read_cube, write_cube
from ..imaging import tclean_to_fits
from ..simulate.casa_backend import simobserve
from ..simulate.coverage import Coverage, read_uvw
from ..simulate.ducc_backend import ChannelImager
from .shards import source_snr

log = logging.getLogger(__name__)


def build_cube(*, dataset: dict, observation: dict, pwv_mm: float, field: dict, seed: int, cube: str, dirty: str,
               psf: str, truth: str, record: str, casa_log: str | None = None, params=None) -> dict:
    """Simulate independent cube ``cube`` (``<kind>_<k>``, of ``field``: npix, n_sources) observed with
    ``observation`` at ``pwv_mm``: its ``dirty`` cube (FITS, Jy/beam) and tclean's ``psf`` of it, ``truth``
    catalogue (ECSV, with ``peak_jy_beam`` and ``snr``) and ``record`` (JSON: noise, beam, observation,
    timings)."""
    kind, k = cube.rsplit("_", 1)
    spec = independent_spec(dataset, field)
    check_epoch(observation["ref_date"])
    grid = skymodels.cube_grid(spec, observation)
    sources = skymodels.draw_sources(spec, grid, seeds.rng(seed, "independent", kind, int(k)))
    sky = skymodels.render_cube(sources, grid)
    noise = {"pwv_mm": pwv_mm,
             "seed": int(seeds.rng(seed, "independent-noise", kind, int(k)).integers(1, 2**31 - 1))}
    out = Path(dirty)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{cube}.", dir=out.parent))
    started = time.perf_counter()
    try:
        sky_fits = scratch / "sky.fits"
        write_cube(sky_fits, sky, grid.header("Jy/pixel"))
        noisy_ms, free_ms = scratch / "noisy.ms", scratch / "noise_free.ms"
        simobserve(str(sky_fits), str(noisy_ms), observation, casa_log, thermal_noise=noise,
                   noise_free_out=str(free_ms))
        simulated = time.perf_counter()
        images = {"noisy": scratch / "dirty.fits", "noise_free": scratch / "noise_free.fits"}
        tclean_to_fits(ms=str(noisy_ms), skymodel=str(sky_fits), selection={"datacolumn": "data"},
                       casa_log=casa_log, params=params, image=str(images["noisy"]), pb=str(scratch / "pb.fits"),
                       psf=str(scratch / "psf.fits"))
        tclean_to_fits(ms=str(free_ms), skymodel=str(sky_fits), selection={"datacolumn": "data"},
                       casa_log=casa_log, image=str(images["noise_free"]))
        imaged = time.perf_counter()
        noisy, header = read_cube(images["noisy"])
        free, _ = read_cube(images["noise_free"])
        per_channel = (noisy - free).std(axis=(1, 2))
        rms = float((noisy - free).std())
        if not rms > 0:
            raise RuntimeError(f"{cube}: simobserve added no thermal noise (noisy and noise-free images agree)")
        pb, _ = read_cube(scratch / "pb.fits")
        coverage = Coverage(uvw_m=read_uvw(str(noisy_ms)), freqs_hz=msio.channel_frequencies(str(noisy_ms)),
                            pb=np.nan_to_num(pb), grid=grid)
        table = skymodels.source_table(sources, grid)
        table["peak_jy_beam"], table["snr"] = source_snr(ChannelImager(coverage, epsilon=dataset["epsilon"]),
                                                         sources, grid, rms)
        table.meta.update({**provenance.record(params), "cube": cube, "noise_rms_jy_per_beam": rms})
        tmp_truth = scratch / "truth.ecsv"
        table.write(tmp_truth, format="ascii.ecsv")
        bmaj, bmin, bpa = beam_arcsec(header)
        entry = {"cube": cube, "field": kind, "npix": grid.nx, "sources": len(sources),
                 "noise_rms_jy_per_beam": rms, "noise_rms_per_channel": [float(per_channel.min()),
                                                                          float(per_channel.max())],
                 "beam_arcsec": [bmaj, bmin, bpa], "thermal_noise": {"mode": "tsys-atm", **noise},
                 "observation": observation, "simobserve_s": simulated - started, "tclean_s": imaged - simulated,
                 **provenance.record(params)}
        shutil.move(str(tmp_truth), truth)
        shutil.move(str(scratch / "psf.fits"), psf)
        shutil.move(str(images["noisy"]), dirty)
        Path(record).write_text(json.dumps(entry, indent=1, default=str) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("%s: %d sources, noise %.3g Jy/beam (channels %.3g-%.3g), beam %.3g x %.3g arcsec, %.1f s", cube,
             len(sources), rms, per_channel.min(), per_channel.max(), bmaj, bmin, time.perf_counter() - started)
    return entry
