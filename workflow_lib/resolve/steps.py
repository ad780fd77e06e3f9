"""What the RESOLVE rules do: fetch a measurement set, the tCLEAN grid of real data, one RESOLVE run
(measurement set and run settings in, posterior products out) and its comparison with tCLEAN."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import nifty8 as ift
import numpy as np

from .. import fitsio, provenance, seeds, tables
from . import (archive, compare, defaults, diagnostics, inference, likelihood, lines, noise, observation,
               products, response, settings, sky)

log = logging.getLogger(__name__)


def image_grid(obs: observation.Observation, npix: int, cell_arcsec: float) -> fitsio.Grid:
    """The RESOLVE image grid: centred on the field's phase centre (a mosaic's: its pointings' mean direction),
    at the data's mean frequency; a cube's at its channels' frequencies."""
    grid = dict(nx=npix, ny=npix, cell_arcsec=cell_arcsec, ra_deg=obs.ra_deg, dec_deg=obs.dec_deg,
                specsys=obs.specsys)
    if obs.nplanes > 1:
        return fitsio.Grid(**grid, freq0_hz=obs.channel_freqs_hz[0], dfreq_hz=obs.channel_spacing_hz,
                           nchan=obs.nplanes)
    return fitsio.Grid(**grid, freq0_hz=obs.mean_freq_hz, dfreq_hz=obs.bandwidth_hz, nchan=1)


def read_observation(ms: str, data: dict) -> observation.Observation:
    return observation.read(ms, column=data["column"], field=data["field"], spws=data["spws"],
                            channels=data["channels"], average=data["average_channels"], mosaic=data["mosaic"],
                            cube=data["cube"])


def build(obs: observation.Observation, spec: dict):
    """Sky model, noise model, likelihood and exact response of a run (``spec``: image, sky, noise, response)."""
    img, resp = spec["image"], spec["response"]
    npix, cell = img["npix"], img["cell_arcsec"]
    obs.check_image(npix, cell)
    wgridding = response.use_wgridding(obs, npix, cell, resp["wgridding"])
    pointings = response.pointing_responses(obs, npix, cell, resp["epsilon"], wgridding, img["primary_beam"])
    sky_model = sky.sky_model(npix, cell, img["padding"], spec["sky"], obs.nplanes,
                              abs(obs.channel_spacing_hz) if obs.nplanes > 1 else 1.0)
    R = response.Response(sky_model.domain, pointings, obs.nvis)
    noise_model = noise.noise_model(obs, spec["noise"])
    normal = response.ImagePlaneNormal(obs, R) if resp["mode"] == "psf" else None
    return sky_model, noise_model, likelihood.build(obs, sky_model, noise_model, R, resp["mode"], normal), R


def model_visibilities(samples, sky_model: sky.SkyModel, R: response.Response) -> np.ndarray:
    """``(nsamples, nvis)`` visibilities of the posterior samples, through the exact response."""
    return np.array([R(s).val for s in samples.iterator(sky_model.sky)])


def infer(obs: observation.Observation, spec: dict, state_dir: str, fingerprint: dict, seed: int):
    """Build the models of ``spec`` and run its schedule: (sky model, noise model, samples, history, response).

    The fit per spectral window and per |uv| bin is logged at the end of every phase.
    """
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":   # the workflow and alma-imaging set it (step.set_threads)
        log.warning("OPENBLAS_NUM_THREADS is not 1: numpy's dot products may run threaded and sum in another "
                    "order, so this posterior need not be the same bits as another run's; set it before numpy "
                    "loads (workflow_lib.step.set_threads)")
    sky_model, noise_model, lh, R = build(obs, spec)
    noise_keys = [k for k in lh.energy.domain.keys() if k.startswith(noise.PREFIX)]
    counts = np.bincount(obs.spw_index, minlength=len(obs.spws))
    start = (lambda sums: noise_model.start(sums, counts)) if noise_model.alpha is not None else None

    def phase_end(samples, iteration):
        table = diagnostics.fit_table(obs, model_visibilities(samples, sky_model, R))
        log.info("fit after iteration %d (reduced chi^2, delivered weights): %s", iteration,
                 "; ".join(f"{r['selection']} {r['reduced_chi2']:.4g}" for r in table))

    samples, history = inference.optimize(lh, spec["inference"]["schedule"], state_dir, fingerprint, seed,
                                          noise_keys, start, phase_end)
    return sky_model, noise_model, samples, history, R


def fetch_data(*, data: dict, network: bool, dest: str, casa_log: str | None = None) -> None:
    """Copy (``data.path``), import (``data.uvfits``) or download (``data.url``) a run's measurement set to
    ``dest``."""
    if "path" in data:
        archive.copy_ms(data["path"], dest)
    elif "uvfits" in data:
        archive.import_uvfits(data["uvfits"], dest, casa_log)
    else:
        archive.download_ms(data["url"], data["member"], dest, data["sha256"], network)


def tclean_grid(*, ms: str, data: dict, npix: int, cell_arcsec: float, fits: str, params: dict) -> None:
    """An empty FITS image whose grid (centre, size, frequency) tCLEAN uses for a real data set."""
    grid = image_grid(read_observation(ms, data), npix, cell_arcsec)
    fitsio.write_cube(fits, np.zeros((grid.ny, grid.nx)), grid.header("Jy/pixel"), params=params)


def run(*, ms: str, run: dict, seed: int, name: str, state: str, threads: int = 1, **out: str) -> None:
    """Infer the sky of ``ms`` with the run settings ``run`` and write the products given as keywords (the keys
    of :data:`settings.FILES`); ``state`` is the directory that lets a killed run resume.

    ``threads`` go to NIFTy's Hartley transforms; the products are the same bits on any number (the gridder
    and the real FFTs run single-threaded, see :mod:`.response`), so the count is not a parameter of the result.
    """
    unknown = sorted(set(out) ^ set(settings.FILES))
    if unknown:
        raise TypeError(f"RESOLVE products {unknown} missing or unknown; a run writes {sorted(settings.FILES)}")
    state_dir = state
    ift.set_nthreads(threads)
    obs = read_observation(ms, run["data"])
    params = {"resolve": run, "seed": seed, "name": name}
    spec, chosen = defaults.complete(obs, run)
    fingerprint = {"params": provenance.params_hash(params), "nvis": obs.nvis,
                   "data": [float(np.sum(obs.vis).real), float(np.sum(obs.vis).imag), float(np.sum(obs.weight))]}
    stream = int(seeds.rng(seed, "resolve", name).integers(2**63))
    sky_model, noise_model, samples, history, R = infer(obs, spec, state_dir, fingerprint, stream)
    if not inference.is_master(inference.mpi_communicator()):
        return
    model_vis = model_visibilities(samples, sky_model, R)
    apparent = np.array([s.val * R.factor for s in samples.iterator(sky_model.sky)])
    last_phase = spec["inference"]["schedule"][-1]["iterations"]
    diagnostics.check_converged(obs, apparent, model_vis, history, name, last_phase, R)
    grid = image_grid(obs, spec["image"]["npix"], spec["image"]["cell_arcsec"])
    products.write_images(samples, sky_model, grid, out, params)
    products.write_samples(out["samples"], samples, sky_model, grid.cell_arcsec, params)
    products.write_power_spectrum(out["power_csv"], out["power_png"], out["power_pdf"], samples, sky_model)
    products.write_hyperparameters(out["hyper_csv"], out["hyper_md"], samples,
                                   {**sky_model.hyperparameters, **noise_model.hyperparameters}, params,
                                   defaults.table_rows(chosen))
    products.write_history(out["history_csv"], out["history_png"], history)
    tables.write_table(diagnostics.fit_table(obs, model_vis), out["fit_csv"], out["fit_md"],
                       f"RESOLVE {name}: fit at the sampled uv points per spectral window and |uv| bin", params=params)
    shutil.rmtree(Path(state_dir), ignore_errors=True)


def continuum_comparison(*, components: str, skymodel: str, images: list[str], methods: list[str], samples: str,
                         mean: str, std: str, csv: str, md: str, calibration_csv: str, calibration_md: str, png: str,
                         pdf: str, continuum: dict, observation: dict, emission_fraction: float, params: dict,
                         label: str = "Continuum field", measure: str = "peak") -> None:
    """Table 2 (``measure`` peak, or the integrated flux: ``flux``), the uncertainty calibration and the Fig. 9
    layout for a simulated field (``continuum``: its section; ``label`` names it): RESOLVE (``samples``,
    ``mean``, ``std``) against the tCLEAN ``images`` (pb-corrected, in the order of ``methods``)."""
    by_method = dict(zip(methods, images, strict=True))
    if measure == "peak":
        table = compare.continuum_peak_table(components, skymodel, by_method, samples, mean)
        title = f"{label}: peak flux per component (mJy/beam), model, tCLEAN and RESOLVE"
    else:
        table = compare.component_flux_table(components, skymodel, by_method, samples, mean)
        title = f"{label}: integrated flux per component (mJy), model, tCLEAN and RESOLVE"
    tables.write_table(table, csv, md, title, params=params)
    mean_image, header = fitsio.read_cube(mean)
    std_image, _ = fitsio.read_cube(std)
    truth = compare.truth_on_grid(continuum, observation, fitsio.Grid.from_header(header, mean))
    tables.write_table(compare.calibration_table(truth, mean_image[0], std_image[0], emission_fraction,
                                                 compare.sample_count(samples)),
                       calibration_csv, calibration_md, f"{label}: RESOLVE uncertainty calibration", params=params)
    compare.comparison_figure(mean, std, by_method, png, pdf)


def cube_comparison(*, truth: str, skymodel: str, noise_record: str, images: list[str], methods: list[str],
                    samples: str, mean: str, csv: str, md: str, png: str, pdf: str, params: dict) -> None:
    """Per source of a simulated cube (``truth``: its catalogue) the line and continuum that RESOLVE and the
    tCLEAN cube give at its position, against the model at the tCLEAN beam; the spectra figure (first tCLEAN
    method)."""
    rms = json.loads(Path(noise_record).read_text())["target_rms_jy_per_beam"]   # set, or from the snr
    by_method = dict(zip(methods, images, strict=True))
    table = lines.line_table(truth, skymodel, by_method, samples, mean, rms)
    tables.write_table(table, csv, md, "Spectral-line cube: line peak and continuum (mJy/beam), line centre and "
                       "FWHM (channels), line integral (mJy/beam MHz) per source, model, tCLEAN and RESOLVE",
                       params=params)
    lines.spectra_figure(truth, skymodel, images[0], samples, mean, methods[0], png, pdf)


def disk_comparison(*, ms: str, images: list[str], models: list[str], methods: list[str], samples: str, mean: str,
                    std: str, csv: str, md: str, uv_csv: str, uv_md: str, png: str, pdf: str, data: dict,
                    primary_beam: str, radii_arcsec: list, centre_offset_arcsec: list, params: dict) -> None:
    """Table 4 and the Fig. 12 layout for a real disk: RESOLVE against the tCLEAN ``images`` (pb-corrected),
    and both at the sampled uv points of ``ms`` (the tCLEAN ``models`` and the RESOLVE ``samples``)."""
    by_method = dict(zip(methods, images, strict=True))
    obs = read_observation(ms, data)
    table = compare.disk_flux_table(by_method, samples, mean, radii_arcsec, centre_offset_arcsec)
    table.meta["note"] += "; " + diagnostics.scale_note(obs)
    tables.write_table(table, csv, md, "Peak (Jy/beam) and flux within radii of the disk centre (Jy), "
                       "tCLEAN and RESOLVE", params=params)
    # tCLEAN's model of a mosaic (gridder mosaic) is the sky itself, of one field the sky seen by its beam
    model_beam = primary_beam if data["mosaic"] else "none"
    predicted = {f"tclean_{m}": compare.predicted_visibilities(obs, path, model_beam)
                 for m, path in zip(methods, models)}
    predicted["resolve"] = compare.predicted_visibilities(obs, mean, primary_beam, samples)
    tables.write_table(diagnostics.profile_comparison(obs, predicted), uv_csv, uv_md,
                       "tCLEAN and RESOLVE at the sampled uv points: fit and azimuthal profile per |uv| bin",
                       params=params)
    compare.comparison_figure(mean, std, by_method, png, pdf, zoom_arcsec=max(radii_arcsec) * 1.25)
