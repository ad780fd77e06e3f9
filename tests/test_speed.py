"""The speed table from benchmark files: the right jobs, divided by what they made."""

import json

import numpy as np
import pytest

from conftest import TINY
from workflow_lib import config
from workflow_lib.speed import speed_table

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(root, name, seconds):
    path = root / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t100\t200\t90\t95\t0\t0\t90\t{seconds}\n")
    return str(path)


def test_speed_table_rows_and_ratios(tmp_path):
    cfg = config.load(TINY)   # cubes 64 x 64 x 24, dataset 6 cubes of 32 x 32 x 16
    root = tmp_path / "benchmarks"
    cubes = [(10.0, 4.0), (12.0, 6.0)]
    benchmarks = {
        "simulate_casa": [bench(root, f"simulate_casa/cubes/cube_{i:04d}", sim) for i, (sim, _) in enumerate(cubes)],
        "tclean_dirty": [bench(root, f"tclean_dirty/cubes/cube_{i:04d}", d) for i, (_, d) in enumerate(cubes)],
        "tclean_cubes": {"hogbom_natural": [bench(root, f"tclean_hogbom_natural/cubes/cube_{i:04d}", 20.0)
                                            for i in range(len(cubes))]},
        "dataset_shard": [bench(root, "dataset_shard/0000", 3.0), bench(root, "dataset_shard/0001", 1.8)],
        "dataset_setup": [bench(root, "dataset_coverage", 7.0)],
        "deepfocus_tclean": [bench(root, "deepfocus_tclean/0003", 30.0)],
        "smooth_clip_test": [bench(root, "smooth_clip_test", 0.5)],
        "independent_cube": {"wide": [bench(root, "independent_cube/wide_00", 7.0),
                                      bench(root, "independent_cube/wide_01", 9.0)]},
        "resolve": {"continuum": [bench(root, "resolve/continuum", 60.0)], "cube": [bench(root, "resolve/cube", 48.0)]},
        "tclean_images": {"continuum": {"hogbom_natural": [bench(root, "tclean_hogbom_natural/continuum", 5.0)]},
                          "cube": {"hogbom_natural": [bench(root, "tclean_hogbom_natural/cubes/cube_0000", 4.8)]}},
    }
    timing = tmp_path / "timing.json"
    timing.write_text(json.dumps({"cubes": 2, "device": "cpu", "compute_seconds_per_cube": 0.05,
                                  "io_seconds_per_cube": 0.08}))
    table = speed_table(benchmarks, cfg, str(timing))
    rows = {r["method"]: r for r in table}
    casa = rows["CASA simobserve + noise + tclean niter 0"]
    assert casa["s_per_item"] == pytest.approx(16.0) and casa["s_per_channel"] == pytest.approx(16.0 / 24)
    ducc = rows["ducc backend (dataset shards, 1 thread each)"]
    assert ducc["items"] == 6 and ducc["s_per_item"] == pytest.approx(0.8)
    assert rows["ducc backend one-off setup (CASA coverage + template MS)"]["s_per_item"] == 7.0
    assert np.isnan(rows["ducc backend one-off setup (CASA coverage + template MS)"]["s_per_channel"])
    assert rows["DeepFocus whole pipeline, batched (cpu)"]["s_per_item"] == pytest.approx(0.05)
    assert rows["RESOLVE continuum (exact mode)"]["s_per_item"] == 60.0
    # the simulated cube's run (tiny.yaml: cubes/cube_0000, 64 x 64 x 24) next to that cube's tCLEAN
    cube, clean_cube = rows["RESOLVE cube (psf mode)"], rows["tCLEAN hogbom_natural (cubes/cube_0000)"]
    assert cube["size"] == clean_cube["size"] == "64 x 64 x 24"
    assert cube["s_per_channel"] == pytest.approx(2.0) and clean_cube["s_per_channel"] == pytest.approx(0.2)
    smooth = rows["smooth-and-clip, SoFiA's algorithm (job wall, shard reading and imports included)"]
    assert smooth["items"] == 2 and smooth["s_per_item"] == pytest.approx(0.25)   # the 2 test cubes of timing
    wide = rows["CASA simobserve tsys-atm + tclean niter 0 of the noisy and noise-free MS (independent set, wide)"]
    assert wide["size"] == "64 x 64 x 16" and wide["s_per_item"] == pytest.approx(8.0)
    note = table.meta["note"]
    # per channel: CASA 16/24, ducc 0.8/16 -> 13x; DeepFocus 30/0.05 = 600x; RESOLVE 60/5 = 12x
    assert "13x faster than CASA" in note and "600x faster than tCLEAN" in note and "12.0x the wall time" in note
    assert "RESOLVE cube takes 10.0x the wall time of tCLEAN hogbom_natural" in note


def test_speed_table_without_benchmarks_is_empty(tmp_path):
    table = speed_table({}, config.load(TINY))
    assert len(table) == 0 and table.colnames[-1] == "s_per_channel"


def test_speed_table_names_a_missing_benchmark(tmp_path):
    """A job of the run whose benchmark file is gone is an error, not a silently dropped row."""
    with pytest.raises(FileNotFoundError, match="resolve/continuum.tsv: benchmark file"):
        speed_table({"resolve": {"continuum": [str(tmp_path / "resolve" / "continuum.tsv")]}}, config.load(TINY))
