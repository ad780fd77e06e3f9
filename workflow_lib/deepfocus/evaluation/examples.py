"""Example predictions on a few test cubes, stage by stage (the ``deepfocus_examples`` figure).

Everything plotted comes from the pipeline's own stages on the test cube
(:meth:`.DeepFocus.stages`): the Blobs Finder's probability map, each
island's box-summed spectrum and the DeepGRU's emission probability, the
sources that focusing kept with their Global SNRs and focused images; the
predicted boxes are the inference catalogue's, the true ones the truth's
boxes under the one definition of :mod:`..deepfocus.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ...dataset.torch_dataset import CubeDataset
from .. import focusing, geometry
from ..pipeline import DeepFocus, boxes_of
from . import matching

BOX_2D = ["box_x0", "box_y0", "box_x1", "box_y1"]


@dataclass
class SourcePanel:
    """One detected source: the spectrum its island gave the DeepGRU, its line range and focused image."""

    box: np.ndarray  # (x0, y0, x1, y1) of the source after focusing (pixels)
    range: np.ndarray  # predicted line range (channels)
    true_ranges: np.ndarray  # (k, 2) line ranges of the true sources centred in the island's box
    spectrum: np.ndarray  # the island's box-summed dirty spectrum over the beam area (Jy)
    emission: np.ndarray  # DeepGRU emission probability per channel
    focused: np.ndarray  # the cube summed over the predicted range (Jy/beam x channel)
    snr_integrated: float  # Global SNR in the integrated image
    snr: float  # Global SNR in the focused image
    score: float


@dataclass
class Example:
    index: int  # global cube index
    integrated: np.ndarray  # frequency-integrated dirty image (Jy/beam x channel)
    probability: np.ndarray  # Blobs Finder map
    threshold: float  # its detection threshold
    true_boxes: np.ndarray  # (n, 4)
    predicted_boxes: np.ndarray  # (m, 4) of the catalogue
    sources: list[SourcePanel]  # highest score first


def choose(indices: list[int], truth: Table, catalogue: Table, n: int, min_true: int = 2) -> list[int]:
    """The first ``n`` cubes (split order) with at least ``min_true`` true sources and a catalogued detection."""
    return [i for i in indices if np.sum(truth["cube"] == i) >= min_true and np.any(catalogue["cube"] == i)][:n]


def prepare(pipeline: DeepFocus, index: int, cube: np.ndarray, truth: Table, catalogue: Table, max_sources: int
            ) -> Example:
    """Panel data of one cube (``truth`` and ``catalogue`` its rows); at most ``max_sources`` sources."""
    cube = pipeline.sanitise(cube[None])[0]
    stages = pipeline.stages(cube[None])
    sources = []
    for (_, blob), spectrum, emission, found in zip(stages.blobs, stages.spectra, stages.emission, stages.sources):
        inside = truth[matching.centred_in(truth, blob["box"])]
        true_ranges = np.array([geometry.line_range(c, w) for c, w in zip(inside["line_centre_chan"],
                                                                           inside["line_fwhm_chan"])]).reshape(-1, 2)
        sources += [SourcePanel(np.asarray(s["box"], float), np.asarray(s["range"], float), true_ranges,
                                spectrum / pipeline.beam.area, emission, focusing.focus(cube, s["range"]),
                                s["snr_integrated"], s["snr"], s["score"]) for s in found]
    sources.sort(key=lambda s: -s.score)
    true_boxes = geometry.source_boxes(truth, pipeline.beam, pipeline.meta["cell_arcsec"], cube.shape)
    return Example(index, cube.sum(axis=0), stages.probability[0],
                   pipeline.settings["threshold"], true_boxes[:, [0, 1, 3, 4]], boxes_of(catalogue, BOX_2D),
                   sources[:max_sources])


def collect(manifest: str, pipeline: DeepFocus, catalogue: Table, n_cubes: int = 3, max_sources: int = 2
            ) -> list[Example]:
    """Panel data of the test cubes :func:`choose` picks."""
    ds = CubeDataset(manifest, "test", ("dirty",))
    truth = ds.sources()
    return [prepare(pipeline, i, ds[ds.indices.index(i)]["dirty"].numpy(), truth[truth["cube"] == i],
                    catalogue[catalogue["cube"] == i], max_sources)
            for i in choose(ds.indices, truth, catalogue, n_cubes)]
