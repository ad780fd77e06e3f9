"""RESOLVE's response: NIFTy operator checks, orientation against a direct Fourier sum, the fast image-domain path."""

import nifty8 as ift
import numpy as np
import pytest

from workflow_lib.resolve import likelihood, noise, response, sky
from workflow_lib.resolve.observation import C_LIGHT, Observation
from workflow_lib.simulate.gridding import dirty_image

NPIX, CELL = 64, 0.05
PRIOR = {"offset": 20.0, "zero_mode": [1.0, 0.1], "fluctuations": [1.0, 0.5], "slope": [-3.0, 0.5],
         "flexibility": [1.0, 0.5], "asperity": None, "point_sources": {"alpha": 1.5, "q_jy_per_pixel": None}}


def synthetic(nvis=600, nspw=2, w_scale=1.0, seed=0):
    """Visibilities on random uv points (wavelengths) within the image's uv cell, in ``nspw`` windows."""
    rng = np.random.default_rng(seed)
    umax = 0.4 / (CELL * response.ARCSEC)
    uvw = np.column_stack([rng.uniform(-umax, umax, nvis), rng.uniform(-umax, umax, nvis),
                           w_scale * rng.uniform(-umax, umax, nvis)])
    return Observation(ms="synthetic", field_name="f", ra_deg=10.0, dec_deg=-30.0, uvw=uvw,
                       vis=rng.normal(size=nvis) + 1j * rng.normal(size=nvis), weight=rng.uniform(0.5, 2.0, nvis),
                       spw_index=np.arange(nvis) % nspw, freq_hz=np.full(nvis, 230e9), spws=tuple(range(nspw)),
                       bandwidth_hz=2e9)


def exact_response(obs, wgridding=False, beam="alma12m"):
    """R of a single field, its gridder and pixel factor."""
    pointings = response.pointing_responses(obs, NPIX, CELL, 1e-9, wgridding, beam)
    R = response.Response(response.image_domain(NPIX, CELL), pointings, obs.nvis)
    return R, pointings[0].gridder, pointings[0].factor


@pytest.mark.parametrize("wgridding", [False, True])
def test_response_is_a_consistent_linear_operator(wgridding):
    R, _, _ = exact_response(synthetic(w_scale=1e3), wgridding)
    ift.extra.check_linear_operator(R, np.float64, np.complex128, only_r_linear=True, rtol=1e-7)


def test_point_source_matches_a_direct_fourier_sum():
    """I(l, m) -> sum I exp(+2 pi i (u l + v m)), l east (towards smaller x), m north, times pixel area and beam.

    The sign is that of the uvw CASA writes (the same chain reproduces tclean's images in test_simulation).
    """
    obs = synthetic(w_scale=0.0)
    R, _, factor = exact_response(obs)
    x0, y0, flux = 40, 21, 0.01
    image = np.zeros((NPIX, NPIX))
    image[y0, x0] = flux / (CELL * response.ARCSEC) ** 2       # Jy/sr
    vis = R(ift.makeField(R.domain, image)).val
    l, m = (NPIX // 2 - x0) * CELL * response.ARCSEC, (y0 - NPIX // 2) * CELL * response.ARCSEC
    beam = factor[y0, x0] / (CELL * response.ARCSEC) ** 2
    expected = flux * beam * np.exp(2j * np.pi * (obs.uvw[:, 0] * l + obs.uvw[:, 1] * m))
    assert beam < 1
    np.testing.assert_allclose(vis, expected, atol=1e-8 * flux)


def test_adjoint_is_the_verified_dirty_image():
    """R^T W d / sum(W), per unit pixel factor, is simulate.gridding's dirty image (checked against tclean)."""
    obs = synthetic(w_scale=0.0)
    R, _, factor = exact_response(obs, beam="none")
    ours = R.adjoint(ift.makeField(R.target, obs.weight * obs.vis)).val / factor / obs.weight.sum()
    reference = dirty_image(obs.uvw, np.array([C_LIGHT]), obs.vis[:, None], obs.weight[:, None], NPIX, CELL,
                            epsilon=1e-9)
    np.testing.assert_allclose(ours, reference, atol=1e-9 * np.abs(reference).max())


def test_primary_beam_of_alma_12m():
    beam = response.primary_beam(512, 0.1, 230e9, "alma12m")
    assert beam[256, 256] == pytest.approx(1.0)
    profile = beam[256, 256:]
    half = np.interp(0.5, profile[::-1], np.arange(profile.size)[::-1]) * 0.1
    fwhm_primer = 1.13 * C_LIGHT / 230e9 / 12.0 / response.ARCSEC      # ALMA primer: 1.13 lambda / D, D = 12 m
    assert 2 * half == pytest.approx(fwhm_primer, rel=0.02)


@pytest.mark.parametrize("noise_model", ["none", "scale"])
def test_image_plane_likelihood_equals_the_exact_one(noise_model):
    obs = synthetic()
    R, _, _ = exact_response(obs)
    model = sky.sky_model(NPIX, CELL, 1.5, PRIOR)
    noise_spec = {"model": noise_model, "scale": [1.0, 0.5]}
    exact = likelihood.build(obs, model, noise.noise_model(obs, noise_spec), R, "exact")
    fast = likelihood.build(obs, model, noise.noise_model(obs, noise_spec), R, "psf",
                            response.ImagePlaneNormal(obs, R))
    assert_same_likelihood(exact, fast, seed=11)


def assert_same_likelihood(exact, fast, seed):
    """Energy, gradient, metric and chi^2 of the fast likelihood equal the exact one's at a random position."""
    ift.random.push_sseq_from_seed(seed)
    position = ift.from_random(exact.energy.domain)
    probe = ift.from_random(exact.energy.domain)
    ift.random.pop_sseq()
    lin_e = exact.energy(ift.Linearization.make_var(position, want_metric=True))
    lin_f = fast.energy(ift.Linearization.make_var(position, want_metric=True))
    assert lin_f.val.val == pytest.approx(lin_e.val.val, rel=1e-8)
    assert (lin_f.gradient - lin_e.gradient).norm() < 1e-7 * lin_e.gradient.norm()
    assert (lin_f.metric(probe) - lin_e.metric(probe)).norm() < 1e-7 * lin_e.metric(probe).norm()
    np.testing.assert_allclose(fast.chi2(position), exact.chi2(position), rtol=1e-8)


def test_learned_weights_energy_equals_nifty_variable_covariance_energy():
    """Value and gradient of the per-window energy are NIFTy's VariableCovarianceGaussianEnergy on w / alpha_b^2."""
    obs = synthetic()
    R, _, _ = exact_response(obs)
    model = sky.sky_model(NPIX, CELL, 1.5, PRIOR)
    noise_model = noise.noise_model(obs, {"model": "scale", "scale": [1.0, 0.5]})
    ours = likelihood.build(obs, model, noise_model, R, "exact").energy
    data, weight = ift.makeField(R.target, obs.vis), ift.makeField(R.target, obs.weight)
    icov = ift.makeOp(weight) @ noise.SpwExpander(obs.spw_index, 2) @ noise_model.icov_scale
    residual = ift.Adder(data) @ (R @ model.sky).scale(-1)
    reference = (ift.VariableCovarianceGaussianEnergy(R.target, "r", "i", complex)
                 @ (residual.ducktape_left("r") + icov.ducktape_left("i")))
    ift.random.push_sseq_from_seed(12)
    position = ift.from_random(ours.domain)
    ift.random.pop_sseq()
    lin_o, lin_r = ours(ift.Linearization.make_var(position)), reference(ift.Linearization.make_var(position))
    assert lin_o.val.val == pytest.approx(lin_r.val.val, rel=1e-10)
    assert (lin_o.gradient - lin_r.gradient).norm() < 1e-9 * lin_r.gradient.norm()


def windowed_energy(obs, R, mode, data, learn_scale):
    """The per-window likelihood on ``mode``'s path (psf: the image-domain normal operator) for ``data``."""
    windows = response.ImagePlaneNormal(obs, R) if mode == "psf" else response.ExactNormal(obs, R)
    return likelihood.WindowedGaussianEnergy(windows, R, data, ift.makeField(R.target, obs.weight),
                                             noise.SpwExpander(obs.spw_index, 2), learn_scale=learn_scale)


@pytest.mark.parametrize("mode", ["exact", "psf"])
def test_geovi_coordinates_give_the_likelihood_metric(mode):
    """geoVI samples in the coordinates of get_transformation: its Jacobian J must give J^H J = the sky metric
    sum_b beta_b R_b^T W_b R_b (on the fast path the exact response's J against the image-domain metric) and,
    where the residual vanishes (the data are the sky's visibilities), n_b / beta_b^2 for the learned weight
    scale; a residual adds its coupling of sky and beta, NIFTy's local approximation."""
    obs = synthetic()
    R, _, _ = exact_response(obs)
    rng = np.random.default_rng(3)
    sky_now = ift.makeField(R.domain, rng.uniform(0.0, 1.0, R.domain.shape))
    energy = windowed_energy(obs, R, mode, R(sky_now), learn_scale=True)
    beta = np.array([0.4, 0.5])
    position = ift.MultiField.from_dict({likelihood.SKY: sky_now,
                                         likelihood.SCALE: ift.makeField(energy.domain[likelihood.SCALE], beta)})
    metric = energy(ift.Linearization.make_var(position, want_metric=True)).metric
    dtype, transformation = energy.get_transformation()
    assert dtype == {"residual": np.complex128, likelihood.SCALE: np.float64}
    jac = transformation(ift.Linearization.make_var(position)).jac
    sky_probe = ift.MultiField.from_dict({likelihood.SKY: ift.makeField(R.domain, rng.normal(size=R.domain.shape)),
                                          likelihood.SCALE: ift.full(energy.domain[likelihood.SCALE], 0.0)})
    ours, theirs = jac.adjoint(jac(sky_probe))[likelihood.SKY], metric(sky_probe)[likelihood.SKY]
    assert (ours - theirs).norm() < 1e-7 * theirs.norm()
    scale_probe = ift.MultiField.from_dict({likelihood.SKY: ift.full(R.domain, 0.0),
                                            likelihood.SCALE: ift.makeField(energy.domain[likelihood.SCALE],
                                                                            np.array([1.0, -2.0]))})
    counts = np.bincount(obs.spw_index)
    np.testing.assert_allclose(jac.adjoint(jac(scale_probe))[likelihood.SCALE].val,
                               counts / beta ** 2 * np.array([1.0, -2.0]), rtol=1e-12)
    np.testing.assert_allclose(metric(scale_probe)[likelihood.SCALE].val, counts / beta ** 2 * np.array([1.0, -2.0]),
                               rtol=1e-12)


@pytest.mark.parametrize("mode", ["exact", "psf"])
def test_geovi_coordinates_with_delivered_weights(mode):
    """Without a learned scale the coordinates are sqrt(W) (R s - d): complex, J^H J = R^T W R."""
    obs = synthetic()
    R, _, _ = exact_response(obs)
    energy = windowed_energy(obs, R, mode, ift.makeField(R.target, obs.vis), learn_scale=False)
    rng = np.random.default_rng(4)
    position = ift.MultiField.from_dict({likelihood.SKY: ift.makeField(R.domain, rng.uniform(size=R.domain.shape))})
    metric = energy(ift.Linearization.make_var(position, want_metric=True)).metric
    dtype, transformation = energy.get_transformation()
    assert dtype == np.complex128
    jac = transformation(ift.Linearization.make_var(position)).jac
    probe = ift.MultiField.from_dict({likelihood.SKY: ift.makeField(R.domain, rng.normal(size=R.domain.shape))})
    ours, theirs = jac.adjoint(jac(probe))[likelihood.SKY], metric(probe)[likelihood.SKY]
    assert (ours - theirs).norm() < 1e-7 * theirs.norm()


def test_image_plane_metric_samples_have_its_covariance():
    """Var(v . x) over samples x of the fast metric equals v . M v (MGVI draws its samples from it)."""
    obs = synthetic(nspw=1)
    R, _, factor = exact_response(obs, beam="none")
    normal = response.ImagePlaneNormal(obs, R)
    beta = np.array([2.0])
    domain = response.image_domain(NPIX, CELL)
    metric = likelihood._SkyMetric(domain, normal, beta)
    v = ift.makeField(domain, np.random.default_rng(5).normal(size=(NPIX, NPIX)) / factor)
    ift.random.push_sseq_from_seed(5)
    projections = [metric.draw_sample().s_vdot(v) for _ in range(400)]
    ift.random.pop_sseq()
    assert np.var(projections) == pytest.approx(v.s_vdot(metric(v)), rel=0.2)


def test_fast_path_refuses_a_w_term():
    obs = synthetic(w_scale=1e3)
    R, _, _ = exact_response(obs, wgridding=True)
    with pytest.raises(ValueError, match="psf assumes no w-term"):
        response.ImagePlaneNormal(obs, R)
