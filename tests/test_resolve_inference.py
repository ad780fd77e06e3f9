"""A tiny end-to-end RESOLVE inference: fluxes of a point source and a Gaussian, the learned weight error, resuming."""

import json

import numpy as np
import pytest

from workflow_lib.resolve import products, response
from workflow_lib.resolve import steps as run
from workflow_lib.resolve.observation import C_LIGHT, Observation
from workflow_lib.skymodels import gaussian_2d

NPIX, CELL = 64, 0.05
POINT = (22, 40, 0.020)            # x, y (pixels), flux (Jy)
GAUSSIAN = (42, 24, 0.030, 6.0)    # x, y, flux, FWHM (pixels)
SIGMA_FACTOR = 2.0                 # the delivered weights claim half the true noise sigma
SPEC = {
    "image": {"npix": NPIX, "cell_arcsec": CELL, "padding": 1.5, "primary_beam": "none"},
    "sky": {"offset": 17.0, "zero_mode": [1.0, 0.1], "fluctuations": [2.0, 1.0], "slope": [-2.0, 0.5],
            "flexibility": [1.0, 0.4], "asperity": None, "point_sources": {"alpha": 1.5, "q_jy_per_pixel": 1e-6}},
    "noise": {"model": "scale", "scale": [1.0, 0.5]},
    "response": {"mode": "psf", "epsilon": 1e-7, "wgridding": "auto"},   # equal to exact: test_resolve_response
}
SCHEDULE = [
    {"iterations": 2, "samples": 2, "learn_noise": False, "minimizer": "newton", "kl_iterations": 20,
     "sampling_iterations": 200, "geovi_iterations": 0},
    {"iterations": 8, "samples": 2, "learn_noise": True, "minimizer": "newton", "kl_iterations": 20,
     "sampling_iterations": 200, "geovi_iterations": 0},
]


def truth() -> np.ndarray:
    image = np.zeros((NPIX, NPIX))
    image[POINT[1], POINT[0]] = POINT[2]
    x, y, flux, fwhm = GAUSSIAN
    return image + flux * gaussian_2d(NPIX, NPIX, x, y, fwhm, fwhm, 0.0)


def observe(nvis=4000, sigma=0.004, seed=1) -> Observation:
    """Noisy visibilities of :func:`truth` on a Gaussian uv distribution (beam about 5 pixels)."""
    rng = np.random.default_rng(seed)
    uvw = np.column_stack([rng.normal(0, 3e5, (nvis, 2)), np.zeros(nvis)])
    gridder = response.Gridder(uvw, CELL, 1e-9, False)
    vis = gridder.degrid(truth()) + SIGMA_FACTOR * sigma * (rng.normal(size=nvis) + 1j * rng.normal(size=nvis))
    return Observation(ms="synthetic", field_name="f", ra_deg=0.0, dec_deg=0.0, uvw=uvw, vis=vis,
                       weight=np.full(nvis, sigma ** -2.0), spw_index=np.zeros(nvis, int),
                       freq_hz=np.full(nvis, C_LIGHT), spws=(0,), bandwidth_hz=1e9)


def aperture(x, y, radius=5):
    yy, xx = np.mgrid[:NPIX, :NPIX]
    return np.hypot(xx - x, yy - y) <= radius


@pytest.fixture(scope="module")
def posterior(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    spec = {**SPEC, "inference": {"schedule": SCHEDULE}}
    sky_model, noise_model, samples, history, _ = run.infer(observe(), spec, state, {"test": 1}, seed=42)
    return {"samples": samples, "history": history, "sky": sky_model, "noise": noise_model, "state": state,
            "spec": spec}


def test_recovers_point_source_and_gaussian_fluxes(posterior):
    mean, std = products._stat(posterior["samples"], products.sky_jy_per_pixel(posterior["sky"], CELL))
    sky = truth()
    for x, y in (POINT[:2], GAUSSIAN[:2]):
        inside = aperture(x, y)
        assert mean[inside].sum() == pytest.approx(sky[inside].sum(), rel=0.04)
    # the brightest pixel is where the point source is
    assert np.unravel_index(np.argmax(mean), mean.shape) == (POINT[1], POINT[0])
    assert np.all(std > 0)


def test_learns_the_weight_error_and_fits_to_the_noise(posterior):
    hyper = products.hyperparameter_table(posterior["samples"], posterior["noise"].hyperparameters)
    assert hyper["posterior_mean"][0] == pytest.approx(SIGMA_FACTOR, rel=0.05)
    last = posterior["history"][-1]
    assert last["reduced_chi2_learned_weights"] == pytest.approx(1.0, abs=0.1)
    assert last["reduced_chi2_data_weights"] == pytest.approx(SIGMA_FACTOR ** 2, rel=0.1)
    assert [h["iteration"] for h in posterior["history"]] == list(range(10))
    assert all(h["samples"] == 4 for h in posterior["history"])


def test_resumes_from_its_state_and_restarts_for_other_parameters(posterior):
    state, spec = posterior["state"], posterior["spec"]
    assert json.loads((state / "fingerprint.json").read_text()) == {"test": 1}
    _, _, samples, history, _ = run.infer(observe(), spec, state, {"test": 1}, seed=42)   # nothing left to do
    op = posterior["sky"].sky
    np.testing.assert_array_equal(samples.sample_stat(op)[0].val, posterior["samples"].sample_stat(op)[0].val)
    assert len(history) == 10
    short = {**spec, "inference": {"schedule": [dict(SCHEDULE[0], iterations=1)]}}
    _, _, _, history, _ = run.infer(observe(), short, state, {"test": 2}, seed=42)
    assert [h["iteration"] for h in history] == [0]


def test_geovi_on_the_fast_path_recovers_the_fluxes_and_the_weight_error(tmp_path):
    """geoVI (non-linear sample updates, its coordinates through the exact response) in the noise-learning phase
    of an image-domain run: the same fluxes and weight error as MGVI, from a shorter schedule."""
    schedule = [SCHEDULE[0], dict(SCHEDULE[1], iterations=2, geovi_iterations=5)]
    sky_model, noise_model, samples, history, _ = run.infer(observe(), {**SPEC, "inference": {"schedule": schedule}},
                                                             tmp_path, {"test": 3}, seed=42)
    mean, _ = products._stat(samples, products.sky_jy_per_pixel(sky_model, CELL))
    for x, y in (POINT[:2], GAUSSIAN[:2]):
        inside = aperture(x, y)
        assert mean[inside].sum() == pytest.approx(truth()[inside].sum(), rel=0.04)
    hyper = products.hyperparameter_table(samples, noise_model.hyperparameters)
    assert hyper["posterior_mean"][0] == pytest.approx(SIGMA_FACTOR, rel=0.05)
    assert history[-1]["reduced_chi2_learned_weights"] == pytest.approx(1.0, abs=0.1)


def test_cached_kl_metric_applies_the_same_metric_bit_for_bit_building_it_once_per_position():
    """The KL metric with each sample's Hamiltonian metric kept on the energy (inference.cached_kl_metric) equals
    NIFTy's own, which linearises the model again in every call, to the last bit; a new position builds anew."""
    import nifty8 as ift
    from nifty8.minimization import kl_energies

    from workflow_lib.resolve import inference

    _, _, lh, _ = run.build(observe(nvis=1500), SPEC)
    hamiltonian = ift.StandardHamiltonian(lh.energy, ift.AbsDeltaEnergyController(1e-3, iteration_limit=30))
    ift.random.push_sseq_from_seed(7)
    position = ift.from_random(lh.energy.domain) * 0.1
    energy = ift.SampledKLEnergy(position, hamiltonian, 3, None, mirror_samples=True)
    probes = [ift.from_random(energy.position.domain) for _ in range(2)]
    ift.random.pop_sseq()
    reference = [energy.apply_metric(x) for x in probes]
    assert "_sample_metrics" not in energy.__dict__
    with inference.cached_kl_metric():
        cached = [energy.apply_metric(x) for x in probes]
        built = energy._sample_metrics
        assert len(built) == 6                  # 3 mirrored pairs, built in the first call, kept for the second
        energy.apply_metric(probes[0])
        assert energy._sample_metrics is built
        moved = energy.at(energy.position + 0.01 * probes[0])
        moved_cached = moved.apply_metric(probes[1])
        assert moved._sample_metrics is not built
    assert kl_energies.SampledKLEnergyClass.apply_metric is not inference._cached_apply_metric   # restored
    for a, b in zip(reference, cached):
        for key in a.keys():
            np.testing.assert_array_equal(a[key].val, b[key].val)
    np.testing.assert_array_equal(moved.apply_metric(probes[1])["sky_xi"].val, moved_cached["sky_xi"].val)
    assert not np.array_equal(moved_cached["sky_xi"].val, cached[1]["sky_xi"].val)
