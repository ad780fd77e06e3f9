"""Run the workflow from a benchmark script: Snakemake on this checkout in a scratch working directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_workflow(work: Path, targets: list[str], cores: int, configfile: str | Path | None = None,
                 config: list[str] = ()) -> float:
    """Build ``targets`` (paths relative to ``work``) with this interpreter's Snakemake; returns wall seconds.
    A failed run is an error carrying the end of Snakemake's stderr."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "-s", str(ROOT / "Snakefile"),
           "--directory", str(work), *([f"--configfile={configfile}"] if configfile else []),
           *(["--config", *config] if config else []), "--", *targets]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(targets)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started
