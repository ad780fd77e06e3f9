"""Science code of the ALMA imaging workflow.

Each stage lives in its own module or package (README "Layout"). Snakemake rules call one keyword-only
function each through ``rules/step.py`` (:mod:`workflow_lib.step`); people call the same functions through
the ``alma-imaging`` command (:mod:`workflow_lib.cli`).
"""

__version__ = "0.1.0"
