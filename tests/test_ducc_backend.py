"""The ducc0 backend against CASA (simobserve + tclean niter 0) on the same sky and uv coverage."""

import numpy as np
import pytest

from workflow_lib import fitsio, seeds, skymodels
from workflow_lib.imaging import tclean_to_fits
from workflow_lib.simulate.casa_backend import simobserve
from workflow_lib.simulate.coverage import Coverage, make_coverage, simulate_empty_sky, write_visibilities
from workflow_lib.simulate.ducc_backend import ChannelImager, _unit_noise, cube_visibilities, simulate_cube
from workflow_lib.simulate.gridding import dirty_image

NCHAN = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A small cube, its CASA simulation (noise-free MS) and the coverage of the same setup."""
    from workflow_lib import config
    from conftest import TINY

    cfg = config.load(TINY)
    spec = {**cfg["cubes"], "nchan": NCHAN, "line_fwhm_chan": [2, 4], "n_sources": [3, 3]}
    tmp = tmp_path_factory.mktemp("ducc")
    cube, table, grid = skymodels.random_cube(spec, cfg["observation"], seed=4, index=0)
    # make the faint sources visible so that every channel has structure
    skymodels.write_skymodel(cube, table, grid, spec, tmp / "sky.fits", tmp / "truth.ecsv")
    simobserve(str(tmp / "sky.fits"), str(tmp / "casa.ms"), cfg["observation"], str(tmp / "casa.log"))
    coverage = make_coverage(grid, cfg["observation"], str(tmp / "coverage.h5"), str(tmp / "casa.log"))
    simulate_empty_sky(grid, cfg["observation"], str(tmp / "template.ms"), str(tmp / "casa.log"))
    return {"tmp": tmp, "cube": cube, "grid": grid, "coverage": coverage}


def casa_dirty(setup, name, method=None):
    out = setup["tmp"] / f"{name}.fits"
    tclean_to_fits(ms=str(setup["tmp"] / "casa.ms"), skymodel=str(setup["tmp"] / "sky.fits"), method=method, image=str(out))
    return fitsio.read_cube(out)[0]


def relative_rms_per_channel(a, b):
    return np.sqrt(np.mean((a - b) ** 2, axis=(1, 2))) / np.abs(b).max()


def test_coverage_round_trip(setup):
    back = Coverage.load(setup["tmp"] / "coverage.h5")
    np.testing.assert_array_equal(back.uvw_m, setup["coverage"].uvw_m)
    assert back.grid.nchan == NCHAN and back.pb.shape == (NCHAN, 64, 64)
    assert back.pb.max() == pytest.approx(1.0, abs=1e-3) and back.pb.min() > 0.8


def test_nufft_matches_wgridder_conventions(setup):
    imager = ChannelImager(setup["coverage"], epsilon=2e-6)
    rng = np.random.default_rng(0)
    vis = rng.standard_normal(imager.nrow) + 1j * rng.standard_normal(imager.nrow)
    freq = setup["coverage"].freqs_hz[3:4]
    ref = dirty_image(setup["coverage"].uvw_m, freq, vis[:, None], np.ones((imager.nrow, 1)), 64,
                      setup["grid"].cell_arcsec, epsilon=1e-9)
    np.testing.assert_allclose(imager.dirty(vis, 3), ref, atol=1e-5 * np.abs(ref).max())
    # prediction is the adjoint of imaging: <dirty(v), x> = Re<v, predict(x)> / sum(w)
    x = rng.standard_normal((64, 64))
    lhs = np.vdot(imager.dirty(vis, 3), x)
    rhs = np.real(np.vdot(vis, imager.predict(x, 3))) / imager.nrow
    assert lhs == pytest.approx(rhs, rel=1e-5)
    # the PSF convolution is the dirty image of the predicted visibilities, without the NUFFT pair
    np.testing.assert_allclose(imager.convolve_psf(x, 3), imager.dirty(imager.predict(x, 3), 3),
                               atol=1e-5 * np.abs(x).max())
    psf = imager.psf(3, size=2)
    assert psf[64, 64] == pytest.approx(1.0) and psf.argmax() == 64 * 128 + 64


def test_noise_free_cube_matches_casa_channel_by_channel(setup):
    casa = casa_dirty(setup, "casa_natural")
    ours, record = simulate_cube(ChannelImager(setup["coverage"]), setup["cube"], {"rms_jy_per_beam": 0.0},
                                 seeds.rng(0))
    assert ours.shape == casa.shape == (NCHAN, 64, 64)
    assert relative_rms_per_channel(ours, casa).max() < 0.01
    assert record["sigma_per_visibility_jy"] == 0.0


def test_briggs_weighting_close_to_casa(setup):
    casa = casa_dirty(setup, "casa_briggs", {"deconvolver": "hogbom", "weighting": "briggs", "robust": 0.5})
    ours, _ = simulate_cube(ChannelImager(setup["coverage"], weighting="briggs", robust=0.5), setup["cube"],
                            {"rms_jy_per_beam": 0.0}, seeds.rng(0))
    natural, _ = simulate_cube(ChannelImager(setup["coverage"]), setup["cube"], {"rms_jy_per_beam": 0.0},
                               seeds.rng(0))
    # 4e-5 measured; without the conjugate cells in the weight density it was 1.3e-2
    assert relative_rms_per_channel(ours, casa).max() < 1e-3
    # and Briggs is really different from natural: far from CASA's Briggs image
    assert relative_rms_per_channel(natural, casa).max() > 0.01


def test_noise_level_and_snr(setup):
    imager = ChannelImager(setup["coverage"])
    noise_only, record = simulate_cube(imager, np.zeros_like(setup["cube"]), {"rms_jy_per_beam": 1e-3},
                                       seeds.rng(1))
    assert noise_only.std() == pytest.approx(1e-3, rel=0.05)
    assert record["sigma_per_visibility_jy"] == pytest.approx(1e-3 * np.sqrt(imager.nrow))
    noisy, record = simulate_cube(imager, setup["cube"], {"snr": 10.0}, seeds.rng(1))
    clean, _ = simulate_cube(imager, setup["cube"], {"rms_jy_per_beam": 0.0}, seeds.rng(1))
    assert record["noise_free_peak_jy_per_beam"] == pytest.approx(clean.max(), rel=1e-9)
    assert (noisy - clean).std() == pytest.approx(clean.max() / 10.0, rel=0.05)
    again, _ = simulate_cube(imager, setup["cube"], {"snr": 10.0}, seeds.rng(1))
    np.testing.assert_array_equal(noisy, again)


def _radial_power(images: np.ndarray, bins: int = 10) -> np.ndarray:
    """Mean power per |k| bin of a stack of images."""
    power = (np.abs(np.fft.rfft2(images)) ** 2).mean(axis=0)
    k = np.hypot(np.fft.fftfreq(images.shape[1])[:, None], np.fft.rfftfreq(images.shape[2])[None, :])
    which = np.digitize(k, np.linspace(0, 0.5, bins + 1))
    return np.array([power[which == b].mean() for b in range(1, bins + 1)])


@pytest.mark.parametrize("weighting", ["natural", "briggs"])
def test_image_domain_noise_has_the_gridded_noises_statistics(setup, weighting):
    """Per-pixel RMS and power spectrum of the image-domain draw against the exact per-visibility path."""
    imager = ChannelImager(setup["coverage"], weighting=weighting)
    rng = np.random.default_rng(3)
    draws = 2000
    exact = np.array([imager.dirty(_unit_noise(imager, rng), 4) for _ in range(draws)])
    fast = np.array([imager.image_noise(rng, 4) for _ in range(draws)])
    w = imager.weights(4)
    expected = np.sqrt(np.sum(w**2)) / w.sum()    # sigma 1 per part: sqrt(sum w^2) / sum w
    assert exact.std() == pytest.approx(expected, rel=0.01)
    assert fast.std() == pytest.approx(expected, rel=0.01)
    assert fast.std(axis=0).mean() == pytest.approx(exact.std(axis=0).mean(), rel=0.02)   # per pixel
    p_exact, p_fast = _radial_power(exact), _radial_power(fast)
    live = p_exact > 1e-3 * p_exact.max()
    np.testing.assert_allclose(p_fast[live], p_exact[live], rtol=0.02)
    # as a cube: the same RMS, a different draw
    cube = np.zeros_like(setup["cube"])
    noisy, record = simulate_cube(imager, cube, {"rms_jy_per_beam": 1e-3}, seeds.rng(1), "image")
    reference, _ = simulate_cube(imager, cube, {"rms_jy_per_beam": 1e-3}, seeds.rng(1))
    assert record["noise_draw"] == "image" and noisy.std() == pytest.approx(reference.std(), rel=0.05)
    assert not np.allclose(noisy, reference)
    with pytest.raises(ValueError, match="noise_draw 'uv'"):
        simulate_cube(imager, cube, {"rms_jy_per_beam": 1e-3}, seeds.rng(1), "uv")


def test_visibilities_written_to_ms_reproduce_the_noisy_dirty_cube(setup):
    """tclean of the exported visibilities gives the ducc dirty cube, noise draw included."""
    imager = ChannelImager(setup["coverage"])
    dirty, record = simulate_cube(imager, setup["cube"], {"rms_jy_per_beam": 5e-4}, seeds.rng(7, "noise"))
    vis = cube_visibilities(imager, setup["cube"], record["target_rms_jy_per_beam"], seeds.rng(7, "noise"))
    ms = setup["tmp"] / "exported.ms"
    write_visibilities(str(setup["tmp"] / "template.ms"), str(ms), vis, record["sigma_per_visibility_jy"])
    out = setup["tmp"] / "exported.fits"
    tclean_to_fits(ms=str(ms), skymodel=str(setup["tmp"] / "sky.fits"), image=str(out))
    casa = fitsio.read_cube(out)[0]
    assert relative_rms_per_channel(dirty, casa).max() < 0.01
    assert (dirty - simulate_cube(imager, setup["cube"], {"rms_jy_per_beam": 0.0}, seeds.rng(0))[0]).std() == \
        pytest.approx(5e-4, rel=0.1)
