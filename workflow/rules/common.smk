# Shared settings: validated config, paths, how rules call the package.
import functools
import glob
import json
import os
import shlex
import sys

# Rules run `python -m qbslt` from this checkout, also inside --use-conda environments
# (whose env files install the dependencies, not the package itself). SRC is relative to the
# working directory: Snakemake records input paths, and an absolute one would make a moved or
# copied project rebuild everything ("set of input files has changed").
SRC = os.path.relpath(os.path.join(workflow.basedir, "src"))
sys.path.insert(0, os.path.abspath(SRC))
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(os.path.abspath(SRC))}; "
)

from qbslt import config as qbslt_config
from qbslt import experiment as qbslt_experiment
from qbslt.data import datasets as qbslt_datasets
from qbslt.data import frame_store as qbslt_frame_store
from qbslt.plan.dry_run import Job as DryRunJob
from qbslt.plan import estimate as qbslt_estimate
from qbslt.reports import layout as qbslt_layout
from qbslt.errors import ConfigError
from snakemake.exceptions import WorkflowError


def config_layers():
    """(source, mapping) of each layer of `config`, in Snakemake's merge order: the Snakefile's
    configfile (params.yaml), the --configfile files, the --config KEY=VALUE pairs; an error names
    the layer that brings it (config.resolve_layers). Each file is read with a reader that refuses
    a repeated key (naming it and both lines): Snakemake's YAML reading keeps the second.
    """
    settings = workflow.config_settings
    cli_files = [str(path) for path in settings.configfiles]
    # workflow.configfiles: the --configfile files, then those the Snakefile's `configfile:` added
    # (none of which counts under --replace-workflow-config).
    own = (
        []
        if settings.replace_workflow_config
        else workflow.configfiles[len(cli_files) :]
    )
    layers = [(str(path), qbslt_config.read_yaml(path)) for path in own]
    layers += [
        (f"--configfile {path}", qbslt_config.read_yaml(path)) for path in cli_files
    ]
    if settings.config:
        layers.append(
            (qbslt_config.CLI_CONFIG, qbslt_config.typed_cli_config(settings.config))
        )
    return layers


try:
    LAYERS = config_layers()
    # The experiment plan (qbslt.experiment): the matrix, the jobs and their settings, built once;
    # every rule file reads it, and no rule file reads another's globals.
    EXPERIMENT = qbslt_experiment.Experiment(
        qbslt_config.resolve_layers(
            qbslt_config.merge_layers(LAYERS),
            LAYERS,
            check=qbslt_experiment.Experiment.check,
        )
    )
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

CFG = EXPERIMENT.tree
PROFILE = EXPERIMENT.profile.name
# Every profile has its own trees (qbslt.experiment.Trees): dvc.yaml names them by ${profile} too.
DATA = EXPERIMENT.trees.data
RESULTS = EXPERIMENT.trees.results
MODELS = EXPERIMENT.trees.models
CHECKPOINTS = EXPERIMENT.trees.checkpoints
DATASETS = EXPERIMENT.datasets
SPLITS = ["train", "dev", "test"]
# slslr.isolated_dataset: an isolated-sign dataset whose frames and keypoints are stored as a
# dataset of its own (split train), for SL-SLR only (slslr.smk).
ISOLATED = CFG["slslr"]["isolated_dataset"]
# (dataset, variant) -> resolved variant config; (dataset, stage-1 key) -> stage-1 config.
VARIANTS = EXPERIMENT.variants
STAGE1 = EXPERIMENT.stage1
SEEDS = EXPERIMENT.seeds
# (dataset, variant) -> its seeds (experiment.variant_seeds, else experiment.seeds).
RUN_SEEDS = EXPERIMENT.run_seeds
REFERENCES = EXPERIMENT.references
VARIANT_PATTERN = "|".join(sorted({v for (_, v) in VARIANTS}, key=len, reverse=True))
GPU = CFG["train"]["gpus"]
# More than one GPU per job: torchrun starts one process per GPU (DistributedDataParallel).
# `exec`: the training process replaces the job's shell, so a stop signal (SIGTERM from SLURM before
# the time limit) reaches it, and it saves its state and exits 75 (docs/paper-profile.md), instead of
# the shell dying at once and the job failing before the state is saved.
LAUNCH = (
    f"exec torchrun --standalone --nproc_per_node {GPU} -m qbslt"
    if GPU > 1
    else "exec python -m qbslt"
)
# data.frame_store: raw uint8 memory map (<split>.npy) or compressed (jpeg/<split>.jpgs).
FRAME_STORE = EXPERIMENT.frame_store
# data.keypoints: rendered positions (embedded, realtext) or MediaPipe Holistic (paper).
KEYPOINT_EXTRACTOR = EXPERIMENT.keypoint_extractor
# cluster.stage_dir: training jobs copy their video stores to this node-local folder first (quoted: the
# run expands its variables on the node, and reads the shared stores when they are unset).
STAGE = (
    f"--stage-dir {shlex.quote(CFG['cluster']['stage_dir'])}"
    if CFG["cluster"]["stage_dir"]
    else ""
)


def planned_job(kind, wildcards):
    """The planned job of ``kind`` at these wildcards (qbslt.experiment.Experiment.job)."""
    w = dict(wildcards.items())
    name = w.get("variant", w.get("key", w.get("system")))
    try:
        return EXPERIMENT.job(kind, w.get("dataset"), name, w.get("seed", 0))
    except ConfigError as exc:
        raise WorkflowError(str(exc)) from None


def job_settings(kind, wildcards):
    """The settings of the planned job of ``kind`` at these wildcards, encoded for its --cfg."""
    return EXPERIMENT.encoded(planned_job(kind, wildcards))


def job_inputs(kind):
    """A training rule's inputs, from the plan (Experiment.inputs), as a function of its wildcards."""
    return lambda wildcards: EXPERIMENT.inputs(planned_job(kind, wildcards))


def job_outputs(kind):
    """A training rule's outputs, from the plan (Experiment.output_patterns); folders as directory()."""
    return {
        name: (
            directory(pattern)
            if (kind, name) in qbslt_experiment.DIRECTORY_OUTPUTS
            else pattern
        )
        for name, pattern in EXPERIMENT.output_patterns(kind).items()
    }


def step_settings(step):
    """The settings a data or tokenizer step reads, encoded for its --cfg (as a function of the
    wildcards: a params string would have its JSON braces read as wildcards)."""
    encoded = EXPERIMENT.encoded(step)
    return lambda wildcards: encoded


# `qbslt plan`'s estimate of each training job of the paper profile: its time limit, attempts and GPU
# memory (qbslt.plan.estimate.Planner.job_resources), what the SLURM profile asks for; the other
# profiles' jobs keep the defaults (the plan's figures are the paper model's).
PLANNER = qbslt_estimate.Planner(EXPERIMENT) if EXPERIMENT.profile.paper_data else None


@functools.cache
def job_resources(rule, wildcards):
    """The plan's resources of one training job (``wildcards``: its sorted items), computed once for
    the three resources that read them."""
    return PLANNER.job_resources(DryRunJob(rule, dict(wildcards)))


def planned(rule, resource, default):
    """A resource of the training job of ``rule`` at its wildcards, from the plan (else ``default``)."""

    def value(wildcards):
        if PLANNER is None:
            return default
        planned_resources = job_resources(rule, tuple(sorted(wildcards.items())))
        return default if planned_resources is None else planned_resources[resource]

    return value


def frame_store_path(dataset, split):
    """The frame store of one dataset and split, in the format of data.frame_store."""
    return EXPERIMENT.frame_store_path(dataset, split)


# dataset -> the variants and reference systems the experiment runs on it.
MATRIX = EXPERIMENT.matrix
# The tables whose every row the experiment matrix runs (embedded: Tables 1-8; realtext: fewer).
TABLES = qbslt_layout.renderable_tables(MATRIX)
FIGURE_DATASET = "phoenix"
FIGURE_VARIANT = "ssl_ssaw"
FIGURE = (FIGURE_DATASET, FIGURE_VARIANT) in VARIANTS


def table_inputs(wildcards):
    """Every metrics and predictions file the tables read (the whole experiment matrix), with the
    dev predictions the claims page's overlap terciles read (qbslt.reports.overlap)."""
    runs = [
        (j.dataset, j.name, j.seed)
        for j in EXPERIMENT.jobs()
        if j.kind in ("train", "reference")
    ]
    return {
        "metrics": [f"{RESULTS}/metrics/{d}/{v}/seed{s}.json" for d, v, s in runs],
        "predictions": [
            f"{RESULTS}/predictions/{d}/{v}/seed{s}.tsv" for d, v, s in runs
        ],
        "dev_predictions": [
            f"{RESULTS}/predictions/{d}/{v}/seed{s}.dev.tsv" for d, v, s in runs
        ],
    }


def table_only_inputs(number, wildcards):
    """Metrics and predictions of every run Table ``number`` shows (reference systems: seed 0)."""
    try:
        pairs = qbslt_layout.table_runs(number, MATRIX)
    except ConfigError as exc:
        raise WorkflowError(
            f"target table{number} under profile {PROFILE}: {exc}"
        ) from None
    runs = [
        (d, v, s)
        for d, v in pairs
        for s in ([0] if v in REFERENCES else RUN_SEEDS[(d, v)])
    ]
    return {
        "metrics": [f"{RESULTS}/metrics/{d}/{v}/seed{s}.json" for d, v, s in runs],
        "predictions": [
            f"{RESULTS}/predictions/{d}/{v}/seed{s}.tsv" for d, v, s in runs
        ],
    }
