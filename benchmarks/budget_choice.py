"""Choose a profile's training budget (train.stage2 eval_every k, patience P) from dev curves.

Reads the JSON lines of ``benchmarks/dev_sweep.py`` runs trained to a cap with dev evaluated every
epoch and no early stopping (``--set train.stage2.epochs=CAP --set train.stage2.eval_every=1``), and
replays each (k, P) on every run's dev curve, exactly as ``qbslt.training.loop.fit`` would stop it:
the learning-rate schedule is the cap's whatever k and P are, so a curve's prefix is the same run.
Prints, per (k, P): the mean dev BLEU-4 of the weights kept, its loss against the best epoch of the
whole curve, the mean epochs run (training cost), the dev evaluations made (decoding cost), and how
many runs reach the cap still improving (their best among the last P evaluations). Only dev is read.

``--min-delta D ...`` replays ``train.stage2.min_delta`` = D (Keras' ``min_delta``): an evaluation
counts as an improvement only when it beats the score of the last counted one by more than D, so P
evaluations of smaller gains stop the run and a run is "still improving" at the cap only after a gain
above D; the weights kept are still the dev-best ones. D = 0 (the key absent) counts any gain.
``--metrics DIR`` replays the recorded curves of a full run instead (``DIR/*/*/seed*.json``, e.g.
``results/realtext/metrics``): each at its own evaluation epochs, ``--k`` aside; a rule that would
evaluate past where the run stopped counts that run as unknown (a D > 0 at the run's own P never does).

    python benchmarks/budget_choice.py sweep.log [more.log ...] [--k 1 2 3] [--patience 2 3 4 5] [--min-epochs 10]
        [--min-delta 0 0.5 1]
    python benchmarks/budget_choice.py --metrics results/realtext/metrics --patience 2 --min-epochs 12 --min-delta 0 0.5
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from qbslt.training.loop import evaluations_since_best


def replay(curve: dict[int, float], cap: int, k: int, patience: int, min_epochs: int = 0,
           min_delta: float = 0.0, evaluated: list[int] | None = None) -> dict:
    """Where ``fit`` with eval_every ``k``, ``patience``, ``min_epochs`` and ``min_delta`` stops on this
    per-epoch dev ``curve`` (``evaluated``: these evaluation epochs instead of every k-th, a recorded run's).
    ``run`` is None when the curve ends before the rule would stop."""
    evaluated = evaluated or [e for e in range(1, cap + 1) if e % k == 0 or e == cap]
    history: list[dict] = []  # as fit records it: the rule itself is fit's (evaluations_since_best)
    for epoch in evaluated:
        if epoch not in curve:
            return {"run": None, "best": None, "evaluations": len(history), "improving": False}
        history.append({"epoch": epoch, "dev_score": curve[epoch]})
        best = max(history, key=lambda r: r["dev_score"])["dev_score"]  # max keeps the first of equal bests
        if evaluations_since_best(history, min_delta) >= patience and min_epochs <= epoch < cap:
            return {"run": epoch, "best": best, "evaluations": len(history), "improving": False}
    best = max(r["dev_score"] for r in history)
    return {"run": cap, "best": best, "evaluations": len(history),
            "improving": evaluations_since_best(history, min_delta) < patience}


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


def read_metrics(root: Path) -> list[dict]:
    """The recorded dev curves of a full run's metrics files (``root/DATASET/VARIANT/seedN.json``)."""
    runs = []
    for path in sorted(root.glob("*/*/seed*.json")):
        budget = json.loads(path.read_text(encoding="utf-8")).get("budget")
        if budget and budget.get("dev_curve"):
            curve = {int(e): float(s) for e, s in budget["dev_curve"]}
            # A run stopped early has no score after its stop: its cap stands for the evaluations it did not
            # make, so a rule that would go on reads "unknown" there.
            evaluated = sorted(curve) + ([budget["cap"]] if budget["cap"] not in curve else [])
            runs.append({"name": str(path.relative_to(root).with_suffix("")), "cap": budget["cap"], "curve": curve,
                         "evaluated": evaluated})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="*", type=Path)
    parser.add_argument("--metrics", type=Path, help="replay a full run's recorded curves (results/<profile>/metrics)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--patience", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--min-epochs", type=int, default=0, help="no stop before this epoch (train.stage2.min_epochs)")
    parser.add_argument("--min-delta", type=float, nargs="+", default=[0.0],
                        help="train.stage2.min_delta values to replay (default 0: any gain counts)")
    args = parser.parse_args()
    if bool(args.logs) == bool(args.metrics):
        parser.error("give sweep logs or --metrics DIR (one of them)")
    runs = read_metrics(args.metrics) if args.metrics else read_runs(args.logs)
    if not runs:
        raise SystemExit("no run with a dev curve there" if args.metrics else
                         "no run with a per-epoch dev curve in these logs")
    print(f"{len(runs)} runs: " + ", ".join(f"{r['name']} (best epoch {max(r['curve'], key=r['curve'].get)} "
                                           f"of {r['cap']})" for r in runs))
    print("| k | P | min gain | mean dev BLEU-4 kept | loss vs curve's best | mean epochs run | dev evaluations | "
          "still improving at cap |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in ([None] if args.metrics else args.k):
        for p in args.patience:
            for delta in args.min_delta:
                out = [replay(r["curve"], r["cap"], k or 1, p, args.min_epochs, delta, r.get("evaluated")) for r in runs]
                unknown = sum(o["run"] is None for o in out)
                if unknown:
                    print(f"| {k or 'own'} | {p} | {delta:g} | {unknown} of {len(out)} runs stop beyond their recorded "
                          f"curve | | | | |")
                    continue
                kept = statistics.fmean(o["best"] for o in out)
                loss = statistics.fmean(max(r["curve"].values()) - o["best"] for r, o in zip(runs, out))
                print(f"| {k or 'own'} | {p} | {delta:g} | {kept:.2f} | {loss:.2f} | "
                      f"{statistics.fmean(o['run'] for o in out):.1f} | "
                      f"{statistics.fmean(o['evaluations'] for o in out):.1f} | "
                      f"{sum(o['improving'] for o in out)} / {len(out)} |")


if __name__ == "__main__":
    main()
