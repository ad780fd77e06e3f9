"""The paper's speed table: seconds per cube or per image of each method, from the rules' own benchmark files.

Every number is a job's wall time as Snakemake measured it in this run (or, for
DeepFocus, the inference rule's own timing of its batched pipeline), divided by
what the job made, so the table costs nothing extra and always matches the run
it sits in. Sizes differ between rows (the CASA cubes, the training set and the
images are configured separately); the size column says which, and the ratios in
the notes only compare like with like.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from astropy.table import Table


def _wall_seconds(bench_dir: Path, pattern: str) -> np.ndarray:
    """Wall seconds of every benchmark file matching ``pattern`` (relative to ``bench_dir``)."""
    return np.array([float(Table.read(p, format="ascii.tab")["s"][0]) for p in sorted(bench_dir.glob(pattern))])


def _cube_size(section: dict) -> str:
    return f"{section['npix']} x {section['npix']} x {section['nchan']}"


def _image_size(npix: int) -> str:
    return f"{npix} x {npix}"


def speed_table(bench_dir: str, cfg: dict, deepfocus_timing: str | None = None) -> Table:
    """One row per method that ran: stage, method, size, items timed, seconds per item and per channel."""
    root = Path(bench_dir)
    rows: list[tuple] = []
    ratios: list[str] = []

    def add(stage, method, size, seconds, nchan=1, items=None):
        if np.size(seconds) == 0:
            return None
        per_item = float(np.mean(seconds)) if items is None else float(np.sum(seconds)) / items
        count = np.size(seconds) if items is None else items
        rows.append((stage, method, size, count, per_item, per_item / nchan if nchan else np.nan))
        return per_item

    cubes, dataset = cfg.get("cubes"), cfg.get("dataset")
    casa_dirty = ducc = None
    if cubes:
        sim = _wall_seconds(root, "simulate_casa/cubes/*.tsv")
        dirty = _wall_seconds(root, "tclean_dirty/cubes/*.tsv")
        size, nchan = _cube_size(cubes), cubes["nchan"]
        add("simulation", "CASA simobserve + thermal noise", size, sim, nchan)
        if sim.size and sim.size == dirty.size:
            casa_dirty = add("dirty cube", "CASA simobserve + noise + tclean niter 0", size, sim + dirty, nchan)
        niter = cfg["imaging"]["cubes"]["niter"]
        for method in cfg["imaging"]["cubes"]["methods"]:
            add("deconvolution", f"tCLEAN {method} niter {niter}", size,
                _wall_seconds(root, f"tclean_{method}/cubes/*.tsv"), nchan)
    if dataset:
        shards = _wall_seconds(root, "dataset_shard/*.tsv")
        if shards.size:
            ducc = add("dirty cube", "ducc backend (dataset shards, 1 thread each)", _cube_size(dataset), shards,
                       dataset["nchan"], items=dataset["count"])
            setup = np.concatenate([_wall_seconds(root, "dataset_coverage.tsv"),
                                    _wall_seconds(root, "dataset_template_ms.tsv")])
            if setup.size:
                add("dirty cube", "ducc backend one-off setup (CASA coverage + template MS)", "per dataset",
                    setup.sum(), nchan=None)
        evaluation = cfg["deepfocus"]["evaluation"]
        clean_test = add("deconvolution", f"tCLEAN {evaluation['tclean_method']} niter {evaluation['tclean_niter']}"
                         " (DeepFocus test cubes)", _cube_size(dataset), _wall_seconds(root, "deepfocus_tclean/*.tsv"),
                         dataset["nchan"])
        if deepfocus_timing and Path(deepfocus_timing).is_file():
            timing = json.loads(Path(deepfocus_timing).read_text())
            n = timing["cubes"]
            per_cube = add("source finding", f"DeepFocus whole pipeline, batched ({timing['device']})",
                           _cube_size(dataset), timing["compute_seconds_per_cube"] * n, dataset["nchan"], items=n)
            add("source finding", "DeepFocus with shard reading and product writing", _cube_size(dataset),
                timing["io_seconds_per_cube"] * n, dataset["nchan"], items=n)
            if clean_test:
                ratios.append(f"DeepFocus is {clean_test / per_cube:.0f}x faster than tCLEAN per test cube")
    if casa_dirty and ducc:
        speedup = (casa_dirty / cubes["nchan"]) / (ducc / dataset["nchan"])
        ratios.append(f"ducc makes a dirty channel {speedup:.0f}x faster than CASA simobserve + tclean "
                      f"(per channel, {_cube_size(cubes)} vs {_cube_size(dataset)} cubes)")
    for run, spec in cfg.get("resolve", {}).get("runs", {}).items():
        resolve = add("imaging", f"RESOLVE {run} ({spec['response']['mode']} mode)",
                      _image_size(spec["image"]["npix"]), _wall_seconds(root, f"resolve/{run}.tsv"))
        methods, target = spec["compare"]["methods"], spec["data"].get("simulated") or run
        grid = cfg[target]["npix"] if spec["data"].get("simulated") else spec["compare"]["npix"]
        for method in methods:
            clean = add("imaging", f"tCLEAN {method} ({target})", _image_size(grid),
                        _wall_seconds(root, f"tclean_{method}/{target}.tsv"))
            if resolve and clean and method == methods[0]:
                ratios.append(f"RESOLVE {run} takes {resolve / clean:.1f}x the wall time of tCLEAN {method} "
                              "(different grids, same data)")
    table = Table(rows=rows or None, names=("stage", "method", "size", "items", "s_per_item", "s_per_channel"),
                  dtype=(str, str, str, int, float, float))
    table.meta["note"] = ("wall seconds per cube (or image) from this run's benchmark files; jobs shared the "
                          "cores with each other. " + "; ".join(ratios))
    return table
