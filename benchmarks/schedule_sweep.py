"""Dev BLEU-4 of training schedules: the sweep behind the embedded schedule (docs/model-choices.md,
"Embedded schedule"). Each schedule trains every variant x seed (stage 1 + stage 2, in-process) on
the prepared embedded data and prints each run's dev and test BLEU-4 and the mean dev BLEU-4 per
variant and over all runs. Only dev BLEU-4 chose the schedule.

    python benchmarks/schedule_sweep.py --schedule 8:1e-3:20:3e-3 --schedule 5:2e-3:14:6e-3 \\
        [--variants sign_only ssl_tcn ssl_ssaw question_only] [--seeds 0 1 2] [--dataset phoenix]

A schedule is stage-1 epochs:lr:stage-2 epochs:lr; dev BLEU-4 is taken after the last epoch.
Run it where `snakemake --cores all` has prepared data/embedded (the features and tokenizers of
the variants). Runs are sequential, one thread each (as the DAG's jobs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from qbslt import config
from qbslt.training.runs import RunInputs, run_stage1, run_stage2


def schedule(text: str) -> tuple[int, float, int, float]:
    e1, lr1, e2, lr2 = text.split(":")
    return int(e1), float(lr1), int(e2), float(lr2)


def train(tree: dict, variant: str, dataset: str, seed: int, plan: tuple[int, float, int, float]) -> dict:
    """Stage 1 + stage 2 of one run under ``plan``; its metrics."""
    cfg = config.variant_config(tree, variant)
    e1, lr1, e2, lr2 = plan
    cfg["train"]["stage1"].update(epochs=e1, lr=lr1)
    cfg["train"]["stage2"].update(epochs=e2, lr=lr2, eval_every=e2)
    data, m = Path("data") / tree["profile"], cfg["model"]
    inputs = RunInputs(dataset, data / "examples" / dataset, data / "features" / dataset / m["backbone"],
                       data / "tokenizers" / dataset / "mbart", data / "tokenizers" / dataset / m["text_model"],
                       tuple(tree["data"]["frame_size"]))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_stage1(config.stage1_config(cfg), seed, inputs, tmp / "s1", tmp / "ck1")
        out = {"metrics": tmp / "m.json", "predictions": tmp / "p.tsv", "ssaw": tmp / "w.json", "model": tmp / "model"}
        return run_stage2(cfg, seed, inputs, tmp / "s1" / "model.safetensors", out, tmp / "ck2", variant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--schedule", type=schedule, action="append", required=True,
                        help="stage-1 epochs:lr:stage-2 epochs:lr, e.g. 5:2e-3:14:6e-3 (repeatable)")
    parser.add_argument("--variants", nargs="+", default=["sign_only", "ssl_tcn", "ssl_ssaw", "question_only"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dataset", default="phoenix")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tree = config.load(args.params)
    for plan in args.schedule:
        dev: dict[str, list[float]] = {}
        for variant in args.variants:
            for seed in args.seeds:
                metrics = train(tree, variant, args.dataset, seed, plan)
                dev.setdefault(variant, []).append(metrics["dev"]["bleu4"])
                print(f"{plan} {variant} seed {seed}: dev BLEU-4 {metrics['dev']['bleu4']:.2f}, "
                      f"test {metrics['test']['bleu4']:.2f}", flush=True)
        means = {v: statistics.mean(s) for v, s in dev.items()}
        print(f"schedule {plan}: mean dev BLEU-4 " + ", ".join(f"{v} {m:.1f}" for v, m in means.items())
              + f"; over all {statistics.mean(means.values()):.1f}", flush=True)


if __name__ == "__main__":
    main()
