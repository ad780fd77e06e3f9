# Helpers for the rules: config validation, output paths, per-target parameters.
import re
import sys

sys.path.insert(0, workflow.basedir)
from workflow_lib import config as wconfig  # noqa: E402
from workflow_lib.imaging import PRODUCTS_DIRTY, data_selection, product_files  # noqa: E402

# `config` holds what --configfile / --config gave: an overlay on config/config.yaml (workflow_lib.config)
_merged = wconfig.merge(wconfig.base(), config)
config.clear()
config.update(_merged)
try:
    wconfig.check(config)
except wconfig.ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None

R = f"results/{config['name']}"
LOGS = f"{R}/logs"
# scheduling priority of the DeepFocus chain (shards -> training -> operating point), the demo's longest
# sequence of jobs: without it the scheduler starts the RESOLVE runs first (it favours jobs with temporary
# inputs, their measurement sets), and training waits for them (with RESOLVE on one thread as well: the demo
# took 21 min 24 s instead of 24-26, README "Timings")
CRITICAL_PATH = 10
BENCH = f"{R}/benchmarks"
CUBES = [f"cubes/cube_{i:04d}" for i in range(config["cubes"]["count"])]
TARGETS = ["continuum", *CUBES]
MANIFEST = f"{R}/dataset/manifest.json"
SHARDS = [f"{k:04d}" for k in range(-(-config["dataset"]["count"] // config["dataset"]["shard_size"]))]
DATASET_SHARDS = [f"{R}/dataset/shard_{k}.h5" for k in SHARDS]


wildcard_constraints:
    target=r"continuum|decrement|cubes/cube_\d{4}",
    index=r"\d{4}",
    shard=r"\d{4}",
    method="|".join(map(re.escape, config["imaging"]["methods"])) or "(?!)",


FIELDS = ("continuum", "decrement")  # the simulated fields of Gaussian components (config sections)


def is_cube(target):
    return target not in FIELDS


def target_section(target):
    return config["cubes"] if is_cube(target) else config[target]


def imaging_section(target):
    """tclean's niter and threshold: a field's are the continuum's."""
    return config["imaging"]["cubes" if is_cube(target) else "continuum"]


def noise_stream(target):
    return ["cube", int(target.rsplit("_", 1)[1])] if is_cube(target) else [target]


def per_attempt(mb):
    """A rule's mem_mb: `mb` on the first attempt, k * mb on the k-th, so a job that a cluster killed for
    memory (or any failed job, with --retries) asks for more when it is retried."""
    return lambda wildcards, attempt: mb * attempt


def shard_mem_mb(wildcards, attempt):
    """Memory of a shard job in MB: cube copies and one NUFFT plan per channel (times the attempt)."""
    d, obs = config["dataset"], config["observation"]
    n_ant = len(wconfig.antenna_positions(obs["antenna_config"]))
    rows = n_ant * (n_ant - 1) // 2 * int(obs["total_time_s"] // obs["integration_s"])
    cube_mb = d["npix"] ** 2 * d["nchan"] * 8 / 1e6
    return int(1500 + 20 * cube_mb + rows * d["nchan"] * 48 / 1e6) * attempt


# every table and figure of the paper (rule `paper`); stages add theirs
PAPER_OUTPUTS = [
    f"{R}/config.yaml",
    f"{R}/tables/continuum_peak_flux.csv",
    f"{R}/tables/continuum_peak_flux.md",
    f"{R}/figures/continuum_tclean.png",
]


def all_outputs(benchmark_table=True):
    """Everything the default target builds; the benchmark table comes last as it reads all benchmarks."""
    out = [MANIFEST, *PAPER_OUTPUTS]
    if benchmark_table:
        out.append(f"{R}/tables/benchmarks.csv")
    for target in TARGETS:
        out.append(f"{R}/{target}/images/dirty.image.fits")
        out += [f"{R}/{target}/images/{m}.image.fits" for m in imaging_section(target)["methods"]]
    return out
