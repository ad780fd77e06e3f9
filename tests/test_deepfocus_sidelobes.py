"""The sidelobes of sources beyond a Blobs Finder tile, taken out before it reads the tile."""

import numpy as np
import pytest

from workflow_lib.deepfocus import blobsfinder, sidelobes


def _psf(n: int) -> np.ndarray:
    """A main lobe and a ring sidelobe of 20% at radius 8 pixels, peak 1 at (n // 2, n // 2)."""
    y, x = np.mgrid[:n, :n] - n // 2
    r = np.hypot(x, y)
    psf = np.exp(-0.5 * (r / 1.5) ** 2) + 0.2 * np.exp(-0.5 * ((r - 8) / 1.5) ** 2)
    return psf / psf.max()


def test_place_moves_the_peak_and_cuts_at_the_edges():
    psf = _psf(16)
    moved = sidelobes.place(psf, 2, 30, (20, 32))
    assert moved.shape == (20, 32) and moved[2, 30] == 1.0 and moved.max() == 1.0
    np.testing.assert_array_equal(moved[0:10, 22:32], psf[6:16, 0:10])
    assert not sidelobes.place(psf, 100, 100, (20, 32)).any()


def test_a_tile_loses_only_the_sidelobes_of_the_source_outside_it():
    rng = np.random.default_rng(3)
    n, size = 64, 32
    psf = _psf(2 * n)
    inside = 5.0 * sidelobes.place(psf, 10, 12, (n, n))          # a source inside the tile at (0, 0)
    outside = 50.0 * sidelobes.place(psf, 36, 16, (n, n))        # a bright one beyond it, its ring reaching in
    noise = 0.01 * rng.normal(size=(n, n))
    image = inside + outside + noise
    tiles = sidelobes.tiles_without_outside(image, psf, 5.0, size, [(0, 0), (32, 0)])
    expected = (inside + noise)[:size, :size]
    assert np.abs(image[:size, :size] - expected).max() > 5      # the outside source's ring is in the tile
    np.testing.assert_allclose(tiles[0], expected, atol=0.1)     # CLEAN leaves < 5 sigma of it behind
    # the tile that holds the bright source keeps it, and loses the faint one's (tiny) sidelobes only
    np.testing.assert_allclose(tiles[1], (outside + noise)[32:, :32], atol=0.1)


def test_hogbom_stops_at_the_threshold_and_finds_the_source():
    psf = _psf(64)
    image = 3.0 * sidelobes.place(psf, 20, 11, (32, 32))
    components = sidelobes.hogbom(image, psf, threshold=0.03)
    assert {(y, x) for y, x, _ in components} == {(20, 11)}
    assert sum(f for *_, f in components) == pytest.approx(3.0, rel=0.02)


def test_integrated_psf_is_the_channel_mean_at_peak_one():
    cube = np.stack([_psf(16), 2 * _psf(16)])
    np.testing.assert_allclose(sidelobes.integrated_psf(cube), _psf(16))
    with pytest.raises(ValueError, match="no positive peak"):
        sidelobes.integrated_psf(np.zeros((2, 8, 8)))


def test_the_blobs_finder_input_changes_only_for_fields_larger_than_its_tile():
    model = blobsfinder.BlobsFinder(32, (4, 8), 16)
    model.eval()
    rng = np.random.default_rng(1)
    tile = rng.normal(size=(2, 32, 32))
    psf = _psf(64)
    np.testing.assert_array_equal(blobsfinder.probability(model, tile, "cpu", psf=psf),
                                  blobsfinder.probability(model, tile, "cpu"))
    field = rng.normal(size=(1, 64, 64)) + 100 * sidelobes.place(psf, 50, 50, (64, 64))
    assert not np.array_equal(blobsfinder.probability(model, field, "cpu", psf=psf),
                              blobsfinder.probability(model, field, "cpu"))
