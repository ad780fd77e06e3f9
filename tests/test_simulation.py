"""CASA simulation, ducc0 dirty imaging against tclean, thermal noise."""

import shutil

import numpy as np
import pytest

from workflow_lib import fitsio, msio, seeds, skymodels
from workflow_lib.imaging import tclean_to_fits
from workflow_lib.simulate.casa_backend import simobserve
from workflow_lib.simulate.gridding import dirty_image
from workflow_lib.simulate.noise import _stokes_i, add_thermal_noise

NPIX, CELL = 128, 0.1


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    """A noise-free simulated MS of one compact off-centre source (20 min, 60 s integrations)."""
    from workflow_lib import config
    from conftest import TINY

    cfg = config.load(TINY)
    spec = {**cfg["continuum"], "npix": NPIX, "components": [
        {"name": "A", "offset_arcsec": [2.0, 1.0], "flux_mjy": 10.0, "fwhm_major_arcsec": 0.3,
         "fwhm_minor_arcsec": 0.3, "pa_deg": 0.0}]}
    tmp = tmp_path_factory.mktemp("sim")
    image, table, grid = skymodels.continuum_field(spec, cfg["observation"])
    skymodels.write_skymodel(image, table, grid, spec, tmp / "sky.fits", tmp / "sky.ecsv")
    simobserve(str(tmp / "sky.fits"), str(tmp / "clean.ms"), cfg["observation"], str(tmp / "casa.log"))
    return {"dir": tmp, "ms": tmp / "clean.ms", "table": table, "grid": grid}


def read_stokes_i(ms):
    with msio.table(ms) as tb:
        return tb.getcol("UVW").T, _stokes_i(tb.getcol("DATA")), msio.channel_frequencies(ms)


def ducc_dirty(ms):
    uvw, vis, freqs = read_stokes_i(ms)
    return dirty_image(uvw, freqs, vis, np.ones(vis.shape), NPIX, CELL)


def test_ducc_dirty_image_matches_tclean(observation):
    out = observation["dir"] / "dirty.fits"
    tclean_to_fits(ms=str(observation["ms"]), skymodel=str(observation["dir"] / "sky.fits"), image=str(out))
    casa_dirty, header = fitsio.read_cube(out)
    ours = ducc_dirty(observation["ms"])
    peak = casa_dirty.max()
    assert np.sqrt(np.mean((casa_dirty[0] - ours) ** 2)) < 1e-3 * peak
    # the source is where the catalogue says, in both images
    row = observation["table"][0]
    for image in (casa_dirty[0], ours):
        y, x = np.unravel_index(np.argmax(image), image.shape)
        assert (x, y) == (round(row["x_pix"]), round(row["y_pix"]))
    assert "BMAJ" in header and header["BUNIT"].lower() == "jy/beam"


def test_noise_reaches_requested_rms(observation, tmp_path):
    noisy = tmp_path / "noisy.ms"
    shutil.copytree(observation["ms"], noisy)
    record = add_thermal_noise(str(noisy), {"rms_jy_per_beam": 2e-3}, seeds.rng(1, "test"), NPIX, CELL)
    noise_image = ducc_dirty(noisy) - ducc_dirty(observation["ms"])
    assert noise_image.std() == pytest.approx(2e-3, rel=0.1)
    assert record["sigma_per_visibility_jy"] == pytest.approx(2e-3 * np.sqrt(2 * record["rows_per_channel"]))
    with msio.table(noisy) as tb:
        assert "CORRECTED_DATA" not in tb.colnames()
        assert np.allclose(tb.getcol("WEIGHT"), record["sigma_per_visibility_jy"] ** -2)


def test_snr_defines_noise_from_the_noise_free_peak(observation, tmp_path):
    noisy = tmp_path / "snr.ms"
    shutil.copytree(observation["ms"], noisy)
    record = add_thermal_noise(str(noisy), {"snr": 25.0}, seeds.rng(1, "test"), NPIX, CELL)
    peak = ducc_dirty(observation["ms"]).max()
    assert record["noise_free_peak_jy_per_beam"] == pytest.approx(peak, rel=1e-6)
    assert record["target_rms_jy_per_beam"] == pytest.approx(peak / 25.0, rel=1e-6)


def test_noise_is_reproducible(observation, tmp_path):
    data = []
    for name in ("a.ms", "b.ms"):
        shutil.copytree(observation["ms"], tmp_path / name)
        add_thermal_noise(str(tmp_path / name), {"rms_jy_per_beam": 1e-3}, seeds.rng(9, "noise"), NPIX, CELL)
        with msio.table(tmp_path / name) as tb:
            data.append(tb.getcol("DATA"))
    np.testing.assert_array_equal(*data)


def test_bad_measurement_sets_are_named(observation, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ms: measurement set does not exist"):
        add_thermal_noise(str(tmp_path / "missing.ms"), {"rms_jy_per_beam": 1e-3}, seeds.rng(0), NPIX, CELL)
    (tmp_path / "junk.ms").mkdir()
    with pytest.raises(ValueError, match="junk.ms: not a CASA table"):
        add_thermal_noise(str(tmp_path / "junk.ms"), {"rms_jy_per_beam": 1e-3}, seeds.rng(0), NPIX, CELL)
    flagged = tmp_path / "flagged.ms"
    shutil.copytree(observation["ms"], flagged)
    with msio.table(flagged, writable=True) as tb:
        tb.putcol("FLAG", np.ones_like(tb.getcol("FLAG")))
    with pytest.raises(ValueError, match="flagged.ms: all visibilities are flagged"):
        add_thermal_noise(str(flagged), {"rms_jy_per_beam": 1e-3}, seeds.rng(0), NPIX, CELL)


def test_skymodel_without_wcs_is_refused(tmp_path, observation):
    from astropy.io import fits

    bare = tmp_path / "bare.fits"
    fits.PrimaryHDU(np.zeros((1, 1, 16, 16), dtype=np.float32)).writeto(bare)
    with pytest.raises(ValueError, match="bare.fits: no celestial WCS"):
        simobserve(str(bare), str(tmp_path / "x.ms"), {"antenna_config": "alma.cycle9.3"})
    assert not (tmp_path / "x.ms").exists()
