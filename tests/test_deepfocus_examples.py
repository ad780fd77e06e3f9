"""The examples figure: which cubes it shows, that its panels hold the pipeline's own quantities, PNG + PDF files.

The networks are stand-ins that pass the min-max-normalised input through a
sharp sigmoid, so bright sources become blobs and lines without any training;
everything else (islands, lines, focusing, the figure) is the real code.
"""

import json

import h5py
import numpy as np
import pytest
import torch
from astropy.table import Table
from scipy.special import expit

from workflow_lib import fitsio
from workflow_lib.units import FWHM_TO_SIGMA
from workflow_lib.deepfocus import deepgru, geometry
from workflow_lib.deepfocus.pipeline import BOX_COLUMNS, DeepFocus
from workflow_lib.deepfocus.preprocess import minmax
from workflow_lib.deepfocus.evaluation import examples, figures
from workflow_lib.deepfocus.evaluation.detection import Detections

NCHAN, NPIX, SHARPNESS = 16, 32, 12.0
GRID = fitsio.Grid(nx=NPIX, ny=NPIX, cell_arcsec=0.1, ra_deg=239.1746, dec_deg=-35.0, freq0_hz=229.9e9,
                   dfreq_hz=1e7, nchan=NCHAN)
META = {"beam": {"fwhm_major": 5.0, "fwhm_minor": 4.0, "pa_deg": 80.0}, "cell_arcsec": 0.1, "dfreq_hz": 1e7,
        "shape": [NCHAN, NPIX, NPIX]}
SETTINGS = {"threshold": 0.15, "outside_clean_sigma": 5.0, "focus_size": 16, "batch_cubes": 2, "bright_snr": 6.0,
            "min_snr": 1.0, "mask_dilation": 1.5, "leak_margin": 1, "rule": "study", "ranking": "score",
            "ranking_threshold": -np.inf, "reliability": None,
            "lines": {"height": 0.1, "prominence": 0.05, "distance": 4, "half_width": 4}}
# (cube, x, y, line centre, line FWHM in channels, peak Jy/beam); cube 0 has one source, 1-3 two each
SOURCES = [(0, 16.0, 15.0, 7.0, 2.0, 1.0),
           (1, 9.0, 10.0, 4.0, 2.0, 1.0), (1, 22.0, 21.0, 11.0, 2.5, 0.8),
           (2, 10.0, 22.0, 5.0, 2.0, 1.0), (2, 21.0, 9.0, 10.0, 2.0, 1.0),
           (3, 8.0, 20.0, 3.5, 2.0, 0.7), (3, 23.0, 12.0, 12.0, 2.0, 1.0)]
TEST_SPLIT = [3, 0, 2, 1]  # split order, not index order


class MinMaxFinder(torch.nn.Module):
    """Blobs Finder stand-in: logit of the min-max channel of the integrated image."""

    size = NPIX

    def forward(self, x):
        return SHARPNESS * (x[:, :1] - 0.5)


class MinMaxGRU(torch.nn.Module):
    """DeepGRU stand-in: logit of the min-max channel of the spectrum."""

    def forward(self, x):
        return SHARPNESS * (x[..., :1] - 0.5)


def _truth() -> Table:
    rows = [{"cube": c, "x_pix": x, "y_pix": y, "fwhm_major_arcsec": 0.2, "fwhm_minor_arcsec": 0.2, "pa_deg": 0.0,
             "line_centre_chan": z, "line_fwhm_chan": w, "snr": 100 * peak} for c, x, y, z, w, peak in SOURCES]
    return Table(rows=rows)


def _cubes() -> np.ndarray:
    rng = np.random.default_rng(0)
    beam = geometry.Beam(**META["beam"])
    cubes = 0.01 * rng.standard_normal((4, NCHAN, NPIX, NPIX))
    chan = np.arange(NCHAN)[:, None, None]
    seen = geometry.seen_covariance(2.0, 2.0, 0.0, beam)  # 0.2 arcsec sources through the beam
    for c, x, y, z, w, peak in SOURCES:
        line = np.exp(-0.5 * ((chan - z) / (w * FWHM_TO_SIGMA)) ** 2)
        cubes[c] += peak * line * geometry.footprint((NPIX, NPIX), x, y, seen)
    return cubes.astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A one-shard dataset (4 cubes, all in the test split), the stand-in pipeline and a hand-made catalogue."""
    root = tmp_path_factory.mktemp("examples")
    truth = _truth()
    cubes = _cubes()
    with h5py.File(root / "shard_0000.h5", "w") as h5:
        h5.create_dataset("dirty", data=cubes)
        h5.create_dataset("index", data=np.arange(4))
        h5.create_dataset("sources", data=truth.as_array())
        h5.attrs["grid_header"] = GRID.header("Jy/pixel").tostring()
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"count": 4, "shards": [{"file": "shard_0000.h5", "first": 0, "count": 4}],
                                    "split": {"train": [], "validation": [], "test": TEST_SPLIT}}))
    # catalogue: cubes 1 and 3 have a detection (an arbitrary box each), cube 2 none
    boxes = {1: [[6.0, 7.0, 2.0, 12.0, 13.0, 6.0]], 3: [[20.0, 9.0, 10.0, 26.0, 15.0, 14.0],
                                                      [5.0, 17.0, 1.0, 11.0, 23.0, 6.0]], 0: [[13, 12, 5, 19, 18, 9]]}
    rows = [{"cube": c, "score": 0.5, **dict(zip(BOX_COLUMNS, b))} for c, bs in boxes.items() for b in bs]
    pipeline = DeepFocus(MinMaxFinder(), MinMaxGRU(), None, META, SETTINGS, device="cpu")
    return {"manifest": manifest, "truth": truth, "cubes": cubes, "catalogue": Table(rows=rows),
            "pipeline": pipeline, "root": root}


def test_the_first_cubes_with_two_true_sources_and_a_detection_are_chosen(data):
    truth, catalogue = data["truth"], data["catalogue"]
    assert examples.choose(TEST_SPLIT, truth, catalogue, 3) == [3, 1]  # 0: one source, 2: no detection
    assert examples.choose(TEST_SPLIT, truth, catalogue, 1) == [3]
    assert examples.choose(TEST_SPLIT, truth, catalogue[:0], 3) == []


def test_panels_hold_the_truth_the_catalogue_and_the_pipelines_stages(data):
    panels = examples.collect(data["manifest"], data["pipeline"], data["catalogue"], n_cubes=3, max_sources=2)
    assert [p.index for p in panels] == [3, 1]
    beam = data["pipeline"].beam
    for p in panels:
        truth = data["truth"][data["truth"]["cube"] == p.index]
        cube = data["cubes"][p.index]
        # (a) image and boxes
        np.testing.assert_allclose(p.integrated, cube.sum(axis=0), rtol=1e-5)
        mine = data["catalogue"][data["catalogue"]["cube"] == p.index]
        np.testing.assert_array_equal(p.predicted_boxes, [[r["box_x0"], r["box_y0"], r["box_x1"], r["box_y1"]]
                                                          for r in mine])
        assert p.true_boxes.shape == (2, 4)
        for (x0, y0, x1, y1), row in zip(p.true_boxes, truth):
            assert x0 < row["x_pix"] < x1 and y0 < row["y_pix"] < y1
            cov = geometry.seen_covariance(2.0, 2.0, 0.0, beam)
            np.testing.assert_allclose([x0, y0, x1, y1],
                                       geometry.clip_box(geometry.footprint_box(row["x_pix"], row["y_pix"], cov),
                                                         (NPIX, NPIX)))
        # (b) the Blobs Finder's map of the integrated image (the stand-in's: a sharpened min-max image)
        expected = expit(SHARPNESS * (minmax(cube.sum(axis=0).astype(float)) - 0.5))
        np.testing.assert_allclose(p.probability, expected, atol=1e-5)
        assert p.threshold == SETTINGS["threshold"]
        # (c, d) one panel per true source here, each on its own source's line and position
        assert len(p.sources) == 2 and p.sources[0].score >= p.sources[1].score
        detected = data["pipeline"].detect(cube[None])[0]
        assert sorted(tuple(s.range) for s in p.sources) == sorted(tuple(d["range"]) for d in detected)
        for s in p.sources:
            cx, cy = geometry.box_centre(s.box)
            row = truth[np.argmin(np.hypot(truth["x_pix"] - cx, truth["y_pix"] - cy))]
            assert s.range[0] < row["line_centre_chan"] < s.range[1]
            np.testing.assert_allclose(s.true_ranges, [geometry.line_range(row["line_centre_chan"],
                                                                           row["line_fwhm_chan"])])
            assert abs(np.argmax(s.spectrum) - row["line_centre_chan"]) <= 1
            assert abs(np.argmax(s.emission) - row["line_centre_chan"]) <= 1
            assert s.spectrum * beam.area == pytest.approx(deepgru.box_spectrum(cube, s.box), rel=1e-4)
            py, px = np.unravel_index(np.argmax(s.focused), s.focused.shape)
            assert (px, py) == (round(row["x_pix"]), round(row["y_pix"]))
            assert s.snr > s.snr_integrated > 0


def test_examples_figure_is_written_as_png_and_pdf(data, tmp_path):
    panels = examples.collect(data["manifest"], data["pipeline"], data["catalogue"])
    png, pdf = tmp_path / "deepfocus_examples.png", tmp_path / "deepfocus_examples.pdf"
    figures.examples(panels, png, pdf)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    figures.examples([], tmp_path / "empty.png", tmp_path / "empty.pdf")  # nothing to show: still both files
    assert (tmp_path / "empty.png").stat().st_size > 1000 and (tmp_path / "empty.pdf").stat().st_size > 1000


def test_every_evaluation_figure_is_written_as_png_and_pdf(tmp_path):
    d = Detections("test", 0.3)
    d.add([[0, 0, 10, 10], [20, 20, 30, 30]], [20, 5], [[0, 0, 10, 10], [60, 60, 70, 70]], scores=[0.9, 0.4],
          pred_snr=[20, 3])
    stages = dict.fromkeys(("blobsfinder_2d", "deepfocus_3d", "deepfocus_2d", "pybdsf_2d"), d)
    figures.completeness(stages, 0.5, 5.0, [0, 10, 100], tmp_path / "c.png", tmp_path / "c.pdf")
    chosen = {"rule": "none", "ranking": "score", "threshold": 0.5}
    point = {**chosen, "target_contamination": 0.01,
             "candidates": {"score >= 0.5, rule none": {**chosen, "completeness": 0.5, "contamination": 0.0,
                                                        "curve": [[0.4, 1.0, 0.5], [0.9, 0.5, 0.0]]}}}
    figures.purity_completeness(point, stages, 5.0, tmp_path / "s.png", tmp_path / "s.pdf")
    figures.residual_histograms({"x_pix": (np.linspace(-1, 1, 20), None)}, tmp_path / "r.png", tmp_path / "r.pdf")
    for name in "csr":
        assert (tmp_path / f"{name}.png").stat().st_size > 1000 and (tmp_path / f"{name}.pdf").stat().st_size > 1000
