# ALMA imaging workflow: CASA simulation, tCLEAN references, the DeepFocus training set and source finder,
# RESOLVE. `snakemake --cores all` runs the demo (config/config.yaml); `--configfile OVERLAY` runs another
# config, an overlay on the demo's (rules/common.smk). Every rule calls one workflow_lib function
# through rules/step.py (see README "Adding a step").
from snakemake.utils import min_version

min_version("9.0")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/skymodels.smk"
include: "rules/simulate.smk"
include: "rules/imaging.smk"
include: "rules/tables.smk"
include: "rules/dataset.smk"
include: "rules/resolve.smk"
include: "rules/deepfocus.smk"
include: "rules/independent.smk"
include: "rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True


rule deepfocus_tables:
    """DeepFocus's tables and figures only (training set, models, both test sets): config/medium.yaml's target."""
    input:
        rules.deepfocus_evaluate.output,
        rules.deepfocus_independent_evaluate.output,
