"""Table 10: SL-SLR top-1 / top-5 accuracy (%) of each method under each protocol, mean ± std over seeds.

Rows: (dataset, method); columns: per protocol (``linear``, ``semi_<p>``, ``transfer``) top-1 and top-5.
Std with ddof=1 (± 0.00 for one seed), as Tables 1-8. Two diagnostics per (dataset, method), mean ±
std over the seeds, close each row (and are columns of every row of the CSV): the effective rank of the
test clips' vectors (of ``dim``) and the top-1 of a linear probe that predicts the signer
(:mod:`qbslt.slslr.protocols`). Read from the per-seed run files of :mod:`qbslt.slslr.run`; a file that is
missing or malformed fails naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import DATASETS
from qbslt.errors import ResultError
from qbslt.profiles import Profile
from qbslt.reports.rendering import latex_table, markdown_table

METRICS = ("top1", "top5")
OBJECTIVES = {"free_negative": "free-negative", "infonce": "InfoNCE (negatives)", "none": "no pre-training"}


DIAGNOSTICS = ("effective_rank", "signer_top1", "signer_chance")


def read_runs(paths: list[Path]) -> tuple[pd.DataFrame, dict, dict, pd.DataFrame]:
    """(one row per dataset, method, protocol, seed; the methods; clip counts of the first run; one
    diagnostics row per dataset, method, seed)."""
    frames, methods, clips, diagnostics = [], {}, {}, []
    for path in paths:
        try:
            run = json.loads(Path(path).read_text(encoding="utf-8"))
            frame = pd.DataFrame(run["rows"]).assign(seed=int(run["seed"]))
            diagnostics.append(pd.DataFrame(run["diagnostics"], columns=["dataset", "method", "dim", *DIAGNOSTICS])
                               .assign(seed=int(run["seed"])))
            methods.update(run["methods"])
            clips = clips or run["clips"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ResultError(f"{path}: not an SL-SLR run file: {exc}") from None
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), methods, clips, pd.concat(diagnostics, ignore_index=True)


def _std(values) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def aggregate_diagnostics(diagnostics: pd.DataFrame) -> pd.DataFrame:
    """dataset, method, dim, <diagnostic>_mean, <diagnostic>_std over the seeds."""
    records = []
    for (dataset, method), group in diagnostics.groupby(["dataset", "method"], sort=False):
        rec = {"dataset": dataset, "method": method, "dim": int(group["dim"].iloc[0])}
        for d in DIAGNOSTICS:
            rec[f"{d}_mean"], rec[f"{d}_std"] = round(float(group[d].mean()), 2), round(_std(group[d]), 2)
        records.append(rec)
    columns = ["dataset", "method", "dim"] + [f"{d}_{s}" for d in DIAGNOSTICS for s in ("mean", "std")]
    return pd.DataFrame(records, columns=columns)


def protocol_order(protocols) -> list[str]:
    semi = sorted((p for p in protocols if p.startswith("semi_")), key=lambda p: float(p[5:]))
    return [p for p in ["linear", *semi, "transfer"] if p in set(protocols)]


def protocol_title(protocol: str) -> str:
    if protocol.startswith("semi_"):
        return f"semi {protocol[5:]} %"
    return {"linear": "linear", "transfer": "transfer"}[protocol]


def method_label(name: str, spec: dict) -> str:
    if spec["objective"] == "none":
        return f"{name} (no pre-training)"
    weighted = "weighted" if spec["weighting"] else "unweighted"
    return f"{name} ({OBJECTIVES[spec['objective']]}, {spec['augment']} aug., {weighted})"


def aggregate(runs: pd.DataFrame, methods: dict) -> tuple[pd.DataFrame, list[str]]:
    """Tidy table: dataset, method, label, protocol, source, n, top1_mean, top1_std, top5_mean, top5_std."""
    grouped = runs.groupby(["dataset", "method", "protocol", "source"], sort=False)
    out = grouped[list(METRICS)].agg(["mean", lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "size"])
    records = []
    for (dataset, method, protocol, source), row in out.iterrows():
        rec = {"dataset": dataset, "method": method, "label": method_label(method, methods[method]),
               "protocol": protocol, "source": source, "n": int(row[(METRICS[0], "size")])}
        for m in METRICS:
            rec[f"{m}_mean"], rec[f"{m}_std"] = round(float(row[(m, "mean")]), 2), round(float(row[(m, "<lambda_0>")]), 2)
        records.append(rec)
    frame = pd.DataFrame(records)
    # Rows in the runs' dataset order, then params.yaml's method order.
    datasets = list(dict.fromkeys(runs["dataset"]))
    frame = frame.sort_values(["dataset", "method"], key=lambda c: c.map(
        {v: i for i, v in enumerate(datasets if c.name == "dataset" else list(methods))}), kind="stable")
    return frame.reset_index(drop=True), protocol_order(runs["protocol"].unique())


def with_diagnostics(frame: pd.DataFrame, diagnostics: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the (dataset, method) diagnostics as columns of each of its rows."""
    return frame.merge(aggregate_diagnostics(diagnostics), on=["dataset", "method"], how="left")


def _cell(frame: pd.DataFrame, dataset: str, method: str, protocol: str, metric: str) -> str:
    hit = frame[(frame["dataset"] == dataset) & (frame["method"] == method) & (frame["protocol"] == protocol)]
    if hit.empty:
        return "–"
    r = hit.iloc[0]
    return f"{r[f'{metric}_mean']:.2f} ± {r[f'{metric}_std']:.2f}"


def dataset_title(dataset: str) -> str:
    """A translation dataset's title; an isolated-sign dataset (slslr.isolated_dataset) is shown by its name."""
    return DATASETS[dataset].title if dataset in DATASETS else dataset


def _diagnostic_cells(frame: pd.DataFrame, dataset: str, method: str) -> list[str]:
    hit = frame[(frame["dataset"] == dataset) & (frame["method"] == method)]
    if hit.empty or pd.isna(hit.iloc[0].get("effective_rank_mean")):
        return ["–", "–"]
    r = hit.iloc[0]
    return [f"{r['effective_rank_mean']:.1f} ± {r['effective_rank_std']:.1f} / {int(r['dim'])}",
            f"{r['signer_top1_mean']:.1f} ± {r['signer_top1_std']:.1f} ({r['signer_chance_mean']:.0f})"]


def caption(frame: pd.DataFrame, clips: dict, profile: str) -> str:
    seeds = int(frame["n"].max()) if len(frame) else 0
    counts = "; ".join(f"{dataset_title(d)}: {c['train']} train / {c['test']} test clips, {c['classes']} glosses"
                       for d, c in clips.items())
    data = (f"{Profile.named(profile).clip_videos} (clips cut at the renderer's gloss boundaries, split by signer)"
            if all(d in DATASETS for d in clips) else "an isolated-sign dataset (one clip per video, split by signer)")
    return (f"Table 10: SL-SLR isolated sign recognition, top-1 / top-5 accuracy (%) on the held-out signers' "
            f"clips, mean ± std over {seeds} seed(s) (std ddof=1, ± 0.00 for one seed), {data}. {counts}. "
            "linear: frozen encoder + linear probe; semi p %: encoder fine-tuned with p % of the training labels "
            "(per class); transfer: encoder pre-trained on the other dataset, linear probe here. Every method, the "
            "random encoder included, is evaluated alike: BatchNorm statistics re-estimated on the clean training "
            "clips, clip vectors pooled as the method pre-trained them. Diagnostics of the linear-evaluation "
            "vectors: effective rank of the test clips' vectors (of the dimension after the slash) and signer "
            "top-1, a linear probe predicting the signer of held-out training clips (chance, the largest signer's "
            "share, in parentheses; high means the vectors tell who signs).")


def render(frame: pd.DataFrame, protocols: list[str], clips: dict, profile: str) -> tuple[str, str, str]:
    """(markdown, csv, LaTeX) of Table 10."""
    header = ["Dataset", "Method"] + [f"{protocol_title(p)} {m.replace('top', 'top-')}" for p in protocols
                                      for m in METRICS] + ["effective rank", "signer top-1"]
    lines = []
    for (dataset, method), rows in frame.groupby(["dataset", "method"], sort=False):
        cells = [_cell(frame, dataset, method, p, m) for p in protocols for m in METRICS]
        lines.append([dataset_title(dataset), rows.iloc[0]["label"]] + cells + _diagnostic_cells(frame, dataset, method))
    cap, rows = caption(frame, clips, profile), [("row", line) for line in lines]
    md = markdown_table(cap, header, rows, len(header) - 2)
    tex = latex_table(cap, 10, header, rows, len(header) - 2, __name__)
    return md, frame.to_csv(index=False), tex


def write_table10(run_files: list[Path], out_dir: Path, profile: str = "embedded") -> list[Path]:
    runs, methods, clips, diagnostics = read_runs(run_files)
    frame, protocols = aggregate(runs, methods)
    frame = with_diagnostics(frame, diagnostics)
    paths = []
    for suffix, text in zip(("md", "csv", "tex"), render(frame, protocols, clips, profile)):
        path = Path(out_dir) / f"table10.{suffix}"
        atomic_write_text(path, text)
        paths.append(path)
    return paths
