# The script of every rule: calls the workflow_lib function named by params.step (see workflow_lib/step.py).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)
from workflow_lib.step import run  # noqa: E402

run(snakemake)  # noqa: F821
