"""Choose a profile's training budget (train.stage2 eval_every k, patience P) from dev curves.

Reads the JSON lines of ``benchmarks/dev_sweep.py`` runs trained to a cap with dev evaluated every
epoch and no early stopping (``--set train.stage2.epochs=CAP --set train.stage2.eval_every=1``), and
replays each (k, P) on every run's dev curve, exactly as ``qbslt.training.loop.fit`` would stop it:
the learning-rate schedule is the cap's whatever k and P are, so a curve's prefix is the same run.
Prints, per (k, P): the mean dev BLEU-4 of the weights kept, its loss against the best epoch of the
whole curve, the mean epochs run (training cost), the dev evaluations made (decoding cost), and how
many runs reach the cap still improving (their best among the last P evaluations). Only dev is read.

    python benchmarks/budget_choice.py sweep.log [more.log ...] [--k 1 2 3] [--patience 2 3 4 5] [--min-epochs 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def replay(curve: dict[int, float], cap: int, k: int, patience: int, min_epochs: int = 0) -> dict:
    """Where ``fit`` with eval_every ``k``, ``patience`` and ``min_epochs`` stops on this per-epoch dev ``curve``."""
    evaluated = [e for e in range(1, cap + 1) if e % k == 0 or e == cap]
    scores: list[tuple[int, float]] = []
    for epoch in evaluated:
        scores.append((epoch, curve[epoch]))
        best = max(range(len(scores)), key=lambda i: (scores[i][1], -i))  # the first of equal bests
        if len(scores) - 1 - best >= patience and min_epochs <= epoch < cap:
            return {"run": epoch, "best": scores[best][1], "evaluations": len(scores), "improving": False}
    best = max(range(len(scores)), key=lambda i: (scores[i][1], -i))
    return {"run": cap, "best": scores[best][1], "evaluations": len(scores),
            "improving": len(scores) - 1 - best < patience}


def read_runs(paths: list[Path]) -> list[dict]:
    runs = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            budget = row.get("budget")
            if not budget or not budget.get("dev_curve"):
                continue
            curve = {int(e): float(s) for e, s in budget["dev_curve"]}
            if sorted(curve) != list(range(1, budget["cap"] + 1)):
                raise SystemExit(f"{path}: {row['variant']} seed {row['seed']}: dev was not evaluated every epoch")
            runs.append({"name": f"{row['variant']}/{row['seed']}", "cap": budget["cap"], "curve": curve})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--patience", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--min-epochs", type=int, default=0, help="no stop before this epoch (train.stage2.min_epochs)")
    args = parser.parse_args()
    runs = read_runs(args.logs)
    if not runs:
        raise SystemExit("no run with a per-epoch dev curve in these logs")
    print(f"{len(runs)} runs: " + ", ".join(f"{r['name']} (best epoch {max(r['curve'], key=r['curve'].get)} "
                                           f"of {r['cap']})" for r in runs))
    print("| k | P | mean dev BLEU-4 kept | loss vs curve's best | mean epochs run | dev evaluations | "
          "still improving at cap |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for k in args.k:
        for p in args.patience:
            out = [replay(r["curve"], r["cap"], k, p, args.min_epochs) for r in runs]
            kept = statistics.fmean(o["best"] for o in out)
            loss = statistics.fmean(max(r["curve"].values()) - o["best"] for r, o in zip(runs, out))
            print(f"| {k} | {p} | {kept:.2f} | {loss:.2f} | {statistics.fmean(o['run'] for o in out):.1f} | "
                  f"{statistics.fmean(o['evaluations'] for o in out):.1f} | "
                  f"{sum(o['improving'] for o in out)} / {len(out)} |")


if __name__ == "__main__":
    main()
