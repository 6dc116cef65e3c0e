"""Seconds to write the paper profile's resumable checkpoint (last.pt): what train.checkpoint_seconds costs.

    python benchmarks/checkpoint_write.py [--dir DIR] [--repeats 3] [--record]

Writes, with the training loop's own ``save_checkpoint`` (``torch.save`` to a temporary file renamed
into place), a state of the paper profile's sizes: the weights of the stage-1 and the stage-2
(``ssl_ssaw``) model (parameter counts of ``reports/plan_figures.yaml``) and their SGD momentum (one
state per parameter), float32, into a temporary folder under ``--dir`` (the disk the checkpoints go
to), then ``os.sync()`` so the time includes reaching the disk. Best of ``--repeats``. Prints the
size, the seconds, and the ``checkpoint_seconds`` that keeps the writes at 1 % of the training time.
``--record`` writes ``paper.checkpoint_write`` into ``docs/measurements.yaml``.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch

from qbslt.plan.figures import FLOPS
from qbslt.reports import measurements as m
from qbslt.training.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = REPO / "docs" / "measurements.yaml"
KEY = "paper.checkpoint_write"
STAGES = {"stage 1": ("pretrain", "resnet18", "mbart", "vector"),
          "stage 2": ("translation", "resnet18", "mbart", "vector", "ssaw", "both", True)}
OVERHEAD = 0.01  # the share of training time the writes may take


def state_of(params: int) -> dict:
    """A checkpoint of ``params`` float32 weights and their SGD momentum, in a few tensors (as a model has)."""
    chunks = [params // 8] * 7 + [params - 7 * (params // 8)]
    return {"model": {f"w{i}": torch.ones(n) for i, n in enumerate(chunks)},
            "optimizer": {"state": {i: {"momentum_buffer": torch.ones(n)} for i, n in enumerate(chunks)}},
            "epoch": 1, "run_config": {}}


def write_seconds(state: dict, folder: Path, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        path = folder / "last.pt"
        os.sync()
        start = time.perf_counter()
        save_checkpoint(path, state)
        os.sync()
        best = min(best, time.perf_counter() - start)
        path.unlink()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=".", help="a folder on the disk the checkpoints go to")
    parser.add_argument("--repeats", type=int, default=3)
    m.add_record_options(parser, KEY)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="qbslt-ckpt-", dir=args.dir) as tmp:
        for stage, key in STAGES.items():
            params = FLOPS[key][2]
            state = state_of(params)
            seconds = write_seconds(state, Path(tmp), args.repeats)
            size = params * 4 * 2
            rows.append(f"{stage}: {size / 1e9:.2f} GB in {seconds:.1f} s "
                        f"(checkpoint_seconds for 1 %: {math.ceil(seconds / OVERHEAD)})")
            print(rows[-1], flush=True)
            del state
    m.record_if_asked(args, MEASUREMENTS, KEY, "; ".join(rows),
                      f"python benchmarks/checkpoint_write.py --repeats {args.repeats}")


if __name__ == "__main__":
    main()
