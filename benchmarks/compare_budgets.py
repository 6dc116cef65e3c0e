"""Two full runs of one experiment matrix under two training budgets, compared on dev only.

    python benchmarks/compare_budgets.py BASELINE CANDIDATE [--tolerance 0.25]

BASELINE and CANDIDATE are a run's ``results/<profile>`` folders. Per row (dataset, variant): the seeds,
the mean dev BLEU-4 (the final beam decoding of the dev-best weights) and the mean epochs run of each
run, and how many runs reached their cap still improving (``budget.still_improving``). Then the rule
of docs/model-choices.md ("Training budget"), stated before the candidate ran: the candidate replaces
the baseline when none of its runs is still improving at its cap and its mean dev BLEU-4 over the
runs both folders hold is at least the baseline's less ``--tolerance``. Test scores are not read.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def read_runs(results: Path) -> dict[tuple[str, str, str], dict]:
    """(dataset, variant, seed file) -> {dev BLEU-4, epochs run, still improving} of every trained run."""
    runs = {}
    for path in sorted((results / "metrics").glob("*/*/seed*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        budget = record.get("budget")
        if budget:  # trained runs only (the reference systems record no budget)
            runs[(path.parent.parent.name, path.parent.name, path.stem)] = {
                "dev": record["dev"]["bleu4"], "epochs": budget["epochs_run"],
                "improving": bool(budget.get("still_improving"))}
    return runs


def compare(baseline: dict, candidate: dict, tolerance: float) -> dict:
    """Per-row figures and the verdict over the runs both hold."""
    shared = sorted(set(baseline) & set(candidate))
    if not shared:
        raise SystemExit("the two folders share no trained run")
    rows: dict[tuple[str, str], list] = {}
    for key in shared:
        rows.setdefault(key[:2], []).append(key)
    table = []
    for (dataset, variant), keys in rows.items():
        row = {"dataset": dataset, "variant": variant, "seeds": len(keys)}
        for name, runs in (("baseline", baseline), ("candidate", candidate)):
            row[f"{name}_dev"] = statistics.mean(runs[k]["dev"] for k in keys)
            row[f"{name}_epochs"] = statistics.mean(runs[k]["epochs"] for k in keys)
            row[f"{name}_improving"] = sum(runs[k]["improving"] for k in keys)
        table.append(row)
    base_dev = statistics.mean(baseline[k]["dev"] for k in shared)
    cand_dev = statistics.mean(candidate[k]["dev"] for k in shared)
    improving = sum(candidate[k]["improving"] for k in shared)
    return {"rows": table, "runs": len(shared), "baseline_dev": base_dev, "candidate_dev": cand_dev,
            "candidate_improving": improving, "baseline_improving": sum(baseline[k]["improving"] for k in shared),
            "adopt": improving == 0 and cand_dev >= base_dev - tolerance}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.25, help="dev BLEU-4 the candidate may lose on average")
    args = parser.parse_args()
    result = compare(read_runs(args.baseline), read_runs(args.candidate), args.tolerance)
    print("| dataset | variant | seeds | dev BLEU-4 baseline | candidate | epochs run baseline | candidate "
          "| still improving at cap baseline | candidate |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in result["rows"]:
        print(f"| {r['dataset']} | {r['variant']} | {r['seeds']} | {r['baseline_dev']:.2f} | {r['candidate_dev']:.2f} | "
              f"{r['baseline_epochs']:.1f} | {r['candidate_epochs']:.1f} | {r['baseline_improving']} | "
              f"{r['candidate_improving']} |")
    print(f"\n{result['runs']} runs: mean dev BLEU-4 {result['baseline_dev']:.2f} (baseline) vs "
          f"{result['candidate_dev']:.2f} (candidate); still improving at the cap {result['baseline_improving']} vs "
          f"{result['candidate_improving']}")
    print(f"rule (no candidate run still improving at its cap, mean dev BLEU-4 >= baseline - {args.tolerance:g}): "
          + ("the candidate replaces the baseline" if result["adopt"] else "the baseline stays"))


if __name__ == "__main__":
    main()
