"""Dev BLEU-4 of Sigma recipes: the sweep behind ``overrides.<profile>.sigma`` (docs/model-choices.md,
"Sigma"). Each recipe is the profile's resolved ``sigma`` settings of one variant with a JSON override
merged over it; it pre-trains (if on) and fine-tunes in-process on the prepared data, keeps the weights
of the best dev BLEU-4 (greedy, every ``finetune.eval_every`` epochs), decodes dev with ``eval.num_beams``
and prints one JSON line: dev BLEU-4, distinct dev hypotheses, dev BLEU-4 with the keypoints shuffled
across dev videos, seconds. Only dev is decoded: the test split chooses nothing.

    python benchmarks/sigma_sweep.py --profile realtext --data ../main/data/realtext \\
        --recipe base '{}' --recipe lr3e-3 '{"finetune": {"lr": 0.003}}' [--variant full] [--seed 0] \\
        [--train-subset 2000] [--out benchmarks/out/sigma_sweep.jsonl]

``--train-subset N`` trains on the first N training videos (a quicker, rougher ranking). Runs are
sequential, one torch thread (as the DAG's jobs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch

from qbslt import config
from qbslt.data.datasets import get_dataset
from qbslt.eval.metrics import corpus_scores
from qbslt.eval.reliance import derangement, distinct_hypotheses
from qbslt.sigma.configuration_sigma import SigmaSettings, check_settings
from qbslt.sigma.data import KeypointCollator, KeypointExamples
from qbslt.sigma.modeling_sigma import SigmaModel
from qbslt.sigma.run import loop_settings, model_config, translate, with_inputs_of
from qbslt.training.checkpoint import load_weights
from qbslt.training.loop import fit, seed_everything
from qbslt.training.tokenizer import load_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_args import add_prepared_data_args  # noqa: E402


def load_splits(data: Path, dataset: str, tokenizer, level: str, data_cfg: dict, train_subset: int | None) -> dict:
    splits = {}
    for split in ("train", "dev"):
        splits[split] = KeypointExamples.load(data / "examples" / dataset / f"{split}.tsv",
                                              data / "keypoints" / dataset / f"{split}.npy", tokenizer, level,
                                              data_cfg["max_frames"], data_cfg["max_text_tokens"],
                                              data / "frames" / dataset / f"{split}.index.tsv")
    if train_subset:
        t = splits["train"]
        splits["train"] = dataclasses.replace(t, names=t.names[:train_subset], translations=t.translations[:train_subset],
                                              rows=t.rows[:train_subset], label_ids=t.label_ids[:train_subset])
    return splits


def run_recipe(settings: dict, ev: dict, splits: dict, tokenizer, level: str, seed: int) -> dict:
    started = time.perf_counter()
    seed_everything(seed)
    model = SigmaModel(model_config(settings, tokenizer))
    model.pretrain_settings = {"loss_weights": settings["loss_weights"], "levels": settings["levels"]}
    collators = {s: KeypointCollator(d, tokenizer.pad_token_id) for s, d in splits.items()}
    batch, max_new = ev["batch_size"] or settings["finetune"]["batch_size"], settings["max_new_tokens"]

    def dev_bleu4(m):
        hyps = translate(m, splits["dev"], collators["dev"], tokenizer, level, max_new, 1, batch)
        return corpus_scores(hyps, splits["dev"].translations, level)["bleu4"]

    history = {}
    with tempfile.TemporaryDirectory() as tmp:
        for phase, objective, on in (("pretrain", "pretrain", settings["pretraining"]),
                                     ("finetune", "translation", True)):
            if not on:
                continue
            result = fit(model, collators["train"], len(splits["train"]), objective, settings[phase],
                         loop_settings(SigmaSettings.of(settings, "sigma")), {"phase": phase}, seed, Path(tmp) / phase, torch.device("cpu"),
                         evaluate=dev_bleu4 if phase == "finetune" else None, desc=phase)
            history[phase] = result.history
        best = Path(tmp) / "finetune" / "best.safetensors"
        model.load_state_dict(load_weights(best))
    model.eval()
    dev = splits["dev"]
    hyps = translate(model, dev, collators["dev"], tokenizer, level, max_new, ev["num_beams"], batch)
    shuffled = with_inputs_of(dev, derangement(len(dev), seed))
    shuffled_hyps = translate(model, shuffled, KeypointCollator(shuffled, tokenizer.pad_token_id), tokenizer, level,
                              max_new, ev["num_beams"], batch)
    return {"dev_bleu4": round(corpus_scores(hyps, dev.translations, level)["bleu4"], 2),
            "dev_shuffled_bleu4": round(corpus_scores(shuffled_hyps, dev.translations, level)["bleu4"], 2),
            "dev_distinct": distinct_hypotheses(hyps)["count"], "dev_videos": len(dev),
            "dev_greedy_by_epoch": [h.get("dev_score") for h in history["finetune"]],
            "seconds": round(time.perf_counter() - started, 1), "examples": hyps[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_prepared_data_args(parser, "benchmarks/out/sigma_sweep.jsonl")
    parser.add_argument("--variant", default="full")
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--recipe", nargs=2, action="append", required=True, metavar=("NAME", "JSON"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    tree = config.load(args.params, args.profile)
    data = args.data or Path("data") / args.profile
    tokenizer = load_tokenizer(data / "tokenizers" / args.dataset / "mbart")
    level = get_dataset(args.dataset).eval_level
    splits = load_splits(data, args.dataset, tokenizer, level, tree["sigma"]["data"], args.train_subset)
    ev = {k: tree["eval"][k] for k in ("num_beams", "eval_beams_during_training", "batch_size")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, override in args.recipe:
        settings = config.deep_merge(config.sigma_variant_config(tree, args.variant), json.loads(override))
        check_settings(settings, f"recipe {name}")
        result = {"recipe": name, "override": json.loads(override), "variant": args.variant, "seed": args.seed,
                  "train_videos": len(splits["train"]),
                  **run_recipe(settings, ev, splits, tokenizer, level, args.seed)}
        line = json.dumps(result, ensure_ascii=False)
        print(line, flush=True)
        with args.out.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
