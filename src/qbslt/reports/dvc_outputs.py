"""The data files of DVC's metrics and plots, from the metrics of the runs a report reads
(:meth:`qbslt.reports.results.Results.load_metrics`):

* ``summary.json`` -- mean test BLEU-4 / ROUGE-L of every dataset and variant, in one file;
* ``scores/<dataset>/<variant>.json`` -- one small file per (dataset, variant): ``test_bleu4``,
  ``test_bleu4_std``, ``test_rouge_l``, ``test_rouge_l_std``, ``n_seeds``. ``dvc metrics show``
  prints one row per file, so one row per (dataset, variant);
* ``bleu4_by_variant.csv`` -- one line per run;
* ``training_curves.csv`` -- tidy per-epoch history of every trained run: ``dataset, variant,
  seed, epoch, quantity, value`` (quantity: the stage-2 losses ``loss``, ``l_d``, ``l_s`` and
  ``dev_bleu4``, the dev-split BLEU-4 of the epochs that were evaluated);
* ``figure4_weights.csv`` (when given the SSAW file of Figure 4) -- Figure 4's data,
  :func:`qbslt.reports.figure4.weights_frame`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from qbslt.atomic import atomic_write_json, atomic_write_text
from qbslt.reports.results import summarize


def summary(metrics: dict) -> dict:
    """``{dataset: {variant: {test_bleu4, test_rouge_l, n_seeds}}}`` (means over seeds, 2 decimals)."""
    out: dict[str, dict] = {}
    for (dataset, variant), runs in sorted(metrics.items()):
        stats = summarize(runs)
        out.setdefault(dataset, {})[variant] = {"test_bleu4": round(stats.mean["bleu4"], 2),
                                                "test_rouge_l": round(stats.mean["rouge_l"], 2),
                                                "n_seeds": stats.n}
    return out


def runs_frame(metrics: dict) -> pd.DataFrame:
    """One line per run: dataset, variant, seed, test BLEU-4 and ROUGE-L (``bleu4_by_variant.csv``)."""
    rows = [{"dataset": d, "variant": v, "seed": s, "bleu4": float(runs[s]["test"]["bleu4"]),
             "rouge_l": float(runs[s]["test"]["rouge_l"])}
            for (d, v), runs in sorted(metrics.items()) for s in sorted(runs)]
    return pd.DataFrame(rows, columns=["dataset", "variant", "seed", "bleu4", "rouge_l"])


def scores(metrics: dict) -> dict[tuple[str, str], dict]:
    """``{(dataset, variant): {test_bleu4, test_bleu4_std, test_rouge_l, test_rouge_l_std, n_seeds}}``:
    mean and std (ddof=1; 0 for one seed) over the seeds, 2 decimals -- one DVC metrics file each."""
    out = {}
    for (dataset, variant), runs in sorted(metrics.items()):
        stats = summarize(runs)
        out[(dataset, variant)] = {"test_bleu4": round(stats.mean["bleu4"], 2),
                                   "test_bleu4_std": round(stats.std["bleu4"], 2),
                                   "test_rouge_l": round(stats.mean["rouge_l"], 2),
                                   "test_rouge_l_std": round(stats.std["rouge_l"], 2),
                                   "n_seeds": stats.n}
    return out


SCORE_KEYS = ("test_bleu4", "test_bleu4_std", "test_rouge_l", "test_rouge_l_std", "n_seeds")


def _is_scores_file(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and set(data) == set(SCORE_KEYS)


def write_scores(scores_dir: Path, metrics: dict) -> list[Path]:
    """Write ``<dataset>/<variant>.json`` of :func:`scores` into ``scores_dir``, and delete the other
    scores files there (a pair no longer in the matrix must not stay a DVC metric); files that are
    not scores files are left alone."""
    scores_dir = Path(scores_dir)
    written = []
    for (dataset, variant), values in scores(metrics).items():
        path = scores_dir / dataset / f"{variant}.json"
        atomic_write_json(path, {k: values[k] for k in SCORE_KEYS})
        written.append(path)
    keep = set(written)
    for stale in sorted(scores_dir.glob("*/*.json")):
        if stale not in keep and _is_scores_file(stale):
            stale.unlink()
    for folder in scores_dir.glob("*"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return written


# Names of the history quantities in training_curves.csv (others keep their key).
HISTORY_NAMES = {"dev_score": "dev_bleu4"}
CURVE_COLUMNS = ["dataset", "variant", "seed", "epoch", "quantity", "value"]


def training_curves_frame(metrics: dict) -> pd.DataFrame:
    """The per-epoch ``history`` of every run, tidy: ``dataset, variant, seed, epoch, quantity, value``
    (runs without a history, e.g. the reference systems, have no rows)."""
    rows = []
    for (d, v), runs in sorted(metrics.items()):
        for s in sorted(runs):
            for record in runs[s].get("history") or []:
                for key, value in record.items():
                    if key == "epoch" or isinstance(value, bool) or not isinstance(value, (int, float)):
                        continue
                    rows.append({"dataset": d, "variant": v, "seed": s, "epoch": int(record["epoch"]),
                                 "quantity": HISTORY_NAMES.get(key, key), "value": float(value)})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def write_dvc_outputs(metrics: dict, out_dir: Path, summary_path: Path | None = None, runs_path: Path | None = None,
                      scores_dir: Path | None = None, curves_path: Path | None = None,
                      figure4_ssaw: Path | None = None, figure4_data: Path | None = None) -> list[Path]:
    """Write every file above (defaults under ``out_dir``; ``figure4_weights.csv`` only with
    ``figure4_ssaw``); returns the paths written."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    summary_path = Path(summary_path) if summary_path else out_dir / "summary.json"
    atomic_write_json(summary_path, summary(metrics))
    runs_path = Path(runs_path) if runs_path else out_dir / "bleu4_by_variant.csv"
    atomic_write_text(runs_path, runs_frame(metrics).to_csv(index=False))
    written += [summary_path, runs_path]
    written += write_scores(Path(scores_dir) if scores_dir else out_dir / "scores", metrics)
    curves_path = Path(curves_path) if curves_path else out_dir / "training_curves.csv"
    atomic_write_text(curves_path, training_curves_frame(metrics).to_csv(index=False))
    written.append(curves_path)
    if figure4_ssaw is not None:
        from qbslt.reports.figure4 import weights_frame  # matplotlib only when asked

        figure4_data = Path(figure4_data) if figure4_data else out_dir / "figure4_weights.csv"
        atomic_write_text(figure4_data, weights_frame(Path(figure4_ssaw)).to_csv(index=False))
        written.append(figure4_data)
    return written
