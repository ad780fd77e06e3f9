"""A signed sky (emission minus a log-normal absorption field) on an SZ-like decrement simulated by simobserve:
the decrement and its uncertainty against the truth, the positive-only sky that cannot hold it, and the refusal
of an absorption run whose data show no trough."""

import dataclasses

import numpy as np
import pytest

from workflow_lib import fitsio
from workflow_lib.resolve import defaults, diagnostics, observation, products, response
from workflow_lib.resolve import steps as run
from workflow_lib.simulate.casa_backend import simobserve
from workflow_lib.skymodels import gaussian_2d

RA0, DEC0 = 239.1746, -35.0
NPIX, CELL = 64, 0.4
DECREMENT = (-6.0, -2.0, -0.012, 5.0)   # east, north (arcsec), flux (Jy), FWHM (arcsec): a negative blob
SOURCE = (5.0, 4.0, 0.004, 0.8)         # a compact positive source beside it
SIGMA = 1.5e-3                          # Jy per real and imaginary part of one visibility
OBSERVATION = {"antenna_config": "alma.cycle9.1", "ref_date": "2024/03/21", "hour_angle": "transit",
               "integration_s": 60, "total_time_s": 2400}


def render(components) -> np.ndarray:
    image = np.zeros((NPIX, NPIX))
    for east, north, flux, fwhm in components:
        image += flux * gaussian_2d(NPIX, NPIX, NPIX // 2 - east / CELL, NPIX // 2 + north / CELL, fwhm / CELL,
                                    fwhm / CELL, 0.0)
    return image


def aperture(east, north, radius_arcsec) -> np.ndarray:
    yy, xx = np.mgrid[:NPIX, :NPIX]
    return np.hypot(xx - (NPIX // 2 - east / CELL), yy - (NPIX // 2 + north / CELL)) * CELL <= radius_arcsec


def observe(tmp_path, components, seed) -> observation.Observation:
    """simobserve's visibilities of ``components`` (one pointing) plus Gaussian noise of ``SIGMA``."""
    grid = fitsio.Grid(nx=NPIX, ny=NPIX, cell_arcsec=CELL, ra_deg=RA0, dec_deg=DEC0, freq0_hz=230e9,
                       dfreq_hz=2e9, nchan=1)
    fitsio.write_cube(tmp_path / "sky.fits", render(components), grid.header("Jy/pixel"), params={})
    ms = simobserve(str(tmp_path / "sky.fits"), str(tmp_path / "sim.ms"), OBSERVATION, str(tmp_path / "casa.log"))
    obs = observation.read(ms)
    rng = np.random.default_rng(seed)
    noise = SIGMA * (rng.normal(size=obs.nvis) + 1j * rng.normal(size=obs.nvis))
    return dataclasses.replace(obs, vis=obs.vis + noise, weight=np.full(obs.nvis, SIGMA ** -2.0),
                               vis_difference=None)


def spec(absorption):
    prior = {"offset": 18.0, "zero_mode": [1.0, 0.1], "fluctuations": [1.5, 0.5], "slope": [-3.0, 0.5],
             "flexibility": None, "asperity": None, "point_sources": {"alpha": 1.5, "q_jy_per_pixel": None},
             "absorption": absorption}
    return {"image": {"npix": NPIX, "cell_arcsec": CELL, "padding": 1.5, "primary_beam": "alma12m"},
            "sky": prior, "noise": {"model": "none", "scale": None},
            "response": {"mode": "psf", "epsilon": 1e-6, "wgridding": False},
            "inference": {"schedule": [{"iterations": 6, "samples": 2, "learn_noise": False, "minimizer": "newton",
                                        "kl_iterations": 15, "sampling_iterations": 100, "geovi_iterations": 0}]}}


ABSORPTION = {"enabled": True, "offset": None, "zero_mode": [1.0, 0.1], "fluctuations": [1.5, 0.5],
              "slope": [-3.0, 0.5], "flexibility": None, "asperity": None}


@pytest.fixture(scope="module")
def decrement(tmp_path_factory):
    return observe(tmp_path_factory.mktemp("decrement"), [DECREMENT, SOURCE], seed=3)


def posterior(obs, absorption, state):
    completed, chosen = defaults.complete(obs, spec(absorption))
    sky_model, _, samples, _, _ = run.infer(obs, completed, state, {"test": "signed"}, seed=8)
    flux = products.sky_jy_per_pixel(sky_model, CELL)
    return np.array([s.val for s in samples.iterator(flux)]), chosen


def fit(obs, samples) -> float:
    """Reduced chi^2 of the posterior mean at the sampled uv points."""
    pointings = response.pointing_responses(obs, NPIX, CELL, 1e-6, False, "alma12m")
    return diagnostics.reduced_chi2(obs, response.predict(pointings, samples.mean(axis=0), obs.nvis))


@pytest.fixture(scope="module")
def signed(decrement, tmp_path_factory):
    return posterior(decrement, ABSORPTION, tmp_path_factory.mktemp("signed"))


def test_signed_sky_recovers_the_decrement_and_the_source(signed):
    samples, chosen = signed
    assert "sky.absorption.offset" in chosen            # from the dirty image's trough
    truth = render([DECREMENT, SOURCE])
    for east, north, flux, fwhm in (DECREMENT, SOURCE):
        inside = aperture(east, north, 1.5 * fwhm)
        fluxes = samples[:, inside].sum(axis=1)
        assert fluxes.mean() == pytest.approx(truth[inside].sum(), rel=0.2), (east, north)
        assert fluxes.std() > 0
    assert samples.mean(axis=0).min() < 0.5 * truth.min()   # the decrement is negative in the image


def test_a_positive_sky_fits_the_decrement_worse(decrement, signed, tmp_path):
    """The positive-only prior, on the same data and schedule, leaves the decrement in the residuals: its fit at
    the uv points is worse than the signed sky's, which fits to the noise."""
    positive, _ = posterior(decrement, {"enabled": False}, tmp_path)
    signed_chi2, positive_chi2 = fit(decrement, signed[0]), fit(decrement, positive)
    assert signed_chi2 == pytest.approx(1.0, abs=0.02)
    assert positive_chi2 > signed_chi2 + 0.02


def test_absorption_without_a_trough_in_the_data_is_refused(tmp_path):
    obs = observe(tmp_path, [SOURCE], seed=4)
    with pytest.raises(ValueError, match="no absorption or decrement to set its level by"):
        defaults.complete(obs, spec(ABSORPTION))
