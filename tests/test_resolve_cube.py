"""RESOLVE on a spectral cube simulated by CASA simobserve: the reader's channel planes and its refusals, the
response against CASA's visibilities per channel, the fast path against the exact one, and the line flux,
centre and width of a short inference against the truth."""

import dataclasses
import shutil

import nifty8 as ift
import numpy as np
import pytest

from workflow_lib import fitsio, msio
from workflow_lib.resolve import likelihood, lines, noise, observation, products, response, sky
from workflow_lib.resolve import steps as run
from workflow_lib.simulate.casa_backend import simobserve
from workflow_lib.skymodels import gaussian_2d

from test_resolve_response import assert_same_likelihood

RA0, DEC0 = 239.1746, -35.0
NPIX, CELL, NCHAN = 48, 0.4, 12
F0, DF = 230e9, 10e6
# east, north (arcsec), line peak (Jy, spatially integrated), line centre and FWHM (channels), continuum (Jy),
# FWHM of the source (arcsec): a line alone, and a line on a continuum
SOURCES = [(-3.0, 2.0, 0.020, 4.0, 3.0, 0.0, 1.2), (4.0, -3.0, 0.012, 7.5, 4.0, 0.004, 0.8)]
OBSERVATION = {"antenna_config": "alma.cycle9.1", "ref_date": "2024/03/21", "hour_angle": "transit",
               "integration_s": 60, "total_time_s": 2400}
SIGMA = 4e-3                           # Jy per real and imaginary part of one visibility
SPECTRAL = {"fluctuations": [1.0, 0.5], "slope": [-4.0, 1.0], "flexibility": None, "asperity": None}
PRIOR = {"offset": 18.0, "zero_mode": [1.0, 0.1], "fluctuations": [1.5, 0.5], "slope": [-3.0, 0.5],
         "flexibility": None, "asperity": None, "point_sources": {"alpha": 1.5, "q_jy_per_pixel": None},
         "absorption": {"enabled": False}, "spectral": SPECTRAL}


def spectrum(source) -> np.ndarray:
    _, _, peak, centre, fwhm, continuum, _ = source
    chan = np.arange(NCHAN)
    return continuum + peak * np.exp(-4 * np.log(2) * (chan - centre) ** 2 / fwhm ** 2)


def truth() -> np.ndarray:
    """(NCHAN, NPIX, NPIX) in Jy/pixel, FITS orientation (east to the left)."""
    cube = np.zeros((NCHAN, NPIX, NPIX))
    for source in SOURCES:
        east, north, *_, size = source
        image = gaussian_2d(NPIX, NPIX, NPIX // 2 - east / CELL, NPIX // 2 + north / CELL, size / CELL,
                            size / CELL, 0.0)
        cube += spectrum(source)[:, None, None] * image[None]
    return cube


def aperture(source) -> np.ndarray:
    east, north, *_, size = source
    yy, xx = np.mgrid[:NPIX, :NPIX]
    return np.hypot(xx - (NPIX // 2 - east / CELL), yy - (NPIX // 2 + north / CELL)) * CELL <= 2 * size


@pytest.fixture(scope="module")
def cube_ms(tmp_path_factory):
    """Noise-free visibilities of :func:`truth`, one channel per plane, written by simobserve."""
    path = tmp_path_factory.mktemp("cube")
    grid = fitsio.Grid(nx=NPIX, ny=NPIX, cell_arcsec=CELL, ra_deg=RA0, dec_deg=DEC0, freq0_hz=F0, dfreq_hz=DF,
                       nchan=NCHAN)
    fitsio.write_cube(path / "sky.fits", truth(), grid.header("Jy/pixel"), params={})
    return simobserve(str(path / "sky.fits"), str(path / "cube.ms"), OBSERVATION, str(path / "casa.log"))


@pytest.fixture(scope="module")
def cube(cube_ms):
    return dataclasses.replace(observation.read(cube_ms, cube=True), ra_deg=RA0, dec_deg=DEC0)


def noisy(obs, seed=3):
    rng = np.random.default_rng(seed)
    return dataclasses.replace(obs, vis=obs.vis + SIGMA * (rng.normal(size=obs.nvis) + 1j * rng.normal(size=obs.nvis)),
                               weight=np.full(obs.nvis, SIGMA ** -2.0), vis_difference=None)


def test_each_channel_is_a_plane(cube_ms, cube):
    assert cube.nplanes == NCHAN
    np.testing.assert_allclose(cube.channel_freqs_hz, F0 + DF * np.arange(NCHAN))
    counts = np.bincount(cube.channel_index, minlength=NCHAN)
    assert np.all(counts == counts[0]) and counts.sum() == cube.nvis
    # each plane's uvw scaled at its own channel's frequency
    np.testing.assert_allclose(cube.freq_hz, np.asarray(cube.channel_freqs_hz)[cube.channel_index])
    blocks = cube.blocks()
    assert [plane for _, plane, _ in blocks] == list(range(NCHAN))
    assert all(np.all(cube.channel_index[rows] == plane) for _, plane, rows in blocks)
    image = observation.read(cube_ms)
    assert image.nplanes == 1 and image.channel_index is None and image.nvis == cube.nvis
    channels = observation.read(cube_ms, cube=True, channels=[2, 6])
    assert channels.nplanes == 4 and channels.channel_freqs_hz[0] == pytest.approx(F0 + 2 * DF)


def test_a_cube_refuses_averaging_uneven_widths_and_gaps(cube_ms, tmp_path):
    with pytest.raises(ValueError, match="cube.ms: a cube keeps every channel as a plane"):
        observation.read(cube_ms, cube=True, average=True)
    uneven = tmp_path / "uneven.ms"
    shutil.copytree(cube_ms, uneven)
    with msio.table(uneven / "SPECTRAL_WINDOW", writable=True) as tb:
        width = np.asarray(tb.getcell("CHAN_WIDTH", 0))
        width[5] *= 2
        tb.putcell("CHAN_WIDTH", 0, width)
    with pytest.raises(ValueError, match=r"uneven.ms: spectral window 0 has channels of different widths "
                                         r"\(1e\+07, 2e\+07 Hz\)"):
        observation.read(uneven, cube=True)
    observation.read(uneven, cube=True, channels=[0, 5])   # those of one width are a cube
    gap = tmp_path / "gap.ms"
    shutil.copytree(cube_ms, gap)
    with msio.table(gap / "SPECTRAL_WINDOW", writable=True) as tb:
        freq = np.asarray(tb.getcell("CHAN_FREQ", 0))
        freq[6:] += DF   # a missing channel: one width, but no linear frequency axis
        tb.putcell("CHAN_FREQ", 0, freq)
    with pytest.raises(ValueError, match=r"gap.ms: spectral window 0 has channels at uneven spacing \(from "
                                         r"1e\+07 to 2e\+07 Hz\)"):
        observation.read(gap, cube=True)


def test_response_reproduces_simobserve_in_every_channel(cube):
    """Our visibilities of the truth cube against CASA's, channel by channel (its beam and gridding against
    ours, as for the mosaic): within 1.5%; one plane for all channels is far off where the line is."""
    pointings = response.pointing_responses(cube, NPIX, CELL, 1e-7, False, "alma12m")
    assert len(pointings) == NCHAN
    ours = response.predict(pointings, truth(), cube.nvis)
    flat = response.predict(pointings, np.broadcast_to(truth().mean(axis=0), truth().shape), cube.nvis)
    for plane in range(NCHAN):
        sel = cube.channel_index == plane
        norm = np.linalg.norm(cube.vis[sel])
        assert np.linalg.norm(ours[sel] - cube.vis[sel]) < 0.015 * norm, plane
    line = cube.channel_index == 4
    assert np.linalg.norm(flat[line] - cube.vis[line]) > 0.3 * np.linalg.norm(cube.vis[line])
    # the exact operator is the same map, and its adjoint is the adjoint
    model = sky.sky_model(NPIX, CELL, 1.5, PRIOR, NCHAN, DF)
    R = response.Response(model.domain, pointings, cube.nvis)
    rng = np.random.default_rng(1)
    x = rng.normal(size=R.domain.shape)
    v = rng.normal(size=cube.nvis) + 1j * rng.normal(size=cube.nvis)
    forward = R(ift.makeField(R.domain, x)).val
    backward = R.adjoint(ift.makeField(R.target, v)).val
    assert np.vdot(v, forward).real == pytest.approx(np.vdot(backward, x), rel=1e-10)
    assert R.factor.shape == (NCHAN, NPIX, NPIX)


def test_fast_cube_likelihood_equals_the_exact_one(cube):
    data = noisy(cube)
    model = sky.sky_model(NPIX, CELL, 1.5, PRIOR, NCHAN, DF)
    pointings = response.pointing_responses(data, NPIX, CELL, 1e-9, False, "alma12m")
    R = response.Response(model.domain, pointings, data.nvis)
    noise_model = noise.noise_model(data, {"model": "scale", "scale": [1.0, 0.5]})
    exact = likelihood.build(data, model, noise_model, R, "exact")
    fast = likelihood.build(data, model, noise_model, R, "psf", response.ImagePlaneNormal(data, R))
    assert_same_likelihood(exact, fast, seed=4)


def test_inference_recovers_each_line(cube, tmp_path):
    """Six MGVI iterations: per source the aperture spectrum's line peak within 5% of the truth, its centre
    within 0.1 channel and its width within 5%, the continuum within 0.5 mJy; a cube FITS with the channels'
    spectral WCS."""
    data = noisy(cube)
    spec = {"image": {"npix": NPIX, "cell_arcsec": CELL, "padding": 1.5, "primary_beam": "alma12m"},
            "sky": PRIOR, "noise": {"model": "none", "scale": None},
            "response": {"mode": "psf", "epsilon": 1e-6, "wgridding": False},
            "inference": {"schedule": [{"iterations": 6, "samples": 2, "learn_noise": False, "minimizer": "newton",
                                        "kl_iterations": 15, "sampling_iterations": 100, "geovi_iterations": 0}]}}
    sky_model, _, samples, _, _ = run.infer(data, spec, tmp_path / "state", {"test": "cube"}, seed=5)
    grid = run.image_grid(data, NPIX, CELL)
    out = {k: str(tmp_path / f"{k}.fits") for k in ("mean", "std", "relative_std")}
    mean, std = products.write_images(samples, sky_model, grid, out, params={})
    assert mean.shape == std.shape == (NCHAN, NPIX, NPIX)
    written, header = fitsio.read_cube(out["mean"])
    assert written.shape == (NCHAN, NPIX, NPIX)
    assert (header["CTYPE3"], header["CRVAL3"], header["CDELT3"]) == ("FREQ", F0, DF)
    for source in SOURCES:
        _, _, peak, centre, fwhm, continuum, _ = source
        fit = lines.line_fit(mean[:, aperture(source)].sum(axis=1))
        truth_fit = lines.line_fit(truth()[:, aperture(source)].sum(axis=1))
        assert truth_fit["line_centre_chan"] == pytest.approx(centre, abs=1e-3)   # the fit itself is right
        assert fit["line_peak_jy"] == pytest.approx(truth_fit["line_peak_jy"], rel=0.05)
        assert fit["line_centre_chan"] == pytest.approx(centre, abs=0.1)
        assert fit["line_fwhm_chan"] == pytest.approx(fwhm, rel=0.05)
        assert fit["continuum_jy"] == pytest.approx(truth_fit["continuum_jy"], abs=5e-4)
