"""The input-reliance table: does each trained variant read its video and its question?

Every stage-2 run decodes dev and test a second time with each example's video (the sign stream:
frames, or glosses for the text reference systems) taken from another example of the same split,
and once more with the question taken likewise (``qbslt.ssl_ssaw.run``; metrics keys
``<split>.shuffled_video.bleu4`` and ``<split>.shuffled_question.bleu4``). This table puts BLEU-4,
the shuffled BLEU-4 and their difference Δ side by side, mean ± std over seeds. A Δ near 0 means
the model ignores that input, whatever its score.

A second table shows each row's training budget (``budget`` of the metrics, train.stage2.patience):
per seed the dev-best epoch / the epochs run, whether the run stopped early or at the cap, and how
many runs were still improving when they hit the cap (a cap too small for that row).

    results/<profile>/tables/reliance.md   both tables, all datasets and variants
    results/<profile>/tables/reliance.csv  one row per (dataset, variant): means, stds, seeds, budget
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from qbslt.atomic import atomic_write_text
from qbslt.reports.rendering import markdown_table

SPLITS = ("dev", "test")
INPUTS = ("video", "question")


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def reliance_frame(metrics: dict[tuple[str, str], dict[int, dict]]) -> pd.DataFrame:
    """One row per (dataset, variant) whose runs recorded the check (reference systems have none):
    ``<split>_bleu4``, ``<split>_shuffled_<input>_bleu4`` and ``<split>_delta_<input>`` (BLEU-4 minus
    the shuffled BLEU-4, per seed), each as ``_mean`` and ``_std`` over seeds; NaN where the variant
    does not read that input."""
    rows = []
    for (dataset, variant), runs in metrics.items():
        seeds = sorted(runs)
        if not any(f"shuffled_{i}" in runs[s].get(split, {}) for s in seeds for split in SPLITS for i in INPUTS):
            continue
        row = {"dataset": dataset, "variant": variant, "seeds": " ".join(map(str, seeds))}
        for split in SPLITS:
            scores = [float(runs[s][split]["bleu4"]) for s in seeds]
            row[f"{split}_bleu4_mean"], row[f"{split}_bleu4_std"] = _mean_std(scores)
            for which in INPUTS:
                key = f"shuffled_{which}"
                if not all(key in runs[s][split] for s in seeds):
                    continue
                shuffled = [float(runs[s][split][key]["bleu4"]) for s in seeds]
                deltas = [a - b for a, b in zip(scores, shuffled)]
                row[f"{split}_{key}_bleu4_mean"], row[f"{split}_{key}_bleu4_std"] = _mean_std(shuffled)
                row[f"{split}_delta_{which}_mean"], row[f"{split}_delta_{which}_std"] = _mean_std(deltas)
        row.update(_budget(runs, seeds))
        rows.append(row)
    stems = [f"{split}_{name}" for split in SPLITS
             for name in ("bleu4", *(n for i in INPUTS for n in (f"shuffled_{i}_bleu4", f"delta_{i}")))]
    columns = (["dataset", "variant", "seeds"] + [f"{stem}_{stat}" for stem in stems for stat in ("mean", "std")]
               + list(BUDGET_COLUMNS))
    frame = pd.DataFrame(rows, columns=columns)
    return frame


BUDGET_COLUMNS = ("cap", "patience", "best_epochs", "epochs_run", "stopped_early", "still_improving")


def _budget(runs: dict[int, dict], seeds: list[int]) -> dict:
    """The budget columns of one row: per-seed best epochs and epochs run (space-separated, seed
    order), how many seeds stopped early, how many were still improving at the cap."""
    budgets = [runs[s].get("budget") for s in seeds]
    if not all(budgets):  # a run without the record (older metrics): nothing to show
        return {}
    caps = sorted({b["cap"] for b in budgets})
    patience = sorted({str(b["patience"]) for b in budgets})
    return {"cap": " ".join(map(str, caps)), "patience": " ".join(patience),
            "best_epochs": " ".join(str(b["best_epoch"]) for b in budgets),
            "epochs_run": " ".join(str(b["epochs_run"]) for b in budgets),
            "stopped_early": sum(b["stopped"] == "early" for b in budgets),
            "still_improving": sum(bool(b["still_improving"]) for b in budgets)}


def _budget_lines(frame: pd.DataFrame) -> list[tuple[str, list[str]]]:
    lines = []
    for _, row in frame.iterrows():
        if pd.isna(row.get("cap")):
            continue
        n = len(str(row["seeds"]).split())
        lines.append(("row", [row["dataset"], row["variant"], str(row["seeds"]), str(row["cap"]), str(row["patience"]),
                              str(row["best_epochs"]), str(row["epochs_run"]), f"{int(row['stopped_early'])} / {n}",
                              f"{int(row['still_improving'])} / {n}"]))
    return lines


def _cell(row: pd.Series, stem: str) -> str:
    mean, std = row.get(f"{stem}_mean"), row.get(f"{stem}_std")
    if mean is None or pd.isna(mean):
        return "–"
    return f"{mean:.2f} ± {std:.2f}"


def render_reliance(metrics: dict[tuple[str, str], dict[int, dict]], out_dir: Path) -> list[Path]:
    """Write ``reliance.md`` and ``reliance.csv`` under ``out_dir``; returns the paths."""
    frame = reliance_frame(metrics)
    header = ["Dataset", "Variant"]
    for split in SPLITS:
        header += [f"{split} B4", f"{split} B4, video shuffled", f"{split} Δ video",
                   f"{split} B4, question shuffled", f"{split} Δ question"]
    lines = []
    for _, row in frame.iterrows():
        cells = [row["dataset"], row["variant"]]
        for split in SPLITS:
            cells += [_cell(row, f"{split}_bleu4"),
                      _cell(row, f"{split}_shuffled_video_bleu4"), _cell(row, f"{split}_delta_video"),
                      _cell(row, f"{split}_shuffled_question_bleu4"), _cell(row, f"{split}_delta_question")]
        lines.append(("row", cells))
    caption = ("Input reliance: BLEU-4 with each example's video (for the text reference systems: its glosses) or "
               "question taken from another example of the same split (a fixed derangement per seed), and Δ = "
               "BLEU-4 − shuffled BLEU-4, mean ± std over seeds. A Δ near 0 means the model ignores that input; "
               "– : the variant does not read it.")
    out_dir = Path(out_dir)
    md, csv = out_dir / "reliance.md", out_dir / "reliance.csv"
    text = markdown_table(caption, header, lines, numeric=len(header) - 2)
    budget = _budget_lines(frame)
    # train.stage2.min_delta, where a run set it: what counts as an improvement (absent: any gain)
    deltas = sorted({b["min_delta"] for runs in metrics.values() for run in runs.values()
                     if (b := run.get("budget")) and b.get("min_delta")})
    budget_notes = (f" An evaluation improves only when it beats the last improving one by more than "
                    f"train.stage2.min_delta = {' / '.join(f'{d:g}' for d in deltas)} dev BLEU-4 points, for "
                    f"stopping and for \"still improving\" alike." if deltas else "")
    # train.stage2.extra_epochs / min_lr_ratio, where a run set them: the cap is then a safety net
    floors = sorted({(b["cap"] - b["extra_epochs"], b["extra_epochs"], b.get("min_lr_ratio", 0.0))
                     for runs in metrics.values() for run in runs.values()
                     if (b := run.get("budget")) and b.get("extra_epochs")})
    if floors:
        budget_notes += (" The learning rate decays (cosine) over train.stage2.epochs = "
                        f"{' / '.join(str(d) for d, _, _ in floors)} to lr × train.stage2.min_lr_ratio = "
                        f"{' / '.join(f'{r:g}' for _, _, r in floors)} and stays there for at most "
                        f"train.stage2.extra_epochs = {' / '.join(str(e) for _, e, _ in floors)} more, run only "
                        "while dev improves: the cap is their sum, a safety net.")
    if budget:
        text += "\n" + markdown_table(
            "Training budget: dev BLEU-4 (greedy) is evaluated every train.stage2.eval_every epochs; a run stops "
            "when it has not improved for `patience` evaluations (not before train.stage2.min_epochs), at the "
            "latest at the cap, and keeps its dev-best weights. Per seed (in the order of the seeds column): the "
            "dev-best epoch and the epochs run. \"Still improving\": runs that reached the cap with their best "
            "among the last `patience` evaluations; the cap may have limited them, though with a cosine schedule "
            "that ends at the cap a best near the cap is partly the schedule's doing (docs/model-choices.md, "
            "\"Training budget\")." + budget_notes,
            ["Dataset", "Variant", "Seeds", "Cap", "Patience", "Best epoch", "Epochs run", "Stopped early",
             "Still improving at cap"], budget, numeric=0)
    atomic_write_text(md, text)
    atomic_write_text(csv, frame.to_csv(index=False))
    return [md, csv]
