"""Shared fixtures: tiny configurations and a CASA-simulated observation reused across tests."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"


@pytest.fixture
def tiny_config() -> dict:
    """The tiny test config, validated and with schema defaults filled in."""
    from workflow_lib import config

    return copy.deepcopy(config.load(TINY))


def raw_tiny() -> dict:
    return yaml.safe_load(TINY.read_text())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole tiny workflow, run once per session: its ``results/tiny`` directory."""
    workdir = tmp_path_factory.mktemp("workflow")
    result = run_snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir / "results" / "tiny"


def run_snakemake(workdir, *args, configfile=TINY):
    """Run the workflow in ``workdir`` with this interpreter's environment first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(ROOT / "Snakefile"), "--directory",
           str(workdir), f"--configfile={configfile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


def job_resources(output: str) -> dict[str, list[str]]:
    """rule name -> the resources line of each of its jobs, from a dry run's job listing (the jobs of one rule
    may differ: a RESOLVE cube run asks more memory than an image)."""
    found, rule = {}, None
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("rule ") or line.startswith("localrule "):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("resources:") and rule:
            found.setdefault(rule, []).append(line)
    return found
