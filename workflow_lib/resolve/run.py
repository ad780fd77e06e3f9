"""One RESOLVE run: measurement set and run settings in, posterior products out."""

from __future__ import annotations

import shutil
from pathlib import Path

import nifty8 as ift
import numpy as np

from .. import fitsio, provenance, seeds
from . import inference, likelihood, noise, observation, products, response, sky


def image_grid(obs: observation.Observation, npix: int, cell_arcsec: float) -> fitsio.Grid:
    """The RESOLVE image grid: centred on the field's phase centre, at the data's mean frequency."""
    return fitsio.Grid(nx=npix, ny=npix, cell_arcsec=cell_arcsec, ra_deg=obs.ra_deg, dec_deg=obs.dec_deg,
                       freq0_hz=obs.mean_freq_hz, dfreq_hz=obs.bandwidth_hz, nchan=1)


def read_observation(ms: str, data: dict) -> observation.Observation:
    return observation.read(ms, column=data["column"], field=data["field"], spws=data["spws"],
                            channels=data["channels"], average=data["average_channels"])


def build(obs: observation.Observation, spec: dict, threads: int):
    """Sky model, noise model and likelihood of a run (``spec``: image, sky, noise, response)."""
    img, resp = spec["image"], spec["response"]
    npix, cell = img["npix"], img["cell_arcsec"]
    obs.check_image(npix, cell)
    wgridding = response.use_wgridding(obs, npix, cell, resp["wgridding"])
    gridder = response.Gridder(obs.uvw, cell, resp["epsilon"], wgridding, threads)
    factor = response.pixel_factor(cell, response.primary_beam(npix, cell, obs.mean_freq_hz, img["primary_beam"]))
    sky_model = sky.sky_model(npix, cell, img["padding"], spec["sky"])
    R = response.Response(sky_model.domain, gridder, factor)
    noise_model = noise.noise_model(obs, spec["noise"])
    normal = response.ImagePlaneNormal(obs, npix, gridder, factor) if resp["mode"] == "psf" else None
    return sky_model, noise_model, likelihood.build(obs, sky_model, noise_model, R, resp["mode"], normal)


def infer(obs: observation.Observation, spec: dict, state_dir: str, fingerprint: dict, seed: int, threads: int = 1):
    """Build the models of ``spec`` and run its schedule: (sky model, noise model, samples, history)."""
    sky_model, noise_model, lh = build(obs, spec, threads)
    noise_keys = [k for k in lh.energy.domain.keys() if k.startswith(noise.PREFIX)]
    counts = np.bincount(obs.spw_index, minlength=len(obs.spws))
    start = (lambda sums: noise_model.start(sums, counts)) if noise_model.alpha is not None else None
    samples, history = inference.optimize(lh, spec["inference"]["schedule"], state_dir, fingerprint, seed,
                                          noise_keys, start)
    return sky_model, noise_model, samples, history


def run(ms: str, spec: dict, seed: int, name: str, out: dict, state_dir: str, threads: int = 1) -> None:
    """Infer the sky of ``ms`` and write the products named in ``out`` (see rules/resolve.smk)."""
    ift.set_nthreads(threads)
    obs = read_observation(ms, spec["data"])
    params = {"resolve": spec, "seed": seed, "name": name}
    fingerprint = {"params": provenance.params_hash(params), "nvis": obs.nvis,
                   "data": [float(np.sum(obs.vis).real), float(np.sum(obs.vis).imag), float(np.sum(obs.weight))]}
    stream = int(seeds.rng(seed, "resolve", name).integers(2**63))
    sky_model, noise_model, samples, history = infer(obs, spec, state_dir, fingerprint, stream, threads)
    if not inference.is_master(inference.mpi_communicator()):
        return
    grid = image_grid(obs, spec["image"]["npix"], spec["image"]["cell_arcsec"])
    products.write_images(samples, sky_model, grid, out, params)
    products.write_samples(out["samples"], samples, sky_model, grid.cell_arcsec, params)
    products.write_power_spectrum(out["power_csv"], out["power_png"], out["power_pdf"], samples, sky_model)
    products.write_hyperparameters(out["hyper_csv"], out["hyper_md"], samples,
                                   {**sky_model.hyperparameters, **noise_model.hyperparameters}, params)
    products.write_history(out["history_csv"], out["history_png"], history)
    shutil.rmtree(Path(state_dir), ignore_errors=True)
