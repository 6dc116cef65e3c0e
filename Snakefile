# SSL-SSAW reproducibility pipeline: the one DAG (dvc.yaml stages call into it).
#
#   snakemake --cores all                        embedded default, every table and figure
#   snakemake --cores all prepare                data only
#   snakemake --cores all --config profile=realtext  real PHOENIX-2014T-QA texts, rendered video (CPU)
#   snakemake --cores all --config profile=paper the real datasets (see README)
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/slslr.smk"
include: "workflow/rules/sigma.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.prepare.input,
        rules.tables.output,
        rules.figure4.output if FIGURE else [],
        rules.plots.output,
        rules.slslr_all.input,  # Table 10; nothing without isolated-sign clips
        rules.table9.output,
