"""How much the runs that reached the cap still gained: is the stage-2 cap limiting them?

    python benchmarks/cap_gains.py [--results results] [--profile embedded] [--record]

Reads every stage-2 metrics file's training budget (``budget``: cap, patience P, the dev curve) under
``RESULTS/PROFILE/metrics``. A run "still improving at the cap" (the reliance table's count) ran to the
cap with its best dev score among its last P evaluations. For each such run this prints what those last
P evaluations gained over the best before them (dev BLEU-4, greedy): near 0, the best near the cap is
the cosine schedule's polish; a gain of a point or more, the cap cut a run that was still learning.
Reads files only: no training. ``--record`` writes ``<profile>.cap_gains`` into ``docs/measurements.yaml``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from qbslt.reports import measurements as m

MEASUREMENTS = Path(__file__).resolve().parents[1] / "docs" / "measurements.yaml"


def cap_gain(budget: dict) -> float | None:
    """The last P evaluations' best minus the best before them, for a run that reached the cap with its
    best among its last P evaluations; None for any other run."""
    if budget.get("stopped") != "cap" or not budget.get("still_improving"):
        return None
    scores = [score for _, score in budget["dev_curve"]]
    last = budget.get("patience") or 1
    if len(scores) <= last:
        return None
    return max(scores) - max(scores[:-last])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results")
    parser.add_argument("--profile", default="embedded")
    m.add_record_options(parser, "<profile>.cap_gains")
    args = parser.parse_args()
    runs, gains = 0, {}
    for path in sorted((Path(args.results) / args.profile / "metrics").glob("*/*/seed*.json")):
        budget = json.loads(path.read_text()).get("budget")
        if not budget:
            continue  # a reference system: nothing trained
        runs += 1
        gain = cap_gain(budget)
        if gain is not None:
            gains[f"{path.parent.parent.name}/{path.parent.name}/{path.stem}"] = gain
    values = sorted(gains.values())
    if not values:
        value = f"none of {runs} trained runs reached the cap with its best among its last P evaluations"
    else:
        value = (f"{len(values)} of {runs} trained runs reached the cap with their best among their last P "
                 f"evaluations, which gained a median {statistics.median(values):.2f} dev BLEU-4 over the best "
                 f"before them (mean {statistics.mean(values):.2f}, max {values[-1]:.2f}; "
                 f"{sum(v < 0.5 for v in values)} under 0.5)")
    print(value)
    for name, gain in sorted(gains.items(), key=lambda item: -item[1])[:10]:
        print(f"  {name}: +{gain:.2f}")
    m.record_if_asked(args, MEASUREMENTS, f"{args.profile}.cap_gains", value,
                      f"python benchmarks/cap_gains.py --profile {args.profile}")


if __name__ == "__main__":
    main()
