"""What SLURM costs: the tiny workflow locally and through profiles/slurm on a private single-node SLURM.

    python benchmarks/slurm_overhead.py [--bare 10] [--out benchmarks/slurm_overhead.md]

Needs what tests/test_slurm.py needs (root, slurm-wlm, munge: `make slurm-tools`). Measures, on this machine:
- a bare `sbatch --wrap true`: submission to SLURM's end of the job (SLURM's own per-job cost);
- per workflow job through the plugin: SLURM's elapsed time of each job minus the time the rule itself took
  (its benchmark file), i.e. the second Snakemake that runs inside every job, and the queue wait;
- the whole tiny workflow's wall, locally (`--cores` = this machine's) and through SLURM, and whether the
  products are the same (tests/run_products.py).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from local_slurm import LocalSlurm, missing_tools, workflow_profile  # noqa: E402
from run_products import differences  # noqa: E402

TINY = ROOT / "tests" / "data" / "tiny.yaml"


def snakemake(workdir: Path, env: dict, *args: str) -> float:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           f"--configfile={TINY}", *args]
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if result.returncode:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def bare_jobs(cluster: LocalSlurm, count: int) -> list[float]:
    """Seconds from sbatch to squeue showing COMPLETED, for `count` jobs of `true`, one at a time."""
    out = []
    for _ in range(count):
        started = time.perf_counter()
        job = subprocess.run(["sbatch", "--parsable", "--mem=100", "-t", "1", "-o", "/dev/null", "--wrap", "true"],
                             env=cluster.env, capture_output=True, text=True, check=True).stdout.strip()
        while next(j["state"] for j in cluster.jobs() if j["id"] == job) != "COMPLETED":
            time.sleep(0.05)
        out.append(time.perf_counter() - started)
    return out


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def rule_seconds(results: Path) -> float:
    """Sum of every rule's own run time (its benchmark file's `s`)."""
    total = 0.0
    for tsv in (results / "benchmarks").rglob("*.tsv"):
        rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
        total += float(rows[-1]["s"])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bare", type=int, default=10, help="bare sbatch jobs to time")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "slurm_overhead.md")
    args = parser.parse_args()
    if why := missing_tools():
        sys.exit(f"no local SLURM: {why}")
    cores = cpus = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="slurm_bench_") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        local_wall = snakemake(tmp / "local", env, "--cores", str(cores))
        with LocalSlurm(tmp / "cluster") as cluster:
            bare = bare_jobs(cluster, args.bare)
            before = {j["id"] for j in cluster.jobs()}
            slurm_env = {**cluster.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cluster.env['PATH']}"}
            slurm_wall = snakemake(tmp / "slurm", slurm_env, "--workflow-profile",
                                   str(workflow_profile(tmp / "profile")))
            jobs = [j for j in cluster.jobs() if j["id"] not in before]
        diffs = differences(tmp / "local" / "results" / "tiny", tmp / "slurm" / "results" / "tiny")
        elapsed = sum(seconds(j["end"]) - seconds(j["start"]) for j in jobs)
        waits = [seconds(j["start"]) - seconds(j["submit"]) for j in jobs]
        own = rule_seconds(tmp / "slurm" / "results" / "tiny")
    n = len(jobs)
    lines = [
        "# SLURM overhead: the tiny workflow locally and through profiles/slurm",
        "",
        f"`python benchmarks/slurm_overhead.py` ({datetime.now():%Y-%m-%d}) on this machine ({cpus} cores; a "
        f"private single-node SLURM 22.05 from tests/local_slurm.py, with the node's {cpus} CPUs; status by "
        "squeue, first check after 2 s).",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| bare `sbatch --wrap true`, submission to COMPLETED (median of {len(bare)}) | "
        f"{statistics.median(bare):.2f} s |",
        f"| SLURM jobs of the tiny workflow (a group is one job, an array task one) | {n} |",
        f"| per job: SLURM's elapsed time minus the rule's own time (mean) | {(elapsed - own) / n:.1f} s |",
        f"| per job: queue wait, submission to start (mean; includes waiting for one of the {cpus} CPUs) | "
        f"{statistics.mean(waits):.1f} s |",
        f"| tiny workflow wall, local `--cores {cores}` | {local_wall:.0f} s |",
        f"| tiny workflow wall, through SLURM | {slurm_wall:.0f} s ({slurm_wall / local_wall:.1f}x) |",
        f"| products the same as the local run's (tests/run_products.py) | "
        f"{'yes' if not diffs else 'NO: ' + '; '.join(diffs[:5])} |",
        "",
        "Inside each job, the time beyond the rule's own is the Snakemake that runs there (it builds the workflow "
        "again before running its one rule) and its srun step. The rest of the wall-time ratio is queueing for "
        "the node's CPUs and the plugin's status polling: its first check 2 s after a submission, then 10 s "
        "more after each check that finds nothing finished (up to 180 s).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
