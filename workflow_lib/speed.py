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

from .resolve import settings as resolve_settings


def _wall_seconds(paths) -> np.ndarray:
    """Wall seconds of each benchmark file; one that is missing is an error naming it."""
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: benchmark file of a job of this run is missing")
    return np.array([float(Table.read(p, format="ascii.tab")["s"][0]) for p in paths])


def _cube_size(section: dict) -> str:
    return f"{section['npix']} x {section['npix']} x {section['nchan']}"


def _image_size(npix: int) -> str:
    return f"{npix} x {npix}"


def speed_table(benchmarks: dict, cfg: dict, deepfocus_timing: str | None = None) -> Table:
    """One row per method that ran: stage, method, size, items timed, seconds per item and per channel.

    ``benchmarks`` names the benchmark files of each kind of job (the rules pass them, see
    ``rules/report.smk``): ``simulate_casa``, ``tclean_dirty`` (the CASA cubes), ``tclean_cubes``
    ({method: files}), ``dataset_shard``, ``dataset_setup``, ``deepfocus_tclean``, ``smooth_clip_test``,
    ``independent_cube`` ({field kind: files}), ``resolve`` ({run: files}) and ``tclean_images`` ({run:
    {method: files}}, the images RESOLVE is compared with); a kind not given has no row.
    """
    def files(key, *subkeys):
        value = benchmarks.get(key, {})
        for k in subkeys:
            value = value.get(k, {})
        return _wall_seconds(value or [])

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
        sim, dirty = files("simulate_casa"), files("tclean_dirty")
        size, nchan = _cube_size(cubes), cubes["nchan"]
        add("simulation", "CASA simobserve + thermal noise", size, sim, nchan)
        if sim.size and sim.size == dirty.size:
            casa_dirty = add("dirty cube", "CASA simobserve + noise + tclean niter 0", size, sim + dirty, nchan)
        niter = cfg["imaging"]["cubes"]["niter"]
        for method in cfg["imaging"]["cubes"]["methods"]:
            add("deconvolution", f"tCLEAN {method} niter {niter}", size,
                files("tclean_cubes", method), nchan)
    if dataset:
        shards = files("dataset_shard")
        if shards.size:
            ducc = add("dirty cube", "ducc backend (dataset shards, 1 thread each)", _cube_size(dataset), shards,
                       dataset["nchan"], items=dataset["count"])
            setup = files("dataset_setup")
            if setup.size:
                add("dirty cube", "ducc backend one-off setup (CASA coverage + template MS)", "per dataset",
                    setup.sum(), nchan=None)
        evaluation = cfg["deepfocus"]["evaluation"]
        clean_test = add("deconvolution", f"tCLEAN {evaluation['tclean_method']} niter {evaluation['tclean_niter']}"
                         " (DeepFocus test cubes)", _cube_size(dataset), files("deepfocus_tclean"),
                         dataset["nchan"])
        if deepfocus_timing and Path(deepfocus_timing).is_file():
            timing = json.loads(Path(deepfocus_timing).read_text())
            n = timing["cubes"]
            per_cube = add("source finding", f"DeepFocus whole pipeline, batched ({timing['device']})",
                           _cube_size(dataset), timing["compute_seconds_per_cube"] * n, dataset["nchan"], items=n)
            add("source finding", "DeepFocus with shard reading and product writing", _cube_size(dataset),
                timing["io_seconds_per_cube"] * n, dataset["nchan"], items=n)
            add("source finding", "smooth-and-clip, SoFiA's algorithm (job wall, shard reading and imports "
                "included)", _cube_size(dataset), files("smooth_clip_test"), dataset["nchan"], items=n)
            if clean_test:
                ratios.append(f"DeepFocus is {clean_test / per_cube:.0f}x faster than tCLEAN per test cube")
    for kind, paths in benchmarks.get("independent_cube", {}).items():
        field = cfg["independent"]["fields"][kind]
        add("dirty cube", f"CASA simobserve tsys-atm + tclean niter 0 of the noisy and noise-free MS "
            f"(independent set, {kind})", _cube_size({**field, "nchan": dataset["nchan"]}), _wall_seconds(paths),
            dataset["nchan"])
    if casa_dirty and ducc:
        speedup = (casa_dirty / cubes["nchan"]) / (ducc / dataset["nchan"])
        ratios.append(f"ducc makes a dirty channel {speedup:.0f}x faster than CASA simobserve + tclean "
                      f"(per channel, {_cube_size(cubes)} vs {_cube_size(dataset)} cubes)")
    for run in benchmarks.get("resolve", {}):
        spec = cfg["resolve"]["runs"][run]
        spine_cube, target = resolve_settings.spine_cube(spec), spec["data"].get("simulated") or run
        nchan = cubes["nchan"] if spine_cube else 1
        if spine_cube:
            size = clean_size = _cube_size(cubes)
        else:
            size = _image_size(spec["image"]["npix"]) if spec["image"]["npix"] else "from the data"
            clean_size = _image_size(cfg[target]["npix"] if "simulated" in spec["data"] else spec["compare"]["npix"])
        resolve = add("imaging", f"RESOLVE {run} ({spec['response']['mode']} mode)", size, files("resolve", run),
                      nchan)
        if spec["data"]["cube"] and not spine_cube:   # a cube of real data: no tCLEAN cube beside it
            continue
        methods = spec["compare"]["methods"]
        for method in methods:
            clean = add("imaging", f"tCLEAN {method} ({target})", clean_size, files("tclean_images", run, method),
                        nchan)
            if resolve and clean and method == methods[0]:
                grids = "same grid" if size == clean_size else "different grids"
                ratios.append(f"RESOLVE {run} takes {resolve / clean:.1f}x the wall time of tCLEAN {method} "
                              f"({grids}, same data)")
    table = Table(rows=rows or None, names=("stage", "method", "size", "items", "s_per_item", "s_per_channel"),
                  dtype=(str, str, str, int, float, float))
    table.meta["note"] = ("wall seconds per cube (or image) from this run's benchmark files; jobs shared the "
                          "cores with each other. " + "; ".join(ratios))
    return table


def write_benchmark_tables(*, benchmark_dir: str, benchmarks: dict, config: dict, timing: str, csv: str, md: str,
                           speed_csv: str, speed_md: str, params: dict) -> None:
    """Per-rule wall time and memory of every benchmark file the run left under ``benchmark_dir``, and the
    speed table of the jobs named in ``benchmarks`` (see :func:`speed_table`)."""
    from .tables import benchmark_summary, write_table

    table = benchmark_summary(benchmark_dir)
    table.meta["note"] = "wall seconds and peak resident memory of every job, from the rules' benchmark files"
    write_table(table, csv, md, "Wall time and memory per rule", params=params)
    write_table(speed_table(benchmarks, config, timing), speed_csv, speed_md, "Speed: seconds per cube or image",
                params=params)
