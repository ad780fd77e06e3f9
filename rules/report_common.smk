# Helpers of rules/report.smk: the benchmark files behind the speed table.


def benchmarks_of(rule, **wildcards):
    """The benchmark files of a rule's jobs (from the rule itself, so a renamed rule cannot drop a row)."""
    return expand(rule.benchmark, **wildcards) if wildcards else [str(rule.benchmark)]


def speed_benchmarks():
    """The benchmark files behind each row of the speed table (workflow_lib.speed.speed_table)."""
    out = {
        "simulate_casa": benchmarks_of(rules.simulate_casa, target=CUBES),
        "tclean_dirty": benchmarks_of(rules.tclean_dirty, target=CUBES),
        "tclean_cubes": {
            m: benchmarks_of(rules.tclean_method, target=CUBES, method=m) for m in config["imaging"]["cubes"]["methods"]
        },
        "dataset_shard": benchmarks_of(rules.dataset_shard, shard=SHARDS),
        "dataset_setup": benchmarks_of(rules.dataset_coverage)
        + (benchmarks_of(rules.dataset_template_ms) if DF_TCLEAN else []),
        "deepfocus_tclean": benchmarks_of(rules.deepfocus_tclean, index=[f"{i:04d}" for i in DF_TCLEAN]),
        "smooth_clip_test": benchmarks_of(rules.smooth_clip_test),
        "independent_cube": {
            kind: benchmarks_of(rules.independent_cube, ind_cube=cubes)
            for kind in IND_CFG["fields"]
            if (cubes := [c for c in IND_CUBES if c.rsplit("_", 1)[0] == kind])
        },
        "resolve": {run: benchmarks_of(rules.resolve, run=run) for run in RESOLVE_RUNS},
        "tclean_images": {},
    }
    for run in RESOLVE_RUNS:
        if RESOLVE_RUNS[run]["data"]["cube"] and run not in RESOLVE_CUBES:   # a cube of real data: no tCLEAN cube
            continue
        methods = RESOLVE_RUNS[run]["compare"]["methods"]
        if run in RESOLVE_CUBES:
            target = resolve_settings.spine_cube(RESOLVE_RUNS[run])
            images = {m: benchmarks_of(rules.tclean_method, target=target, method=m) for m in methods}
        elif run in ("continuum", "decrement"):
            images = {m: benchmarks_of(rules.tclean_method, target=run, method=m) for m in methods}
        elif run == "mosaic":
            images = {m: benchmarks_of(rules.tclean_mosaic, method=m) for m in methods}
        else:
            images = {m: benchmarks_of(rules.tclean_observed, observed=run, method=m) for m in methods}
        out["tclean_images"][run] = images
    return out
