"""Evaluation on hand-made catalogues: matching, completeness/contamination, SNR bins, thresholds, residuals, PyBDSF."""

import numpy as np
import pytest
from astropy.table import Table

from workflow_lib import fitsio
from workflow_lib.deepfocus import geometry
from workflow_lib.deepfocus.preprocess import measured_snr, median, robust_rms
from workflow_lib.deepfocus.evaluation import characterisation, matching, pybdsf, reconstruction
from workflow_lib.deepfocus.evaluation.detection import Detections, unique_2d

TRUE = [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]
PRED = [[0, 0, 10, 10],     # A exactly
        [25, 20, 35, 30],   # B shifted by 5: IoU 50 / 150 = 1/3, centres 5 apart
        [60, 60, 70, 70]]   # nothing there


@pytest.mark.parametrize("min_iou, max_offset, found, real", [
    (0.3, None, [True, True, False], [True, True, False]),
    (0.5, None, [True, False, False], [True, False, False]),
    (0.3, 3.0, [True, False, False], [True, False, False]),
    (0.3, 6.0, [True, True, False], [True, True, False]),
])
def test_matching_and_rates_by_hand(min_iou, max_offset, found, real):
    pairs = matching.match_boxes(TRUE, PRED, min_iou, max_offset)
    f, r = matching.flags(3, 3, pairs)
    assert list(f) == found and list(r) == real
    completeness, contamination = matching.rates(f, r)
    assert completeness == pytest.approx(sum(found) / 3) and contamination == pytest.approx(1 - sum(real) / 3)


def test_matching_is_one_to_one():
    pairs = matching.match_boxes([[0, 0, 10, 10]], [[0, 0, 10, 10], [0, 0, 10, 11]], 0.3)
    assert pairs == [(0, 0)]
    assert matching.match_boxes(np.zeros((0, 4)), PRED, 0.3) == []


def test_completeness_and_contamination_per_snr_bin():
    table = matching.binned_rates(true_snr=[2, 5, 50], found=[False, True, True], pred_snr=[4, 40, 1],
                                  real=[True, True, False], edges=[0, 3, 10, 100])
    assert list(table["snr_bin"]) == ["all", "[0, 3)", "[3, 10)", "[10, 100)"]
    assert list(table["n_true"]) == [3, 1, 1, 1] and list(table["n_detected"]) == [3, 1, 1, 1]
    np.testing.assert_allclose(table["completeness"], [2 / 3, 0, 1, 1])
    np.testing.assert_allclose(table["contamination"], [1 / 3, 1, 0, 0])
    empty = matching.binned_rates([], [], [], [], [0, 1])
    assert np.isnan(empty["completeness"][0]) and np.isnan(empty["contamination"][0])


def _detections():
    d = Detections("test", 0.3)
    d.add(TRUE, [20, 5, 2], PRED, scores=[0.9, 0.5, 0.4], pred_snr=[20, 5, 3])
    d.add([[0, 0, 4, 4]], [8], [[0, 0, 4, 4], [10, 10, 14, 14]], scores=[0.2, 0.8], pred_snr=[8, 2])
    return d


def test_detections_at_thresholds_and_subsets():
    d = _detections()
    assert d.rates() == pytest.approx((3 / 4, 2 / 5))
    assert d.rates(0.45) == pytest.approx((2 / 4, 1 / 3))  # keeps A, B and the false 0.8
    assert d.pairs(0.45) == [[(0, 0), (1, 1)], []]
    assert d.subset([1]).rates() == pytest.approx((1.0, 0.5))
    rows = d.sweep([0.0, 0.45, 0.85])
    assert rows[:, 1] == pytest.approx([3 / 4, 2 / 4, 1 / 4])
    threshold, completeness, contamination = matching.best_threshold(d.scores, d.rates, max_contamination=0.35)
    assert (threshold, completeness, contamination) == pytest.approx((0.5, 0.5, 1 / 3))
    table = d.table(-np.inf, [0, 10, 100])
    assert list(table["method"]) == ["test"] * 3 and table["completeness"][1] == pytest.approx(2 / 3)


def test_unique_2d_keeps_the_best_of_coincident_sources():
    boxes = np.array([[0, 0, 0, 10, 10, 5], [0, 0, 30, 10, 10, 40], [20, 20, 0, 30, 30, 5]], float)
    assert list(unique_2d(boxes, [0.3, 0.9, 0.5])) == [1, 2]


def test_measured_snr_is_the_spectral_peak_at_the_position_over_the_noise():
    cube = np.zeros((8, 5, 5))
    cube[3, 2, 1] = 6.0
    assert measured_snr(cube, 1.2, 1.8, rms=2.0) == pytest.approx(3.0)


def test_characterisation_residuals_by_hand():
    truth = Table({"x_pix": [10.0, 20.0], "y_pix": [5.0, 5.0], "fwhm_major_arcsec": [0.5, 1.0],
                   "fwhm_minor_arcsec": [0.25, 0.9], "pa_deg": [10.0, 170.0], "line_centre_chan": [20.0, 30.0],
                   "line_fwhm_chan": [4.0, 8.0], "line_integrated_flux_jy_mhz": [1.0, 2.0],
                   "continuum_flux_jy": [0.001, 0.0]})
    predicted = Table({"x_pix": [10.5, 20.0], "y_pix": [5.0, 4.0], "fwhm_major_arcsec": [0.55, 1.0],
                       "fwhm_minor_arcsec": [0.25, 0.9], "pa_deg": [175.0, 10.0], "line_centre_chan": [20.2, 29.0],
                       "line_fwhm_chan": [4.0, 8.0], "line_integrated_flux_jy_mhz": [1.05, 1.0],
                       "line_aperture_flux_jy_mhz": [1.2, 2.0], "continuum_flux_jy": [0.002, 0.0]})
    res = characterisation.residuals(truth, predicted, beam_fwhm_pix=8.0, cell_arcsec=0.1)
    np.testing.assert_allclose(res["x_pix"][0], [0.5, 0.0])
    np.testing.assert_allclose(res["pa_deg"][0], [-15.0, 20.0])  # across 0/180
    assert len(res["pa_deg_elongated"][0]) == 1  # 0.9 / 1.0 is round
    assert len(res["pa_deg_resolved"][0]) == 0  # 0.5 arcsec < 0.75 x 0.8 arcsec
    np.testing.assert_allclose(res["line_flux_resnet"][0], [0.05, -0.5])
    np.testing.assert_allclose(res["continuum_mjy"][0], [1.0, 0.0])
    table = characterisation.summary(res)
    row = table[list(table["parameter"]).index("line_flux_resnet")]
    assert row["n"] == 2 and row["within_10pct"] == pytest.approx(0.5)
    row = table[list(table["parameter"]).index("line_centre_chan")]
    assert row["within_10pct"] == pytest.approx(0.5)  # 0.2 <= 0.4, 1.0 > 0.8


def test_reconstruction_residuals_vanish_for_the_truth():
    rng = np.random.default_rng(0)
    truth = np.zeros((3, 32, 32))
    truth[:, 16, 16] = [1.0, 2.0, 3.0]
    pb = np.full((3, 32, 32), 0.9)
    beam = (0.9, 0.7, 30.0)
    restored = reconstruction.smooth(truth, 0.1, beam) * 0.9 + rng.normal(0, 0.01, truth.shape)
    stats = reconstruction.compare(truth, truth, truth * 0.9, restored, pb, rms=0.01, cell_arcsec=0.1, beam=beam)
    assert stats["deepfocus_model"]["rms"] == pytest.approx(0.0, abs=1e-9)
    assert stats["tclean_model"]["rms"] == pytest.approx(0.0, abs=1e-9)
    assert stats["tclean_image"]["rms"] == pytest.approx(1 / 0.9, rel=0.1)  # the noise, in units of the noise
    half = reconstruction.compare(truth, truth / 2, truth * 0.9, restored, pb, 0.01, 0.1, beam)
    assert half["deepfocus_model"]["max"] == pytest.approx(
        np.abs(reconstruction.smooth(truth / 2, 0.1, beam)).max() / 0.01, rel=1e-6)


def test_pybdsf_finds_a_source_with_our_position_size_and_pa_conventions(tmp_path):
    grid = fitsio.Grid(nx=64, ny=64, cell_arcsec=0.1, ra_deg=239.17, dec_deg=-35.0, freq0_hz=230e9, dfreq_hz=1e9)
    beam = geometry.Beam(8.0, 8.0, 0.0)
    seen = geometry.seen_covariance(8.0, 3.0, 30.0, beam)
    image = 20 * geometry.footprint((64, 64), 40.3, 22.7, seen)
    image += np.random.default_rng(2).normal(0, 0.01, image.shape)
    table = pybdsf.find_sources(image, grid, beam, thresh_isl=3.0, thresh_pix=5.0, workdir=tmp_path)
    assert len(table) == 1
    row = table[0]
    assert (row["x_pix"], row["y_pix"]) == pytest.approx((40.3, 22.7), abs=0.05)
    assert (row["fwhm_major_pix"], row["fwhm_minor_pix"], row["pa_deg"]) == pytest.approx(geometry.shape_of(seen),
                                                                                           rel=0.01)
    box = [row["box_x0"], row["box_y0"], row["box_x1"], row["box_y1"]]
    assert geometry.iou([box], [geometry.footprint_box(40.3, 22.7, seen)])[0, 0] > 0.97
    assert row["snr"] > 100
    assert len(pybdsf.find_sources(np.zeros((64, 64)), grid, beam, 3.0, 5.0, tmp_path)) == 0
    assert list(tmp_path.iterdir()) == []  # scratch files removed


@pytest.mark.parametrize("n", [1, 2, 7, 10, 4097, 4098])
def test_the_fast_median_is_numpys_bit_for_bit(n):
    rng = np.random.default_rng(n)
    for _ in range(10):
        x = rng.standard_normal(n) * rng.uniform(0.1, 10)
        x[rng.random(n) < 0.2] = 0.5   # ties
        assert median(x) == np.median(x)


def test_robust_rms_ignores_the_sources_and_the_nans():
    rng = np.random.default_rng(3)
    x = 2.0 * rng.standard_normal((32, 64, 64))
    x[:, 30:34, 30:34] += 500.0
    x[0, 0, :10] = np.nan
    assert robust_rms(x) == pytest.approx(2.0, rel=0.02)
