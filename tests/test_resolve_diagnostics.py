"""RESOLVE's self-checks: the fit per window and |uv| bin, and the divergence checks that stop a run."""

import numpy as np
import pytest

from workflow_lib.resolve import diagnostics, response
from workflow_lib.resolve.diagnostics import DivergenceError
from workflow_lib.resolve.observation import C_LIGHT, Observation
from workflow_lib.skymodels import gaussian_2d

NPIX, CELL, SIGMA = 64, 0.05, 0.01
ENERGIES = [{"energy": 2.0}, {"energy": 1.0}]   # a converged history: falling over its last phase of 2


def observe(sky, nvis=4000, seed=2):
    """Two windows of noisy visibilities (sigma per real and imaginary part) of ``sky`` (Jy/pixel)."""
    rng = np.random.default_rng(seed)
    uvw = np.column_stack([rng.normal(0, 3e5, (nvis, 2)), np.zeros(nvis)])
    gridder = response.Gridder(uvw, CELL, 1e-9, False)
    truth = gridder.degrid(sky)
    vis = truth + SIGMA * (rng.normal(size=nvis) + 1j * rng.normal(size=nvis))
    obs = Observation(ms="synthetic.ms", field_name="f", ra_deg=0.0, dec_deg=0.0, uvw=uvw, vis=vis,
                      weight=np.full(nvis, SIGMA ** -2.0), spw_index=np.arange(nvis) % 2, freq_hz=np.full(nvis, C_LIGHT),
                      spws=(0, 1), bandwidth_hz=1e9)
    return obs, gridder, truth


def single(obs):
    """The response of a single field (its gridder is the one :func:`observe` used)."""
    return response.Response(response.image_domain(NPIX, CELL),
                             response.pointing_responses(obs, NPIX, CELL, 1e-9, False, "none"), obs.nvis)


SKY = 0.5 * gaussian_2d(NPIX, NPIX, 32, 32, 4.0, 3.0, 0.0)   # 0.5 Jy at the phase centre


def test_the_true_model_fits_at_the_noise_level_in_every_window_and_bin():
    obs, _, truth = observe(SKY)
    table = diagnostics.fit_table(obs, np.array([truth, truth]))
    assert list(table["selection"][:2]) == ["spw 0", "spw 1"] and len(table) == 2 + diagnostics.UV_BINS
    np.testing.assert_allclose(table["reduced_chi2"], 1.0, atol=0.15)
    assert np.all(table["reduced_chi2_empty_image"] > 3)
    bins = table[2:]
    assert bins["visibilities"].sum() == obs.nvis and np.all(np.diff(bins["uv_min_klambda"]) > 0)
    # the azimuthal profile of a centred source: its flux at the shortest baselines, falling outwards
    assert bins["data_re_jy"][0] == pytest.approx(0.5, rel=0.2) and bins["model_re_jy"][-1] < bins["model_re_jy"][0]
    assert np.all(bins["model_re_std_jy"] == 0)   # two identical samples
    assert "1 / |uv|min" in table.meta["note"]


def test_a_sound_posterior_passes():
    obs, gridder, truth = observe(SKY)
    diagnostics.check_converged(obs, np.array([SKY, SKY]), np.array([truth, truth]), ENERGIES, "ok", 2, single(obs))


def test_non_finite_values_stop_the_run():
    obs, gridder, truth = observe(SKY)
    bad = SKY.copy()
    bad[3, 3] = np.nan
    with pytest.raises(DivergenceError, match="run 'x' on synthetic.ms diverged: the posterior has non-finite"):
        diagnostics.check_converged(obs, np.array([bad]), np.array([truth]), ENERGIES, "x", 2, single(obs))
    with pytest.raises(DivergenceError, match="non-finite"):
        diagnostics.check_converged(obs, np.array([SKY]), np.array([truth]), [{"energy": np.inf}], "x", 1, single(obs))


def test_a_model_worse_than_an_empty_image_stops_the_run():
    obs, gridder, _ = observe(SKY)
    wrong = 20 * gaussian_2d(NPIX, NPIX, 10, 50, 3.0, 3.0, 0.0)   # a bright source where there is none
    with pytest.raises(DivergenceError, match="fits the data worse than an empty image"):
        diagnostics.check_converged(obs, np.array([wrong]), np.array([gridder.degrid(wrong)]), ENERGIES, "x", 2,
                                    single(obs))


def test_a_peak_the_data_do_not_show_stops_the_run():
    """A compact source off extended emission: a better fit than no sky at all, but a dirty peak the data lack."""
    extended = 0.5 * gaussian_2d(NPIX, NPIX, 32, 32, 16.0, 12.0, 0.0)
    obs, gridder, truth = observe(extended)
    spike = np.zeros((NPIX, NPIX))
    spike[12, 12] = 0.8 * np.sqrt(np.mean(np.abs(truth) ** 2))
    model = gridder.degrid(extended + spike)
    assert diagnostics.reduced_chi2(obs, model) < diagnostics.reduced_chi2(obs, np.zeros_like(model))
    with pytest.raises(DivergenceError, match=r"dirty image peaks at .* beyond what the data allow"):
        diagnostics.check_converged(obs, np.array([extended + spike]), np.array([model]), ENERGIES, "x", 2, single(obs))
    diagnostics.check_converged(obs, np.array([extended]), np.array([truth]), ENERGIES, "x", 2, single(obs))


def test_a_trough_the_data_do_not_show_stops_the_run():
    """A signed sky's runaway absorption: a deep compact trough off extended emission, which the data lack."""
    extended = 0.5 * gaussian_2d(NPIX, NPIX, 32, 32, 16.0, 12.0, 0.0)
    obs, gridder, truth = observe(extended)
    spike = np.zeros((NPIX, NPIX))
    spike[12, 12] = -0.8 * np.sqrt(np.mean(np.abs(truth) ** 2))
    model = gridder.degrid(extended + spike)
    assert diagnostics.reduced_chi2(obs, model) < diagnostics.reduced_chi2(obs, np.zeros_like(model))
    with pytest.raises(DivergenceError, match=r"dirty image has a trough of .* beyond what the data allow"):
        diagnostics.check_converged(obs, np.array([extended + spike]), np.array([model]), ENERGIES, "x", 2, single(obs))


def test_energy_rising_over_the_last_phase_stops_the_run():
    obs, gridder, truth = observe(SKY)
    rise = 0.02 * obs.nvis
    history = [{"energy": e} for e in (10.0, 5.0, 4.0, 4.0 + rise)]
    with pytest.raises(DivergenceError, match="did not converge: the energy rose from 5 to .* over the last 3"):
        diagnostics.check_converged(obs, np.array([SKY]), np.array([truth]), history, "x", 3, single(obs))
    diagnostics.check_converged(obs, np.array([SKY]), np.array([truth]), history, "x", 1, single(obs))  # one: no trend
    calm = [{"energy": e} for e in (10.0, 5.0, 4.0, 5.0 + 0.005 * obs.nvis)]   # MGVI's scatter: within tolerance
    diagnostics.check_converged(obs, np.array([SKY]), np.array([truth]), calm, "x", 3, single(obs))


def test_flux_piling_up_on_the_border_stops_the_run():
    obs, gridder, truth = observe(SKY)
    rim = np.zeros((NPIX, NPIX))
    rim[:3, :] = rim[-3:, :] = 1e-4                  # faint, so the fit barely changes, but all on the border
    sky = SKY * 0.01 + rim
    assert diagnostics.border_fraction(sky) > 0.8
    with pytest.raises(DivergenceError, match=r"lies in the outer eighth of the image, more than a uniform sky"):
        diagnostics.check_converged(obs, np.array([sky]), np.array([truth]), ENERGIES, "x", 2, single(obs))
    assert diagnostics.border_fraction(np.ones((NPIX, NPIX))) == pytest.approx(1 - (48 / 64) ** 2)


def test_models_compared_at_the_uv_points():
    obs, _, truth = observe(SKY)
    rng = np.random.default_rng(5)
    samples = truth + 0.01 * rng.normal(size=(3, obs.nvis))
    table = diagnostics.profile_comparison(obs, {"right": truth[None], "empty": np.zeros((1, obs.nvis)),
                                                 "resolve": samples})
    assert len(table) == diagnostics.UV_BINS and table["visibilities"].sum() == obs.nvis
    np.testing.assert_allclose(table["right_chi2"], 1.0, atol=0.15)
    assert np.all(table["empty_chi2"] > table["right_chi2"]) and np.all(table["empty_re_jy"] == 0)
    assert np.all(table["right_re_std_jy"] == 0) and np.all(table["resolve_re_std_jy"] > 0)
    np.testing.assert_allclose(table["resolve_re_jy"], table["right_re_jy"], atol=0.002)
    assert "fluxes within radii up to about" in table.meta["note"]
