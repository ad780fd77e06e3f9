"""RESOLVE's summaries against the truth: the peak read off the posterior and the coverage a calibrated posterior
would give with the run's number of samples."""

import numpy as np
import pytest

from workflow_lib import tables
from workflow_lib.resolve.compare import calibration_table, expected_coverage, posterior_peak


def gaussian_field(n=48, x0=24.0, y0=22.0, width=5.0):
    yy, xx = np.mgrid[:n, :n]
    return np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * width ** 2))


def test_posterior_peak_is_the_mean_images_peak_not_the_samples_peaks_mean():
    """Samples scattered about a peak of 1 by 0.3 per pixel: the mean of each sample's own maximum lies ~50%
    high, the peak of the samples' mean is 1 within its error, and its std is the scatter at that pixel."""
    rng = np.random.default_rng(3)
    samples = gaussian_field() + 0.3 * rng.normal(size=(64, 48, 48))
    peak, std = posterior_peak(samples, 24, 22, 8)
    assert peak == pytest.approx(1.0, abs=3 * 0.3 / np.sqrt(64) + 0.01)
    assert std == pytest.approx(0.3, rel=0.25)
    naive = np.mean([tables.peak_near(s, 24, 22, 8) for s in samples])
    assert naive > 1.4
    # without scatter both read the model's peak
    assert posterior_peak(np.repeat(gaussian_field()[None], 3, axis=0), 24, 22, 8) == (1.0, 0.0)


def test_expected_coverage_is_students_t_for_antithetic_pairs():
    """Two pairs: t with 2 degrees of freedom, whose CDF is closed-form (P(|t| < a) = a / sqrt(2 + a^2)), at
    k sqrt(4 / 3); many samples: the Gaussian 68.3% / 95.4%."""
    for k in (1, 2):
        a = k * np.sqrt(4 / 3)
        assert expected_coverage(k, 4) == pytest.approx(a / np.sqrt(2 + a * a), rel=1e-12)
    assert expected_coverage(1, 2000) == pytest.approx(0.6827, abs=1e-3)
    assert expected_coverage(2, 2000) == pytest.approx(0.9545, abs=1e-3)


@pytest.mark.parametrize("pairs", [2, 8])
def test_a_calibrated_posterior_of_mirrored_samples_gets_the_expected_coverage(pairs):
    """Truth drawn from the posterior, the std from 2 x pairs mirrored samples about the exact mean (as MGVI's
    antithetic samples are): the table's fraction is its expected column, well below 68 / 95% for two pairs."""
    rng = np.random.default_rng(pairs)
    n = 200_000
    mean = np.zeros(n)
    deviations = rng.normal(size=(pairs, n))
    samples = np.concatenate([mean + deviations, mean - deviations])
    std = samples.std(axis=0, ddof=1)
    truth = mean + rng.normal(size=n) + 10.0        # offset: every pixel is "emission"
    table = calibration_table(truth, mean + 10.0, std, emission_fraction=0.01, n_samples=2 * pairs)
    assert list(table["pixels"]) == [n, n]
    np.testing.assert_allclose(table["fraction"], table["expected"], atol=0.004)
    assert table["expected"][1] == pytest.approx({2: 0.8528, 8: 0.9273}[pairs], abs=1e-4)
