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
from qbslt.data import datasets as qbslt_datasets
from qbslt.data import frame_store as qbslt_frame_store
from qbslt.data import keypoints as qbslt_keypoints
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
    CFG = qbslt_config.resolve_layers(qbslt_config.merge_layers(LAYERS), LAYERS)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

PROFILE = CFG["profile"]
DATA = f"data/{PROFILE}"
# Every profile has its own tree, as DATA, MODELS and CHECKPOINTS: dvc.yaml names them by ${profile} too.
RESULTS = f"results/{PROFILE}"
DATASETS = CFG["data"]["datasets"]
SPLITS = ["train", "dev", "test"]
# slslr.isolated_dataset: an isolated-sign dataset whose frames and keypoints are stored as a
# dataset of its own (split train), for SL-SLR only (slslr.smk).
ISOLATED = CFG["slslr"]["isolated_dataset"]


def as_json(tree):
    """A config subtree as one JSON string: passed to the CLI and compared by the params trigger."""
    return json.dumps(tree, sort_keys=True, ensure_ascii=False)


# (dataset, variant) -> resolved variant config; (dataset, stage-1 key) -> stage-1 config.
VARIANTS = {
    (d, v): qbslt_config.variant_config(CFG, v)
    for d in DATASETS
    for v in qbslt_config.dataset_variants(CFG, d)
}
STAGE1 = {
    (d, qbslt_config.stage1_key(c)): qbslt_config.stage1_config(c)
    for (d, v), c in VARIANTS.items()
}
SEEDS = CFG["experiment"]["seeds"]
# (dataset, variant) -> its seeds (experiment.variant_seeds, else experiment.seeds).
RUN_SEEDS = {(d, v): qbslt_config.variant_seeds(CFG, v) for (d, v) in VARIANTS}
REFERENCES = list(qbslt_config.REFERENCE_SYSTEMS)
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
MODELS = f"models/{PROFILE}"
CHECKPOINTS = f"checkpoints/{PROFILE}"


# data.frame_store: raw uint8 memory map (<split>.npy) or compressed (jpeg/<split>.jpgs).
FRAME_STORE = CFG["data"].get(
    "frame_store", {"format": "raw", "quality": qbslt_frame_store.DEFAULT_QUALITY}
)


# data.keypoints: rendered positions (embedded, realtext) or MediaPipe Holistic (paper), resolved here.
KEYPOINTS = {**qbslt_keypoints.DEFAULTS, **CFG["data"].get("keypoints", {})}
KEYPOINT_EXTRACTOR = qbslt_keypoints.resolve_extractor(KEYPOINTS["extractor"], PROFILE)
# What the extractor reads of data.keypoints (the renderer: nothing, so a Holistic setting never reruns it).
KEYPOINT_SETTINGS = (
    {k: v for k, v in KEYPOINTS.items() if k != "extractor"}
    if KEYPOINT_EXTRACTOR == "mediapipe"
    else {}
)


def frame_store_path(dataset, split):
    """The frame store of one dataset and split, in the format of data.frame_store."""
    return f"{DATA}/frames/{dataset}/{qbslt_frame_store.store_name(split, FRAME_STORE['format'])}"


def video_path(dataset, model_cfg, split):
    """Frozen backbone: its precomputed features; trained backbone: the frame store."""
    if model_cfg["freeze_backbone"]:
        return f"{DATA}/features/{dataset}/{model_cfg['backbone']}/{split}.npy"
    return frame_store_path(dataset, split)


def run_inputs(dataset, model_cfg, splits):
    return {
        "examples": expand(f"{DATA}/examples/{dataset}/{{split}}.tsv", split=splits),
        "video": [video_path(dataset, model_cfg, split) for split in splits],
        "decoder_tokenizer": f"{DATA}/tokenizers/{dataset}/mbart",
        "text_tokenizer": f"{DATA}/tokenizers/{dataset}/{model_cfg['text_model']}",
    }


def stage1_model(w):
    key = qbslt_config.stage1_key(VARIANTS[(w.dataset, w.variant)])
    return f"{MODELS}/{w.dataset}/stage1/{key}/seed{w.seed}/model.safetensors"


# dataset -> the variants and reference systems the experiment runs on it.
MATRIX = qbslt_config.run_matrix(CFG)
# The tables whose every row the experiment matrix runs (embedded: Tables 1-8; realtext: fewer).
TABLES = qbslt_layout.renderable_tables(MATRIX)
FIGURE_DATASET = "phoenix"
FIGURE_VARIANT = "ssl_ssaw"
FIGURE = (FIGURE_DATASET, FIGURE_VARIANT) in VARIANTS


def table_inputs(wildcards):
    """Every metrics and predictions file the tables read (the whole experiment matrix), with the
    dev predictions the claims page's overlap terciles read (qbslt.reports.overlap)."""
    runs = [(d, v, s) for (d, v) in VARIANTS for s in RUN_SEEDS[(d, v)]]
    runs += [(d, r, 0) for d in DATASETS for r in REFERENCES]
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
