"""Two figures a reader would rather look at than a CSV (the report's "Figures", ``dvc plots``).

* ``dev_curves.png`` -- stage 2's dev BLEU-4 (the greedy pass that picks each run's weights) per
  epoch, one panel per dataset, one line per variant: the mean over the seeds that evaluated that
  epoch, with a band of ± one standard deviation where two or more did. Runs stopped early end
  early; a dot marks each variant's best mean. From ``plots/training_curves.csv``.
* ``paper_vs_ours.png`` -- per table with the paper's numbers, one row per variant: our test
  BLEU-4 (mean, ± std over seeds) beside the paper's, so the order of the rows can be compared at a
  glance. From the tables' CSVs (``tables/table<n>.csv``).

Both are static PNGs drawn with matplotlib (no CDN, unlike ``dvc plots show``'s Vega pages).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qbslt.atomic import atomic_paths
from qbslt.errors import QbsltError
from qbslt.profiles import Profile

SCORE_COLUMNS = {"table", "dataset", "label", "bleu4_mean", "bleu4_std", "bleu4_paper"}  # tables.table_frame
DEV_QUANTITY = "dev_bleu4"  # training_curves.csv's name of the dev score (dvc_outputs.HISTORY_NAMES)


def _save_png(fig, path: Path) -> None:
    """Atomically; no "Software" stamp, so the bytes depend on the data and matplotlib only."""
    with atomic_paths(path) as (tmp,):
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def dev_curve_frame(curves: pd.DataFrame) -> pd.DataFrame:
    """``dataset, variant, epoch, mean, std, n`` of the dev BLEU-4 points of a training-curves frame."""
    dev = curves[curves["quantity"] == DEV_QUANTITY]
    grouped = dev.groupby(["dataset", "variant", "epoch"])["value"]
    frame = grouped.agg(mean="mean", std="std", n="count").reset_index()
    frame["std"] = frame["std"].fillna(0.0)
    return frame


def render_dev_curves(curves_csv: Path, out_png: Path) -> Path:
    """Draw ``dev_curves.png`` from ``training_curves.csv``; a run without dev evaluations (the
    last epoch chosen without a pass) has no points, and a file without any says so in the plot."""
    curves_csv = Path(curves_csv)
    try:
        curves = pd.read_csv(curves_csv)
    except (OSError, pd.errors.ParserError) as exc:
        raise QbsltError(f"{curves_csv}: cannot read the training curves ({exc})") from None
    frame = dev_curve_frame(curves) if len(curves) else pd.DataFrame(columns=["dataset", "variant", "epoch"])
    plt = _pyplot()
    datasets = sorted(frame["dataset"].unique()) or ["(none)"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        part = frame[frame["dataset"] == dataset]
        colours = plt.get_cmap("tab20")
        for k, (variant, rows) in enumerate(sorted(part.groupby("variant"), key=lambda item: item[0])):
            rows = rows.sort_values("epoch")
            colour = colours(k % 20)
            ax.plot(rows["epoch"], rows["mean"], color=colour, label=variant, linewidth=1.4)
            spread = rows["n"] > 1
            ax.fill_between(rows["epoch"][spread], (rows["mean"] - rows["std"])[spread],
                            (rows["mean"] + rows["std"])[spread], color=colour, alpha=0.15, linewidth=0)
            best = rows.loc[rows["mean"].idxmax()]
            ax.plot([best["epoch"]], [best["mean"]], "o", color=colour, markersize=4)
        ax.set_title(f"{dataset}: dev BLEU-4 (greedy) per epoch, mean ± std over seeds")
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev BLEU-4")
        ax.grid(alpha=0.3)
        if part.empty:
            ax.text(0.5, 0.5, "no dev evaluations during training", ha="center", va="center",
                    transform=ax.transAxes)
        else:
            ax.legend(fontsize=7, ncol=2, loc="lower right")
    _save_png(fig, Path(out_png))
    plt.close(fig)
    return Path(out_png)


def paper_comparison_frame(table_csvs: list[Path]) -> pd.DataFrame:
    """``table, dataset, label, ours, ours_std, paper`` (test BLEU-4) of every measured row of the
    tables that has the paper's number. A table without scores (Table 8's example translations) has
    no rows here."""
    rows = []
    for path in table_csvs:
        path = Path(path)
        try:
            frame = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise QbsltError(f"{path}: cannot read the table ({exc})") from None
        if not SCORE_COLUMNS <= set(frame.columns):
            continue
        frame = frame.dropna(subset=["bleu4_mean", "bleu4_paper"])
        for _, r in frame.iterrows():
            rows.append({"table": int(r["table"]), "dataset": r["dataset"], "label": r["label"],
                         "ours": float(r["bleu4_mean"]), "ours_std": float(r["bleu4_std"] or 0.0),
                         "paper": float(r["bleu4_paper"])})
    return pd.DataFrame(rows, columns=["table", "dataset", "label", "ours", "ours_std", "paper"])


def render_paper_vs_ours(table_csvs: list[Path], out_png: Path, profile: str) -> Path:
    """Draw ``paper_vs_ours.png``: one panel per (table, dataset) with the paper's numbers."""
    frame = paper_comparison_frame(table_csvs)
    plt = _pyplot()
    panels = list(frame.groupby(["table", "dataset"], sort=True)) or [((0, "(none)"), frame)]
    heights = [max(len(rows), 1) * 0.32 + 1.0 for _, rows in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, ((number, dataset), rows) in zip(axes[:, 0], panels):
        y = np.arange(len(rows))[::-1]
        ax.errorbar(rows["ours"], y, xerr=rows["ours_std"], fmt="o", color="tab:blue", capsize=2,
                    label=f"ours ({profile}), mean ± std over seeds")
        ax.plot(rows["paper"], y, "D", markerfacecolor="none", color="tab:red", label="paper (as reported)")
        ax.set_yticks(y, rows["label"], fontsize=7)
        ax.set_title(f"Table {number} ({dataset}): test BLEU-4" if number else "no table with the paper's numbers",
                     fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        if len(rows):
            ax.legend(fontsize=7, loc="lower right")
    axes[-1, 0].set_xlabel("test BLEU-4")
    fig.suptitle("Ours beside the paper: only the order of rows is comparable on synthetic or rendered data"
                 if not Profile.named(profile).paper_data else "Ours beside the paper", fontsize=9)
    _save_png(fig, Path(out_png))
    plt.close(fig)
    return Path(out_png)
