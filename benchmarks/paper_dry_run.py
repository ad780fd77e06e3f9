"""How long Snakemake takes to build the DAG of the paper configuration (dry run).

Usage: python benchmarks/paper_dry_run.py [--repeat 3] [--out benchmarks/paper_dry_run.md]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "paper_dry_run.md"))
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    times, jobs = [], None
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.repeat):
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "--directory",
                                  workdir, f"--configfile={ROOT / 'config' / 'paper.yaml'}"],
                                 capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - start)
            if run.returncode != 0:
                sys.exit(run.stderr[-3000:])
            jobs = re.search(r"^total\s+(\d+)", run.stdout, re.M).group(1)
    text = (f"# Paper configuration: dry-run time\n\n`snakemake -n --configfile config/paper.yaml` builds a DAG of "
            f"{jobs} jobs in {min(times):.1f} s (best of {args.repeat}; all: "
            f"{', '.join(f'{t:.1f}' for t in times)} s), including Python start-up and config validation.\n")
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
