"""Stage-loss accounting: a true source followed through box, line, focusing, 3-D box and characterisation."""

import numpy as np
from astropy.table import Table

from workflow_lib.deepfocus.evaluation.stages import STAGES, cube_flags, stage_table
from workflow_lib.deepfocus.pipeline import BOX_COLUMNS, Stages

EVALUATION = {"iou_2d": 0.3, "iou_1d": 0.5, "iou_3d": 0.6, "max_offset_pix": 3.0}
LINES = {"height": 0.1, "prominence": 0.05, "distance": 4, "half_width": 3}
TRUE = np.array([[10.0, 10.0, 6.0, 20.0, 20.0, 14.0]])       # x0, y0, z0, x1, y1, z1: a line at channel 10


def emission(centre=10.0, fwhm=4.0, height=0.9, nchan=32):
    chan = np.arange(nchan)
    return height * np.exp(-4 * np.log(2) * (chan - centre) ** 2 / fwhm ** 2)[None]


def catalogue(box=TRUE[0], flux=1.0):
    table = Table({name: [value] for name, value in zip(BOX_COLUMNS, box)})
    for name in ("fwhm_major_arcsec", "fwhm_minor_arcsec", "pa_deg"):
        table[name] = [0.5]
    table["line_flux_jy"] = [flux]
    return table


def flags(blobs=({"box": [10, 10, 20, 20]},), lines=emission(), sources=([{"range": [6.0, 14.0]}],),
          found=None):
    """Cube 1 of a batch whose cube 0 holds a perfect blob of its own: only cube 1's blobs may count."""
    other = {"box": [10, 10, 20, 20]}
    n = len(blobs)
    found_stages = Stages(probability=np.zeros((2, 32, 32)), blobs=[(0, other)] + [(1, b) for b in blobs],
                          spectra=np.zeros((n + 1, lines.shape[1])),
                          emission=np.concatenate([emission(), lines[:n]]),
                          sources=[[{"range": [6.0, 14.0]}]] + list(sources)[:n], detections=[[], []])
    return cube_flags(TRUE, found_stages, 1, catalogue() if found is None else found, LINES, EVALUATION)


def test_a_source_that_passes_every_stage():
    passed, any_path = flags()
    assert passed.tolist() == [[True] * len(STAGES)] and any_path.tolist() == [True]


def test_each_loss_is_counted_at_its_stage():
    assert flags(blobs=({"box": [40, 40, 50, 50]},))[0][0].tolist() == [False] * 6        # no box: lost at 1
    assert flags(lines=emission(centre=26.0))[0][0].tolist() == [True] + [False] * 5
    # a second, overlapping line merges with the source's into one range too wide to match
    double = np.maximum(emission(), emission(centre=17.0, fwhm=7.0, height=0.85))   # [10, 24] merges into [6, 24]
    assert flags(lines=double)[0][0].tolist() == [True, True, False, False, False, False]
    assert flags(sources=([],))[0][0].tolist() == [True, True, True, False, False, False]  # dropped by the rules
    shifted = catalogue(box=TRUE[0] + [0, 0, 6, 0, 0, 6])                                  # 3-D IoU too low
    assert flags(found=shifted)[0][0].tolist() == [True, True, True, True, False, False]
    passed, any_path = flags(found=catalogue(flux=np.nan))
    assert passed[0].tolist() == [True, True, True, True, True, False] and any_path[0]
    # found in 3-D through another path (no Blobs Finder box of its own): counted apart
    passed, any_path = flags(blobs=())
    assert not passed.any() and any_path[0]


def test_table_per_snr_bin_is_cumulative():
    passed = np.array([[True] * 6, [True, True, True, False, False, False], [False] * 6])
    table = stage_table(passed, np.array([True, False, True]), np.array([50.0, 8.0, 2.0]), [0, 6, 30, 100])
    rows = {r["snr_bin"]: r for r in table}
    assert rows["all"]["n_true"] == 3 and rows["all"]["focusing_rules"] == 1 / 3 and rows["all"]["box_3d_any"] == 2 / 3
    assert rows["[6, 30)"]["line_merging"] == 1.0 and rows["[6, 30)"]["focusing_rules"] == 0.0
    assert rows["[30, 100)"]["characterised"] == 1.0
