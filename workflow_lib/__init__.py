"""Science code of the ALMA imaging workflow.

Each stage lives in its own module (see DESIGN in README); Snakemake rules call
these functions through ``python -m workflow_lib <command>``.
"""

__version__ = "0.1.0"
