"""Dev BLEU-4 of one configuration: the sweeps behind the realtext recipe and the model choices
(docs/model-choices.md). Trains each variant x seed (stage 1 + stage 2, in-process, one thread) on
data a profile's DAG has prepared, with ``--set`` overrides of params.yaml, and prints one JSON line
per run: dev and test BLEU-4, the input-reliance BLEU-4 (shuffled video / question), the time and the
training budget (dev curve, best epoch, epochs run),
then the mean dev BLEU-4 per variant and over the variants. Only dev BLEU-4 chooses anything; test
is printed so that the sweep's log is complete. A training schedule is a set of ``--set`` values:

    python benchmarks/dev_sweep.py --profile embedded --variants sign_only ssl_tcn ssl_ssaw question_only \
        --seeds 0 1 2 --set train.stage1.epochs=5 --set train.stage1.lr=2e-3 \
        --set train.stage2.epochs=14 --set train.stage2.lr=6e-3 --set train.stage2.eval_every=14

    python benchmarks/dev_sweep.py --profile realtext --variants sign_only gloss_text \\
        --set model.input_norm=true --set train.stage2.epochs=12 [--seeds 0] [--train-subset 2000]

``--set KEY=VALUE``: a dotted params key (under the resolved profile) and a YAML value. Stage 1 is
cached per stage-1 config under ``--cache`` so variants sharing it train it once. ``--train-subset
N``: only the first N training examples (a faster sweep; the dev and test splits stay whole).
Run it where `snakemake --config profile=<profile>` has prepared data/<profile> (features,
tokenizers, examples).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch
import yaml

from qbslt import config
from qbslt.ssl_ssaw.run import RunInputs, run_stage1, run_stage2


def apply_set(tree: dict, assignment: str) -> None:
    """``a.b.c=value`` (value parsed as YAML) into ``tree``; a KeyError names an unknown key."""
    key, _, value = assignment.partition("=")
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
        node = node[part]
    if leaf not in node:
        raise KeyError(f"--set {key}: no such key")
    node[leaf] = yaml.safe_load(value)


def subset_examples(examples_dir: Path, n: int | None, tmp: Path) -> Path:
    """The examples folder, or a copy whose train.tsv keeps its first ``n`` rows."""
    if not n:
        return examples_dir
    out = tmp / "examples"
    out.mkdir()
    for split in ("dev", "test"):
        shutil.copy(examples_dir / f"{split}.tsv", out / f"{split}.tsv")
    lines = (examples_dir / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "train.tsv").write_text("".join(lines[:n + 1]), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", default="realtext")
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--dataset", default="phoenix")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--cache", default="sweeps/stage1", help="stage-1 models, per stage-1 config hash")
    parser.add_argument("--tag", default="", help="a name for this configuration in the output lines")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tree = config.load(args.params, profile=args.profile)
    for assignment in args.set:
        apply_set(tree, assignment)
    data = Path("data") / tree["profile"]
    dev: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        examples = subset_examples(data / "examples" / args.dataset, args.train_subset, tmp)
        for variant in args.variants:
            cfg = config.variant_config(tree, variant)
            m = cfg["model"]
            inputs = RunInputs(args.dataset, examples, data / "features" / args.dataset / m["backbone"],
                               data / "tokenizers" / args.dataset / "mbart",
                               data / "tokenizers" / args.dataset / m["text_model"], tuple(tree["data"]["frame_size"]))
            for seed in args.seeds:
                start = time.perf_counter()
                stage1 = config.stage1_config(cfg)
                s1 = Path(args.cache) / args.profile / f"{config.config_hash([stage1, args.train_subset])}-seed{seed}"
                if not (s1 / "model.safetensors").exists():
                    run_stage1(stage1, seed, inputs, s1, tmp / f"ck1-{variant}-{seed}")
                run_dir = tmp / f"{variant}-{seed}"
                out = {"metrics": run_dir / "m.json", "predictions": run_dir / "p.tsv", "dev_predictions": run_dir / "p.dev.tsv",
                       "ssaw": run_dir / "w.json",
                       "model": run_dir / "model"}
                metrics = run_stage2(cfg, seed, inputs, s1 / "model.safetensors", out, run_dir / "ck2", variant)
                line = {"tag": args.tag, "set": args.set, "subset": args.train_subset, "variant": variant,
                        "seed": seed, "seconds": round(time.perf_counter() - start, 1),
                        "train_seconds": metrics["train_seconds"], "best_epoch": metrics["best_epoch"],
                        "budget": metrics.get("budget")}  # the dev curve, epochs run, early or at the cap
                for split in ("dev", "test"):
                    line[split] = {k: v["bleu4"] if isinstance(v, dict) else v
                                   for k, v in metrics[split].items() if k == "bleu4" or k.startswith("shuffled")}
                print(json.dumps(line), flush=True)
                dev.setdefault(variant, []).append(line["dev"]["bleu4"])
    means = {v: statistics.mean(scores) for v, scores in dev.items()}
    print(json.dumps({"tag": args.tag, "set": args.set, "mean_dev_bleu4": {v: round(m, 2) for v, m in means.items()},
                      "mean_dev_bleu4_all": round(statistics.mean(means.values()), 2)}), flush=True)


if __name__ == "__main__":
    main()
