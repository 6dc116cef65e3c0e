"""The least wall time a full run's stage-2 training could take on this machine: every run's training
FLOPs (epochs run x training examples x model FLOPs per example, forward and backward) over the
machine's measured fp32 matmul rate, one thread a job, ``--cores`` jobs at a time. A lower bound:
it counts no dev or test decoding, no data loading and no other stage, and assumes every operation
runs as fast as one large matrix product.

    python benchmarks/compute_floor.py --results results/realtext [--profile realtext] [--cores 2] [--batches 4]

Run in the run's folder (it reads ``data/<profile>`` for the tokenizers, features and training split).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch
from torch.utils.flop_counter import FlopCounterMode

from qbslt import config
from qbslt.training.loop import to_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_throughput import matmul_rate, prepared_run  # noqa: E402 - one measure, one setup


def flops_per_example(tree: dict, variant: str, dataset: str, batches: int) -> tuple[float, int]:
    """Mean training FLOPs per example of ``variant`` (forward + backward over ``batches`` seeded random
    training batches of the stage-2 batch size) and the training split's size."""
    cfg, _, model, train, collator = prepared_run(tree, variant, dataset)
    generator, size, total = torch.Generator().manual_seed(0), cfg["train"]["stage2"]["batch_size"], 0.0
    for _ in range(batches):
        rows = torch.randperm(len(train), generator=generator)[:size].tolist()
        batch = to_device(collator(rows, generator), torch.device("cpu"))
        with FlopCounterMode(display=False) as counter:
            model.translation_losses(batch)["loss"].backward()
        total += counter.get_total_flops()
        model.zero_grad(set_to_none=True)
    return total / (batches * size), len(train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results/realtext"))
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", help="a profile of params.yaml (default: the results folder's name)")
    parser.add_argument("--cores", type=int, default=2, help="jobs at a time (one thread each)")
    parser.add_argument("--batches", type=int, default=4, help="random training batches per variant")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tree = config.load(args.params, profile=args.profile or args.results.name)
    epochs: dict[tuple[str, str], list[int]] = defaultdict(list)
    for path in sorted((args.results / "metrics").glob("*/*/seed*.json")):
        budget = json.loads(path.read_text(encoding="utf-8")).get("budget")
        if budget:  # trained runs only (the reference systems record no budget)
            epochs[(path.parent.parent.name, path.parent.name)].append(budget["epochs_run"])
    if not epochs:
        raise SystemExit(f"no trained runs under {args.results / 'metrics'}")
    rate = matmul_rate()
    print(f"fp32 matmul rate, one thread: {rate / 1e9:.1f} GFLOP/s (1024 x 1024, measured)")
    print("| dataset | variant | runs | epochs run | GFLOP per example | training TFLOP | at the matmul rate |")
    print("|---|---|--:|--:|--:|--:|--:|")
    total = 0.0
    for (dataset, variant), runs in sorted(epochs.items()):
        per_example, n_train = flops_per_example(tree, variant, dataset, args.batches)
        flops = per_example * n_train * sum(runs)
        total += flops
        print(f"| {dataset} | {variant} | {len(runs)} | {sum(runs)} | {per_example / 1e9:.3f} | {flops / 1e12:,.1f} | "
              f"{flops / rate:,.0f} s |")
    floor = total / rate / args.cores
    print(f"\nstage-2 training, {sum(len(r) for r in epochs.values())} runs: {total / 1e12:,.1f} TFLOP; at the matmul "
          f"rate on {args.cores} cores: {floor:,.0f} s ({floor / 60:.0f} min), a lower bound on its wall time")


if __name__ == "__main__":
    main()
