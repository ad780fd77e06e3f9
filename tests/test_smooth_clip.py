"""Smooth-and-clip (SoFiA's algorithm), the classical 3-D baseline: detection, parameters, reliability."""

import numpy as np
import pytest

from workflow_lib.deepfocus import geometry
from workflow_lib.deepfocus.evaluation import smooth_clip

SETTINGS = {"kernels_xy": [0, 3, 6], "kernels_z": [0, 3, 7, 15], "threshold": 5.0, "min_size_xy": 5,
            "min_size_z": 5, "reliability": 0.9, "scale_kernel": 0.4, "min_snr": 3.0}
BEAM = geometry.Beam(8.0, 6.0, 30.0)
NCHAN, NPIX = 48, 64


def line_source(x, y, centre, fwhm, peak):
    """A point source seen through BEAM with a Gaussian line of ``peak`` Jy/beam, and its true 3-D box."""
    chan = np.arange(NCHAN)[:, None, None]
    line = np.exp(-0.5 * ((chan - centre) / (fwhm * 0.42466)) ** 2)
    cube = peak * line * geometry.footprint((NPIX, NPIX), x, y, BEAM.cov)[None]
    box = geometry.box_3d(geometry.footprint_box(x, y, BEAM.cov), geometry.line_range(centre, fwhm))
    return cube, box


def noise_cubes(n, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((NCHAN, NPIX, NPIX)) for _ in range(n)]


def test_a_line_source_is_found_with_the_truths_box_and_continuum_ignored():
    cubes = noise_cubes(6)
    source, box = line_source(30.0, 25.0, 20.0, 6.0, 12.0)
    cubes[0] = cubes[0] + source + 3.0 * geometry.footprint((NPIX, NPIX), 48, 48, BEAM.cov)[None]  # + continuum
    tables = smooth_clip.find(cubes, SETTINGS)
    found = tables[0]
    assert len(found) == 1
    assert (found["x_pix"][0], found["y_pix"][0], found["z_pix"][0]) == pytest.approx((30, 25, 20), abs=0.3)
    predicted = np.array([found[c][0] for c in smooth_clip.BOX_COLUMNS])
    assert geometry.iou(box[None], predicted[None])[0, 0] > 0.8
    assert found["reliability"][0] >= 0.9 and found["sum_snr"][0] > 20
    assert sum(len(t) for t in tables[1:]) == 0   # noise alone gives nothing at 5 sigma


def test_negative_emission_is_never_a_source_and_fewer_negatives_skip_reliability(caplog):
    absorption, _ = line_source(30.0, 25.0, 20.0, 3.0, -10.0)
    cubes = noise_cubes(2)
    cubes[0] = cubes[0] + absorption
    assert sum(len(t) for t in smooth_clip.find(cubes, SETTINGS)) == 0
    assert "reliability not estimable" in caplog.text


def test_reliability_from_the_negatives():
    """Positives where the negatives are as dense are unreliable; those beyond them reliable."""
    rng = np.random.default_rng(0)
    negatives = rng.normal(0.8, 0.1, (200, 3))
    positives = np.vstack([rng.normal(0.8, 0.1, (200, 3)), [[2.0, 2.0, 1.5]]])
    r = smooth_clip.reliability(positives, negatives, 0.4)
    assert np.median(r[:200]) < 0.3 and r[-1] == pytest.approx(1.0)


def test_truncation_factors_are_the_second_moments_of_a_cut_gaussian():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 400_000))
    cut = 2 * np.log(1 / geometry.FOOTPRINT_LEVEL)
    inside = (x**2).sum(axis=0) <= cut
    assert (x[0, inside] ** 2).mean() == pytest.approx(smooth_clip.TRUNCATED_2D, rel=0.01)
    one = x[0][x[0] ** 2 <= cut]
    assert (one**2).mean() == pytest.approx(smooth_clip.TRUNCATED_1D, rel=0.01)
