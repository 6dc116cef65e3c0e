"""The plan as markdown: jobs per rule, disk (GB) and GPU-hours, one column per target; then the notes."""

from __future__ import annotations

import re
from pathlib import Path

from qbslt.plan.estimate import TargetPlan, gpu_hours
from qbslt.plan.figures import BACKBONE_FLOPS_BENCHMARK, FLOPS_BENCHMARK, FRAME_STORE_BENCHMARK


def _gb(value: float | str | None, estimate: bool) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    text = f"{value / 1e9:,.1f}" if value >= 1e8 else f"{value / 1e9:.2f}"
    return f"~{text}" if estimate else text


def _hours(flops: float | None, gpu_tflops: float, mfu: float) -> str:
    if flops is None:
        return "n/a"
    h = gpu_hours(flops, gpu_tflops, mfu)
    return "0" if h == 0 else f"~{h:,.0f}" if h >= 10 else f"~{h:,.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render(plans: list[TargetPlan], profile: str, params: Path, gpu_tflops: float, mfu: float) -> str:
    """Markdown: jobs per rule, disk (GB) and GPU-hours, one column per target; then the notes."""
    targets = [p.target for p in plans]
    out = [f"Plan for profile `{profile}` ({params}); `~` marks an estimate. Jobs: `snakemake -n --forceall "
           f"TARGET --config profile={profile}` from scratch.", "", "Jobs per rule:", ""]
    def row_of(rule: str) -> str:  # the per-table rules share one row
        return "tableN" if re.fullmatch(r"table\d+", rule) else rule

    rules = list(dict.fromkeys(row_of(r) for p in plans for r in p.counts))
    rows = [[f"`{r}`"] + [str(sum(n for rule, n in p.counts.items() if row_of(rule) == r)) for p in plans]
            for r in rules]
    rows.append(["**total**"] + [f"**{sum(p.counts.values())}**" for p in plans])
    out += _table(["rule"] + [f"`{t}`" for t in targets], rows)

    out += ["", "Disk, GB (10^9 bytes):", ""]
    labels = list(dict.fromkeys(k for p in plans for k in p.disk))
    rows = []
    for label in labels:
        estimate = label.startswith("~ ")
        rows.append([label.removeprefix("~ ")] + [_gb(p.disk.get(label, 0.0), estimate) if label in p.disk
                                                 else "0" for p in plans])
    totals = []
    for p in plans:
        values = [v for v in p.disk.values() if not isinstance(v, str)]
        totals.append("n/a" if None in values else _gb(sum(values), True))
    rows.append(["**total** (peak)"] + [f"**{t}**" for t in totals])
    out += _table(["item"] + [f"`{t}`" for t in targets], rows)

    out += ["", f"GPU-hours (estimate: FLOPs / ({gpu_tflops:g} TFLOP/s x MFU {mfu:g})):", ""]
    rows = [["stage-1 runs (`pretrain`)"] + [str(p.runs["stage 1"]) for p in plans],
            ["stage-1 GPU-hours"] + [_hours(p.flops["stage 1"], gpu_tflops, mfu) for p in plans],
            ["stage-2 runs (`train`, with dev/test evaluation)"] + [str(p.runs["stage 2"]) for p in plans],
            ["stage-2 GPU-hours"] + [_hours(p.flops["stage 2"], gpu_tflops, mfu) for p in plans]]
    total = []
    for p in plans:
        values = list(p.flops.values())
        total.append(f"**{_hours(None if None in values else sum(values), gpu_tflops, mfu)}**")
    rows.append(["**GPU-hours**"] + total)
    if any(p.cached for p in plans):  # the cached-feature recipe beside the paper's
        def recipe(p: TargetPlan) -> float | None:
            values = [p.flops["stage 1"], p.cached.get("feature caching"), p.cached.get("stage 2", p.flops["stage 2"])]
            return None if None in values else sum(values)

        rows += [["caching the stage-1 backbones' features, once per split (cached-feature recipe)"]
                 + [_hours(p.cached.get("feature caching", 0.0), gpu_tflops, mfu) for p in plans],
                 ["stage-2 GPU-hours on the cached features (cached-feature recipe)"]
                 + [_hours(p.cached.get("stage 2", p.flops["stage 2"]), gpu_tflops, mfu) for p in plans],
                 ["**GPU-hours, cached-feature recipe**"] + [f"**{_hours(recipe(p), gpu_tflops, mfu)}**" for p in plans]]
    out += _table(["", *[f"`{t}`" for t in targets]], rows)

    notes = list(dict.fromkeys(n for p in plans for n in p.notes))
    out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    out.append(f"- FLOPs per frame and per video of one training step: {FLOPS_BENCHMARK} (paper profile's model, "
               f"see qbslt/reports/plan_figures.yaml); a forward pass counts as a third of a training step, beam search beyond "
               f"that is not counted; GPU-hours add up over GPUs (train.gpus does not change them).")
    out.append(f"- JPEG frame store: bytes per frame measured by {FRAME_STORE_BENCHMARK} on a real photograph; "
               f"PHOENIX and CSL frames may compress differently.")
    if any(p.cached for p in plans):
        out.append(f"- Cached-feature recipe (train.stage2.freeze_backbone: true; a deviation from the paper): stage 1 "
                   f"as the paper's; its backbone's features of every frame cached once per split (centre crop, rule "
                   f"stage1_features); stage 2 on them, the backbone frozen at its stage-1 weights (no frame "
                   f"augmentation in stage 2). Backbone FLOPs per frame: {BACKBONE_FLOPS_BENCHMARK}.")
    return "\n".join(out) + "\n"
