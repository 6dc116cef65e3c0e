# Shared settings: validated config, paths, how rules call the package.
import json
import os
import shlex
import sys

# Rules run `python -m qbslt` from this checkout, also inside --use-conda environments
# (whose env files install the dependencies, not the package itself).
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(SRC)}; ")

from qbslt import config as qbslt_config
from qbslt.errors import ConfigError
from snakemake.exceptions import WorkflowError

try:
    CFG = qbslt_config.resolve(dict(config))
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

PROFILE = CFG["profile"]
DATA = f"data/{PROFILE}"
DATASETS = CFG["data"]["datasets"]
SPLITS = ["train", "dev", "test"]


def as_json(tree):
    """A config subtree as one JSON string: passed to the CLI and compared by the params trigger."""
    return json.dumps(tree, sort_keys=True, ensure_ascii=False)


# (dataset, variant) -> resolved variant config; (dataset, stage-1 key) -> stage-1 config.
VARIANTS = {
    (d, v): qbslt_config.variant_config(CFG, v) for d in DATASETS for v in qbslt_config.dataset_variants(CFG, d)
}
STAGE1 = {(d, qbslt_config.stage1_key(c)): qbslt_config.stage1_config(c) for (d, v), c in VARIANTS.items()}
SEEDS = CFG["experiment"]["seeds"]
REFERENCES = ["copy_question", "retrieve"]
VARIANT_PATTERN = "|".join(sorted({v for (_, v) in VARIANTS}, key=len, reverse=True))
GPU = CFG["train"]["gpus"]
# More than one GPU per job: torchrun starts one process per GPU (DistributedDataParallel).
LAUNCH = f"torchrun --standalone --nproc_per_node {GPU} -m qbslt" if GPU > 1 else "python -m qbslt"
MODELS = f"models/{PROFILE}"
CHECKPOINTS = f"checkpoints/{PROFILE}"


def video_dir(dataset, model_cfg):
    """Frozen backbone: its precomputed features; trained backbone: the raw frame store."""
    if model_cfg["freeze_backbone"]:
        return f"{DATA}/features/{dataset}/{model_cfg['backbone']}"
    return f"{DATA}/frames/{dataset}"


def run_inputs(dataset, model_cfg, splits):
    return {
        "examples": expand(f"{DATA}/examples/{dataset}/{{split}}.tsv", split=splits),
        "video": expand(os.path.join(video_dir(dataset, model_cfg), "{split}.npy"), split=splits),
        "decoder_tokenizer": f"{DATA}/tokenizers/{dataset}/mbart",
        "text_tokenizer": f"{DATA}/tokenizers/{dataset}/{model_cfg['text_model']}",
    }


def stage1_model(w):
    key = qbslt_config.stage1_key(VARIANTS[(w.dataset, w.variant)])
    return f"{MODELS}/{w.dataset}/stage1/{key}/seed{w.seed}/model.safetensors"


TABLES = list(range(1, 9))
FIGURE_DATASET = "phoenix"
FIGURE_VARIANT = "ssl_ssaw"


def table_inputs(wildcards):
    """Every metrics and predictions file the tables read (the whole experiment matrix)."""
    runs = [(d, v, s) for (d, v) in VARIANTS for s in SEEDS]
    runs += [(d, r, 0) for d in DATASETS for r in REFERENCES]
    return {
        "metrics": [f"results/metrics/{d}/{v}/seed{s}.json" for d, v, s in runs],
        "predictions": [f"results/predictions/{d}/{v}/seed{s}.tsv" for d, v, s in runs],
    }
