# ALMA imaging workflow: simulation, tCLEAN references and, in later stages,
# DeepFocus and RESOLVE. Run `snakemake --cores all` (demo config) or see README.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/skymodels.smk"
include: "rules/simulate.smk"
include: "rules/imaging.smk"
include: "rules/tables.smk"
include: "rules/dataset.smk"
include: "rules/resolve.smk"
include: "rules/deepfocus.smk"
include: "rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
