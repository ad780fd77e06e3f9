"""DeepFocus geometry and stage 4 on constructed images: boxes, IoU, SNRs, false-positive and deblending rules."""

import numpy as np
import pytest

from workflow_lib.deepfocus import blobsfinder, deepgru, focusing, geometry
from workflow_lib.deepfocus.pipeline import focused_crops


def test_covariance_and_shape_are_inverse_and_follow_the_pa_convention():
    cov = geometry.covariance(6.0, 3.0, 0.0)  # major axis north = +y
    assert cov[1, 1] > cov[0, 0] and cov[0, 1] == pytest.approx(0.0, abs=1e-12)
    for pa in (0.0, 30.0, 90.0, 135.0, 179.0):
        assert geometry.shape_of(geometry.covariance(6.0, 3.0, pa)) == pytest.approx((6.0, 3.0, pa))
    # PA 45 deg points the major axis north-east, i.e. towards -x, +y
    cov = geometry.covariance(6.0, 3.0, 45.0)
    assert cov[0, 1] < 0


def test_beam_fit_recovers_a_gaussian_psf():
    truth = geometry.Beam(9.0, 7.5, 80.0)
    psf = geometry.footprint((64, 64), 32, 32, truth.cov)
    psf[psf < 0.3] -= 0.05  # sidelobes below half maximum do not matter
    fit = geometry.Beam.fit(psf)
    assert (fit.fwhm_major, fit.fwhm_minor, fit.pa_deg) == pytest.approx((9.0, 7.5, 80.0), rel=1e-6)
    assert truth.area == pytest.approx(np.pi / (4 * np.log(2)) * 9.0 * 7.5)


def test_footprint_box_is_where_the_footprint_reaches_the_level():
    cov = geometry.covariance(8.0, 8.0, 0.0)
    box = geometry.footprint_box(20.0, 30.0, cov, level=0.5)
    assert box == pytest.approx([16.0, 26.0, 24.0, 34.0])  # half maximum: FWHM / 2 either side


def test_iou_by_hand_in_one_two_and_three_dimensions():
    assert geometry.iou([[0, 4]], [[2, 6]])[0, 0] == pytest.approx(2 / 6)
    assert geometry.iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)
    assert geometry.iou([[0, 0, 0, 2, 2, 2]], [[0, 0, 1, 2, 2, 3]])[0, 0] == pytest.approx(4 / 12)
    assert geometry.iou([[0, 0, 1, 1]], [[5, 5, 6, 6]])[0, 0] == 0.0
    assert geometry.iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_greedy_matching_is_one_to_one_best_first():
    overlap = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert sorted(geometry.match(overlap, 0.5)) == [(0, 0)]  # row 1's only option was taken by the better pair
    assert geometry.match(overlap, 0.5, allowed=np.array([[False, True], [True, True]])) == [(1, 0), (0, 1)]


def _source(x, y, major=0.5, minor=0.3, pa=40.0):
    return {"x_pix": x, "y_pix": y, "fwhm_major_arcsec": major, "fwhm_minor_arcsec": minor, "pa_deg": pa}


def test_blobs_of_the_perfect_target_reproduce_the_truth_boxes_and_separate_neighbours():
    beam = geometry.Beam(9.0, 7.6, 85.0)
    sources = [_source(20.0, 30.0), _source(30.5, 30.0, 0.9, 0.5, 120.0), _source(45.2, 12.7, 0.2, 0.2, 0.0)]
    target = blobsfinder.target_map(sources, (64, 64), beam, 0.1)
    blobs = blobsfinder.find_blobs(target, 0.15)
    assert len(blobs) == 3  # 10.5 px apart with a 9 px beam: cores stay apart
    truth = [geometry.clip_box(geometry.footprint_box(s["x_pix"], s["y_pix"], geometry.seen_covariance(
        s["fwhm_major_arcsec"] / 0.1, s["fwhm_minor_arcsec"] / 0.1, s["pa_deg"], beam)), (64, 64)) for s in sources]
    overlap = geometry.iou(truth, [b["box"] for b in blobs])
    assert overlap.max(axis=1).min() > 0.85
    assert blobsfinder.find_blobs(np.zeros((64, 64)), 0.15) == []


def test_global_snr_is_median_inside_over_std_in_the_equal_area_annulus():
    yy, xx = np.mgrid[:41, :41]
    d = np.hypot(xx - 20, yy - 20)
    image = np.where((xx + yy) % 2 == 0, 1.0, -1.0)  # std 1 anywhere
    image[d <= 5] = 4.0
    annulus = (d > 5) & (d <= 5 * np.sqrt(2))
    expected = 4.0 / image[annulus].std()
    assert focusing.global_snr(image, (20, 20), 5.0) == pytest.approx(expected)
    assert image[annulus].std() == pytest.approx(1.0, abs=0.02)
    assert focusing.box_snr(image, [15, 15, 25, 25]) == pytest.approx(expected)
    assert focusing.pixel_snr(np.array([[3.0, -3.0]]))[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("snr_integrated, snr_focused, kept", [
    (8.0, 2.0, True),    # bright: kept directly
    (6.0, 0.5, True),    # at the threshold
    (3.0, 4.0, True),    # faint, focusing raises it
    (3.0, 2.5, False),   # faint, focusing lowers it
    (0.3, 0.8, False),   # raised, but below the floor of 1
])
def test_false_positive_rule(snr_integrated, snr_focused, kept):
    assert focusing.keep(snr_integrated, snr_focused, bright_snr=6.0, min_snr=1.0) is kept


def test_line_rules_new_source_drop_and_merge():
    lines = [{"centre": 20.0, "fwhm": 4.0, "height": 0.9},   # primary [16, 24]
             {"centre": 45.0, "fwhm": 3.0, "height": 0.6},   # disjoint: a new source
             {"centre": 21.0, "fwhm": 1.0, "height": 0.5},   # inside the primary: dropped
             {"centre": 26.0, "fwhm": 4.0, "height": 0.4}]   # overlaps the primary's end: merged
    sources = focusing.resolve_lines(lines)
    assert [s["primary"] for s in sources] == [True, False]
    assert sources[0]["range"] == pytest.approx([16.0, 30.0])
    assert sources[1]["range"] == pytest.approx([42.0, 48.0])


def _blended_cube(rng=None, noise=0.0):
    """Two sources 8 pixels apart in one blob, lines at channels 10 and 40, plus a flat continuum on the first."""
    nchan, n = 64, 48
    cube = np.zeros((nchan, n, n))
    beam = geometry.Beam(6.0, 6.0, 0.0)
    a = geometry.footprint((n, n), 20, 24, beam.cov)
    b = geometry.footprint((n, n), 28, 24, beam.cov)
    chan = np.arange(nchan)[:, None, None]
    cube += 5.0 * np.exp(-0.5 * ((chan - 10) / 2.0) ** 2) * a + 0.2 * a
    cube += 4.0 * np.exp(-0.5 * ((chan - 40) / 2.0) ** 2) * b
    if noise:
        cube += noise * rng.standard_normal(cube.shape)
    return cube, a, b


def test_deblending_splits_a_blob_with_two_lines_into_two_boxes():
    cube, a, b = _blended_cube(np.random.default_rng(0), noise=0.05)
    integrated = cube.sum(axis=0)
    blob = {"box": np.array([10.0, 15.0, 38.0, 33.0]), "score": 0.9}
    lines = [{"centre": 10.0, "fwhm": 4.7, "height": 0.95}, {"centre": 40.0, "fwhm": 4.7, "height": 0.8}]
    settings = {"focus_size": 48, "bright_snr": 6.0, "min_snr": 1.0, "leak_margin": 1, "rule": "study"}
    found = focusing.box_sources(cube, integrated, blob, lines, settings)
    assert len(found) == 2 and all(f["deblended"] for f in found)
    centres = [geometry.box_centre(f["box"]) for f in found]
    assert centres[0] == pytest.approx([20, 24], abs=1.5) and centres[1] == pytest.approx([28, 24], abs=1.5)
    assert found[0]["score"] == pytest.approx(0.9 * 0.95)


def test_grow_stops_where_the_snr_saturates():
    rng = np.random.default_rng(3)
    image = 10 * geometry.footprint((48, 48), 24, 24, geometry.covariance(6.0, 6.0, 0.0)) + rng.normal(0, 0.3, (48, 48))
    x0, y0, x1, y1 = focusing.grow(image, (24, 24))
    assert x0 < 22 and x1 > 26 and y0 < 22 and y1 > 26  # more than the core
    assert x1 - x0 < 20  # but not the whole noise field


def test_continuum_and_line_images_separate_a_line_on_a_flat_continuum():
    cube, a, b = _blended_cube()
    cube -= 4.0 * np.exp(-0.5 * ((np.arange(64) - 40) / 2.0) ** 2)[:, None, None] * b  # the first source alone
    source = {"box": np.array([14.0, 18.0, 26.0, 30.0]), "range": geometry.line_range(10.0, 4.7)}
    mask = focusing.continuum_mask(cube.shape, [source], dilation=1.5)
    assert mask[3:18, 24, 20].all() and not mask[2, 24, 20] and not mask[18, 24, 20]  # 10 +- 1.5 x 4.7
    continuum = focusing.continuum_image(cube, mask)
    assert continuum[24, 20] == pytest.approx(0.2 * a[24, 20], rel=1e-3)
    line = focusing.line_image(cube, continuum, source["range"])
    expected = 5.0 * a[24, 20] * np.exp(-0.5 * ((np.arange(6, 15) - 10) / 2.0) ** 2).sum()
    assert line[24, 20] == pytest.approx(expected, rel=1e-3)


def test_deepgru_lines_from_a_constructed_probability():
    chan = np.arange(64.0)
    prob = 0.9 * np.exp(-0.5 * ((chan - 20.3) / 2.5) ** 2) + 0.5 * np.exp(-0.5 * ((chan - 45.0) / 1.5) ** 2)
    lines = deepgru.find_lines(prob)
    assert [round(line["centre"], 1) for line in lines] == [20.3, 45.0]
    assert lines[0]["fwhm"] == pytest.approx(2.5 * 2.3548, rel=1e-3)
    assert deepgru.find_lines(np.full(64, 0.3)) == []


def test_deepgru_target_is_floored_at_the_noise():
    chan = np.arange(64.0)
    line = np.exp(-0.5 * ((chan - 30) / 2.0) ** 2)
    dirty = np.random.default_rng(1).normal(0, 1.0, 64)  # Jy/beam x pixel noise
    bright = deepgru.target(0.1 + 10 * line, dirty, beam_area=1.0)
    assert bright.max() == pytest.approx(1.0) and bright.min() == pytest.approx(0.0)
    faint = deepgru.target(0.1 + 0.3 * line, dirty, beam_area=1.0)
    assert 0.05 < faint.max() < 0.2  # 0.3 over a floor of 3 sigma (sigma ~ 1)


def _bright_and_faint(noise=0.02, seed=4):
    """A bright source with continuum (line at channel 10) at (16, 24) and a faint line source (channel 40) at
    (30, 24), 14 pixels apart: the faint one's focused image is dominated by the bright one's continuum."""
    nchan, n = 64, 48
    beam = geometry.Beam(6.0, 6.0, 0.0)
    bright, faint = geometry.footprint((n, n), 16, 24, beam.cov), geometry.footprint((n, n), 30, 24, beam.cov)
    chan = np.arange(nchan)[:, None, None]
    cube = (20.0 * np.exp(-0.5 * ((chan - 10) / 2.0) ** 2) + 8.0) * bright
    cube = cube + 0.5 * np.exp(-0.5 * ((chan - 40) / 2.0) ** 2) * faint
    return cube + noise * np.random.default_rng(seed).standard_normal(cube.shape)


SETTINGS = {"focus_size": 48, "bright_snr": 6.0, "min_snr": 1.0, "leak_margin": 1, "rule": "none"}
FAINT_LINE = {"centre": 40.0, "fwhm": 4.7, "height": 0.8}


def test_a_faint_line_is_located_in_its_line_image_not_on_a_neighbours_continuum():
    cube = _bright_and_faint()
    blob = {"box": np.array([21.5, 16.5, 38.5, 31.5]), "score": 0.9}   # around the faint source, into the wing
    focused = focusing.focus(cube, geometry.line_range(40.0, 4.7))
    ys, xs = geometry.box_slices(blob["box"])
    assert np.unravel_index(np.argmax(focused[ys, xs]), focused[ys, xs].shape)[1] + xs.start == 22  # the wing
    found = focusing.box_sources(cube, cube.sum(axis=0), blob, [FAINT_LINE], SETTINGS)
    assert len(found) == 1 and found[0]["peak"] == (30, 24)
    crops = focused_crops(cube, found, 16, 1.5)
    assert crops["xy"][0] == pytest.approx((30, 24), abs=0.3)


def test_a_neighbours_line_seen_through_the_box_edge_is_dropped():
    cube = _bright_and_faint()
    blob = {"box": np.array([21.5, 16.5, 38.5, 31.5]), "score": 0.9}
    bright_line = {"centre": 10.0, "fwhm": 4.7, "height": 0.9}   # the bright source's line, peaking outside the box
    assert focusing.box_sources(cube, cube.sum(axis=0), blob, [bright_line], SETTINGS) == []
    kept = focusing.box_sources(cube, cube.sum(axis=0), blob, [bright_line], {**SETTINGS, "leak_margin": 0})
    assert len(kept) == 1 and kept[0]["peak"][0] == 22   # without the check: at the box's edge
    assert len(focusing.box_sources(cube, cube.sum(axis=0), blob, [FAINT_LINE], SETTINGS)) == 1


def test_deblending_growth_stays_in_the_blob_box():
    image = _bright_and_faint(noise=0.0).sum(axis=0)
    box = np.array([21.5, 16.5, 38.5, 31.5])
    free = focusing.grow(image, (22, 24))
    confined = focusing.grow(image, (22, 24), box)
    assert free[0] < 10   # the region runs into the bright source
    assert confined[0] >= box[0] - 3 and confined[2] <= box[2] + 3


def test_the_study_rule_and_no_rule():
    assert not focusing.keep(3.0, 2.5, 6.0, 1.0, "study") and focusing.keep(3.0, 2.5, 6.0, 1.0, "none")
    with pytest.raises(ValueError, match="unknown false-positive rule 'loose'"):
        focusing.keep(3.0, 2.5, 6.0, 1.0, "loose")
