"""RESOLVE's data-driven defaults: grid, sky offset and noise-scale prior from the data; explicit values win."""

import numpy as np
import pytest

from workflow_lib import config
from workflow_lib.resolve import defaults, response
from workflow_lib.resolve.observation import C_LIGHT, Observation
from workflow_lib.units import ARCSEC, RAD_TO_ARCSEC

CELL = 0.05


def observe(flux=0.2, sigma=0.01, hands_sigma=(0.02, 0.01), nvis=6000, seed=3):
    """A point source of ``flux`` Jy at the phase centre in two windows; the half difference of the hands has
    ``hands_sigma[b]`` per real and imaginary part in window b, the delivered weights claim ``sigma``."""
    rng = np.random.default_rng(seed)
    uvw = np.column_stack([rng.normal(0, 2e5, (nvis, 2)), np.zeros(nvis)])
    spw = np.arange(nvis) % 2
    vis = flux + sigma * (rng.normal(size=nvis) + 1j * rng.normal(size=nvis))
    spread = np.asarray(hands_sigma)[spw]
    difference = spread * (rng.normal(size=nvis) + 1j * rng.normal(size=nvis))
    return Observation(ms="synthetic.ms", field_name="f", ra_deg=0.0, dec_deg=0.0, uvw=uvw, vis=vis,
                       weight=np.full(nvis, sigma ** -2.0), spw_index=spw, freq_hz=np.full(nvis, 230e9),
                       spws=(0, 1), bandwidth_hz=1e9, vis_difference=difference)


def test_primary_beam_fwhm_is_that_of_a_12_m_dish():
    fwhm = defaults.primary_beam_fwhm_arcsec(230e9, "alma12m")
    assert fwhm == pytest.approx(1.13 * C_LIGHT / 230e9 / 12.0 * RAD_TO_ARCSEC, rel=0.08)   # about 25 arcsec
    assert defaults.primary_beam_fwhm_arcsec(230e9, "none") is None


def test_grid_from_the_beam_and_the_primary_beam():
    obs = observe()
    beam = obs.natural_beam_fwhm_arcsec()
    npix, cell, how = defaults.image_grid(obs, "alma12m")
    assert cell == pytest.approx(beam / 8, rel=0.05) and npix % 16 == 0
    field = 1.2 * defaults.primary_beam_fwhm_arcsec(obs.mean_freq_hz, "alma12m")
    assert field <= npix * cell < field + 16 * cell   # rounded up to a multiple of 16 pixels
    obs.check_image(npix, cell)   # holds the longest baselines and the beam
    npix, cell, how = defaults.image_grid(obs, "none")
    assert 32 * beam <= npix * cell < 32 * beam + 16 * cell and "32 beams" in how


def test_sky_offset_is_the_log_peak_brightness():
    obs = observe(flux=0.2)
    offset, _ = defaults.sky_offset(obs, 128, CELL)
    beam = obs.natural_beam_fwhm_arcsec() * ARCSEC
    assert offset == pytest.approx(np.log(0.2 / (np.pi / (4 * np.log(2)) * beam ** 2)), abs=0.05)
    empty = Observation(**{**obs.__dict__, "vis": np.zeros(obs.nvis, complex)})
    with pytest.raises(ValueError, match="synthetic.ms: the dirty image has no positive peak; set sky.offset"):
        defaults.sky_offset(empty, 64, CELL)


def test_noise_scale_prior_from_the_parallel_hands():
    (mean, std), how = defaults.noise_scale(observe(hands_sigma=(0.02, 0.03)))
    assert mean == pytest.approx(np.sqrt(2 * 3), rel=0.05) and std == pytest.approx(mean / 2)
    assert "spw 0 1.99" in how and "spw 1 3.03" in how


def test_null_settings_come_from_the_data_and_explicit_ones_win():
    base = config.load()["resolve"]["runs"]["hd142527"]
    blank = config.merge(base, {"image": {"npix": None, "cell_arcsec": None}, "sky": {"offset": None},
                                "noise": {"scale": None}})
    obs = observe()
    spec, chosen = defaults.complete(obs, blank)
    assert set(chosen) == {"image.npix", "image.cell_arcsec", "sky.offset", "noise.scale"}
    assert spec["image"]["npix"] % 16 == 0 and spec["sky"]["offset"] == chosen["sky.offset"][0]
    assert blank["sky"]["offset"] is None   # the run settings themselves are not touched
    kept, chosen = defaults.complete(obs, base)
    assert chosen == {} and kept == base
    rows = defaults.table_rows(defaults.complete(obs, blank)[1])
    assert [r[0] for r in rows][0].endswith("(data-driven)") and all(r[3] == 0.0 for r in rows)


def test_stokes_i_data_have_no_hands_to_compare():
    obs = observe()
    single = Observation(**{**obs.__dict__, "vis_difference": None})
    assert defaults.noise_scale(single) is None
    base = config.load()["resolve"]["runs"]["hd142527"]
    spec, chosen = defaults.complete(single, config.merge(base, {"noise": {"scale": None}}))
    assert spec["noise"]["scale"] == [1.0, 0.5] and "no parallel hands" in chosen["noise.scale"][1]


def test_a_point_source_grid_resolves_the_longest_baselines():
    obs = observe()
    npix, cell, _ = defaults.image_grid(obs, "alma12m")
    gridder = response.Gridder(obs.uvw, cell, 1e-6, False)
    dirty = gridder.grid(obs.weight * obs.vis, npix) / obs.weight.sum()
    assert np.unravel_index(np.argmax(dirty), dirty.shape) == (npix // 2, npix // 2)
