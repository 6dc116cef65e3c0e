"""Tables 1-8 of the paper from the result contract (``results/metrics``, ``results/predictions``).

:func:`render_all` writes, for N = 1..8, ``table<N>.md``, ``table<N>.csv``, ``table<N>.tex`` and
``table<N>.html`` (the page the Snakemake report shows inline; Table 8's with its marked
translations), and the data files of DVC's metrics and plots
(:mod:`qbslt.reports.dvc_outputs`).

Which runs: exactly those of the :class:`qbslt.reports.results.Results` given -- the experiment
matrix the Snakemake rule passes (datasets × variants × seeds, plus the reference systems at
seed 0). A leftover result file of a seed or variant that params.yaml no longer lists is not
read. Given only a folder, every run found there is read (ad hoc).

What is in a table (which variant fills which row, which paper row it is compared with, which
row the others are tested against) is data: ``layout.yaml`` beside this file, read by
:mod:`qbslt.reports.layout`. The paper's
numbers come from ``paper_results.yaml``; they are only ever shown next to ours, never used.

Cells
  Measured rows: mean ± std of the *test* scores over the seeds of the matrix (std with
  ddof=1; ``± 0.00`` for a single seed; the number of seeds is in column ``n`` and the caption).
  A row without any metrics file is "not run" -- nothing is filled in for it.
  Under each measured row the paper reports, a line "↳ paper (Δ)" gives the paper's value and
  ours − paper (csv: ``<metric>_paper``, ``<metric>_delta``).
  Tables 1/2 also list the paper's other methods as "reported (not run)" rows in the paper's
  groups, and the reference systems (``copy_question``, ``retrieve``; not trained) at the end.
Significance
  Every row of a table with a ``reference`` variant is compared with it by paired bootstrap
  resampling of corpus BLEU-4 (:func:`qbslt.eval.metrics.paired_bootstrap`) on the test
  predictions of the first seed of the matrix both have (seed 0 when both have it). ``†``
  after the BLEU-4 cell: p < 0.05, i.e. BLEU-4 differs from the reference row's (direction:
  the sign of ``bootstrap_bleu4_delta`` = row − reference). The p-value is in the csv; the
  reference row gets no marker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from qbslt.profiles import Profile
from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import DATASETS, DatasetSpec
from qbslt.reports.dvc_outputs import write_dvc_outputs
from qbslt.reports.example_translations import render_table8
from qbslt.reports.layout import DEFAULT_LAYOUT, DEFAULT_PAPER, load_yaml
from qbslt.reports.rendering import html_table, latex_table, markdown_table, markdown_to_html
from qbslt.reports.results import METRICS, Results, Stats, summarize

HEADERS = {"bleu1": "B1", "bleu2": "B2", "bleu3": "B3", "bleu4": "B4", "rouge_l": "ROUGE"}
DEV_HEADER = "dev B4"
NUMERIC_COLUMNS = len(METRICS) + 1  # the test metrics, then dev BLEU-4
ALPHA = 0.05
MARKER = "†"
NOT_RUN = "not run"
REPORTED = "reported (not run)"
MEASURED = "measured"
PAPER_LINE = "↳ paper (Δ)"
REFERENCE_GROUP = "Reference systems (not trained)"


# ---------------------------------------------------------------------------------------------
# Table model


@dataclass
class Row:
    kind: str  # "group" | "row"
    label: str
    variant: str = ""
    group: str = ""
    cells: list[str] = field(default_factory=list)
    status: str = ""  # MEASURED | NOT_RUN | REPORTED
    stats: Stats | None = None
    paper: dict[str, float] | None = None
    paper_row: str = ""
    is_reference: bool = False
    test: dict | None = None  # paired bootstrap against the table's reference row


@dataclass
class Table:
    number: int
    dataset: str
    title: str
    columns: list[str]
    rows: list[Row]
    caption: str = ""
    reference_variant: str | None = None
    reference_label: str = ""


def _paper_values(paper: dict, table_key: str | None, *path: str) -> dict[str, float] | None:
    node = paper.get(table_key) if table_key else None
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    if not isinstance(node, list) or len(node) != len(METRICS):
        return None
    return dict(zip(METRICS, (float(x) for x in node)))


def _measured_row(label: str, variant: str, metrics: dict, dataset: str, **kw) -> Row:
    stats = summarize(metrics.get((dataset, variant)))
    return Row("row", label, variant=variant, stats=stats, status=MEASURED if stats else NOT_RUN, **kw)


def build_comparison_table(number: int, spec: dict, metrics: dict, paper: dict) -> Table:
    """Tables 1/2: the paper's groups with our measured rows in place of their paper rows."""
    dataset, key = spec["dataset"], spec.get("paper")
    measured = {(m["paper_group"], m["paper_row"]): m for m in spec.get("measured", [])}
    used: set[tuple[str, str]] = set()
    rows: list[Row] = []
    groups = paper.get(key, {}) if key else {}
    for group, methods in groups.items():
        rows.append(Row("group", group, group=group))
        for method in methods:
            m = measured.get((group, method))
            if m is not None:
                used.add((group, method))
                rows.append(_measured_row(m["label"], m["variant"], metrics, dataset, group=group,
                                          paper=_paper_values(paper, key, group, method), paper_row=method))
            else:
                rows.append(Row("row", method, group=group, status=REPORTED,
                                paper=_paper_values(paper, key, group, method), paper_row=method))
    leftover = [m for k, m in measured.items() if k not in used]
    if leftover:
        rows.append(Row("group", "Measured (no paper row)", group="Measured (no paper row)"))
        rows += [_measured_row(m["label"], m["variant"], metrics, dataset, group="Measured (no paper row)")
                 for m in leftover]
    rows += _reference_rows(spec, metrics, dataset)
    return Table(number, dataset, spec["title"], [], rows)


def build_ablation_table(number: int, spec: dict, metrics: dict, paper: dict) -> Table:
    """Tables 3-7: one row per layout entry."""
    dataset, key = spec["dataset"], spec.get("paper")
    columns = list(spec.get("columns", []))
    rows = []
    for r in spec["rows"]:
        if r.get("optional") and (dataset, r["variant"]) not in metrics:
            continue  # a row beyond the paper's that this experiment does not run
        cells = [str(c) for c in r.get("cells", [])]
        if len(cells) != len(columns):
            raise ValueError(f"layout table{number}: row {r['variant']} has {len(cells)} cells for columns {columns}")
        rows.append(_measured_row(r["label"], r["variant"], metrics, dataset, cells=cells,
                                  paper=_paper_values(paper, key, r["paper_row"]) if r.get("paper_row") else None,
                                  paper_row=r.get("paper_row", "")))
    rows += _reference_rows(spec, metrics, dataset, columns)
    return Table(number, dataset, spec["title"], columns, rows)


def _reference_rows(spec: dict, metrics: dict, dataset: str, columns: list[str] = ()) -> list[Row]:
    """The reference systems of a table (not trained, seed 0), in their own group at the end."""
    if not spec.get("references"):
        return []
    return [Row("group", REFERENCE_GROUP, group=REFERENCE_GROUP)] + [
        _measured_row(r["label"], r["variant"], metrics, dataset, group=REFERENCE_GROUP,
                      cells=([r["label"]] + [""] * (len(columns) - 1)) if columns else [])
        for r in spec["references"]]


# ---------------------------------------------------------------------------------------------
# Significance


class _Bootstrapper:
    """Paired bootstrap of a row against a reference variant, cached per (dataset, pair), on the
    predictions of the runs of ``results`` only."""

    def __init__(self, results: Results, levels: dict[str, str], n_samples: int, seed: int):
        self.results, self.levels, self.n_samples, self.seed = results, levels, n_samples, seed
        self.cache: dict[tuple[str, str, str], dict | None] = {}

    def __call__(self, dataset: str, variant: str, reference: str) -> dict | None:
        key = (dataset, variant, reference)
        if key not in self.cache:
            self.cache[key] = self._run(dataset, variant, reference)
        return self.cache[key]

    def _run(self, dataset: str, variant: str, reference: str) -> dict | None:
        run_seed = self.results.first_common_seed(dataset, [variant, reference])
        if run_seed is None:
            return None
        ref = self.results.read_predictions(dataset, reference, run_seed)
        row = self.results.read_predictions(dataset, variant, run_seed)
        merged = ref.merge(row[["name", "hypothesis"]], on="name", suffixes=("_ref", "_row"))
        if merged.empty:
            return None
        from qbslt.eval.metrics import paired_bootstrap  # slow to import; see alignment.select_examples

        result = paired_bootstrap(list(merged["hypothesis_ref"]), list(merged["hypothesis_row"]),
                                  list(merged["reference"]), self.levels[dataset], n_samples=self.n_samples,
                                  seed=self.seed)
        result.update(run_seed=run_seed, n_sentences=len(merged))
        return result


def add_significance(table: Table, reference: str | None, bootstrap: _Bootstrapper) -> None:
    if not reference:
        return
    table.reference_variant = reference
    for row in table.rows:
        if row.kind != "row" or not row.variant:
            continue
        if row.variant == reference:
            row.is_reference = True
            table.reference_label = table.reference_label or row.label
            continue
        if row.status == MEASURED:
            row.test = bootstrap(table.dataset, row.variant, reference)
    if not table.reference_label:
        table.reference_label = reference


# ---------------------------------------------------------------------------------------------
# Captions


def data_statement(profile: str, dataset_key: str, datasets: Mapping[str, DatasetSpec] = DATASETS) -> str:
    """The captions' sentence about the data of a table on ``dataset_key`` under ``profile``."""
    return Profile.named(profile).statement(dataset_key, datasets[dataset_key].title)


def _seeds_text(table: Table) -> str:
    measured = [r for r in table.rows if r.kind == "row" and r.status == MEASURED]
    if not measured:
        return "No row of this table has been run yet."
    counts = sorted({r.stats.n for r in measured})
    seeds = sorted({s for r in measured for s in r.stats.seeds})
    n_text = f"{counts[0]} seed{'s' if counts[0] != 1 else ''}" if len(counts) == 1 else \
        f"{counts[0]}-{counts[-1]} seeds per row (column n)"
    return (f"Measured rows: mean ± std of the test-split scores over {n_text}; seeds found: "
            f"{', '.join(map(str, seeds))}; std with ddof=1, ± 0.00 for a single seed. Rows without results are "
            f"marked \"{NOT_RUN}\".")


def _caption(table: Table, profile: str, datasets: Mapping[str, DatasetSpec], spec: dict, n_samples: int,
             seed: int) -> str:
    parts = [f"Table {table.number}: {table.title} on {datasets[table.dataset].title}.",
             data_statement(profile, table.dataset, datasets), _seeds_text(table)]
    if any(r.paper for r in table.rows if r.status != REPORTED):
        parts.append("Under each measured row the paper also reports: the paper's value and Δ = ours − paper.")
    if any(r.status == REPORTED for r in table.rows):
        parts.append(f"\"{REPORTED}\": the paper's numbers for methods this project does not train.")
    if table.reference_variant:
        seeds = sorted({r.test["run_seed"] for r in table.rows if r.test})
        seed_text = f"seed-{'/'.join(map(str, seeds))} " if seeds else ""
        parts.append(f"{MARKER}: BLEU-4 differs from the {table.reference_label} row at p < {ALPHA} (paired bootstrap "
                     f"resampling of corpus BLEU-4, sacrebleu, {n_samples} samples, bootstrap seed {seed}, on the "
                     f"{seed_text}test predictions of the first seed both rows have); p-values in "
                     f"table{table.number}.csv.")
    if spec.get("note"):
        parts.append(" ".join(str(spec["note"]).split()))
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Rendering


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _fmt_delta(x: float) -> str:
    return f"{x:+.2f}"


def _marker(row: Row, metric: str) -> str:
    if metric == "bleu4" and row.test is not None and row.test["p_value"] < ALPHA:
        return " " + MARKER
    return ""


def _dev_cell(row: Row) -> str:
    """Dev BLEU-4 beside the test scores: dev and test differ in kind on the QA data (docs/evaluation.md)."""
    if row.stats is None or row.stats.dev_bleu4 is None:
        return "–"
    mean, std = row.stats.dev_bleu4
    return f"{_fmt(mean)} ± {_fmt(std)}"


def _metric_cells(row: Row) -> list[str]:
    if row.status == REPORTED:
        return [_fmt(row.paper[m]) if row.paper else "–" for m in METRICS] + ["–"]
    if row.status == NOT_RUN:
        return [NOT_RUN] * len(METRICS) + [NOT_RUN]
    return [f"{_fmt(row.stats.mean[m])} ± {_fmt(row.stats.std[m])}{_marker(row, m)}" for m in METRICS] + [_dev_cell(row)]


def _paper_cells(row: Row) -> list[str]:
    out = []
    for m in METRICS:
        if row.stats is None:
            out.append(f"{_fmt(row.paper[m])} (–)")
        else:
            out.append(f"{_fmt(row.paper[m])} ({_fmt_delta(row.stats.mean[m] - row.paper[m])})")
    return out + [""]  # the paper reports no dev scores


def _display_lines(table: Table) -> list[tuple[str, list[str]]]:
    """Rows as ("group" | "row" | "paper", cells) with the cells of every displayed column."""
    lead = table.columns or ["Method"]
    width = len(lead) + 2 + NUMERIC_COLUMNS
    lines: list[tuple[str, list[str]]] = []
    for row in table.rows:
        if row.kind == "group":
            lines.append(("group", [row.label] + [""] * (width - 1)))
            continue
        first = row.cells if table.columns else [row.label]
        if row.status == REPORTED:
            variant, n = REPORTED, "–"
        else:
            variant, n = row.variant, str(row.stats.n if row.stats else 0)
        lines.append(("row", first + [variant, n] + _metric_cells(row)))
        if row.paper and row.status != REPORTED:
            lines.append(("paper", [""] * len(lead) + [PAPER_LINE, ""] + _paper_cells(row)))
    return lines


def _header(table: Table) -> list[str]:
    return (table.columns or ["Method"]) + ["variant", "n"] + [HEADERS[m] for m in METRICS] + [DEV_HEADER]


def render_md(table: Table) -> str:
    return markdown_table(table.caption, _header(table), _display_lines(table), NUMERIC_COLUMNS)


def render_html(table: Table) -> str:
    return html_table(table.caption, _header(table), _display_lines(table), NUMERIC_COLUMNS,
                      title=f"Table {table.number}")


def render_tex(table: Table) -> str:
    return latex_table(table.caption, table.number, _header(table), _display_lines(table), NUMERIC_COLUMNS,
                       "qbslt.reports.tables", ("booktabs", "amssymb"))


def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def table_frame(table: Table, n_samples: int) -> pd.DataFrame:
    records = []
    for row in table.rows:
        if row.kind != "row":
            continue
        rec = {"table": table.number, "dataset": table.dataset, "group": row.group, "label": row.label,
               "variant": row.variant, "status": row.status, "paper_row": row.paper_row}
        rec.update(dict(zip(table.columns, row.cells)))
        rec["n_seeds"] = row.stats.n if row.stats else 0
        rec["seeds"] = ";".join(map(str, row.stats.seeds)) if row.stats else ""
        for m in METRICS:
            mean = row.stats.mean[m] if row.stats else None
            paper = row.paper[m] if row.paper else None
            rec[f"{m}_mean"] = _r(mean)
            rec[f"{m}_std"] = _r(row.stats.std[m]) if row.stats else None
            rec[f"{m}_paper"] = paper
            rec[f"{m}_delta"] = _r(mean - paper) if mean is not None and paper is not None else None
        dev = row.stats.dev_bleu4 if row.stats else None
        rec["dev_bleu4_mean"], rec["dev_bleu4_std"] = (_r(dev[0]), _r(dev[1])) if dev else (None, None)
        rec["reference_variant"] = table.reference_variant or ""
        rec["is_reference"] = row.is_reference
        t = row.test
        rec["bootstrap_run_seed"] = t["run_seed"] if t else None
        rec["bootstrap_samples"] = n_samples if t else None
        rec["bootstrap_bleu4_delta"] = _r(t["delta"]) if t else None
        rec["p_value"] = _r(t["p_value"]) if t else None
        rec["significant"] = (t["p_value"] < ALPHA) if t else None
        records.append(rec)
    columns = (["table", "dataset", "group", "label", "variant", "status", "paper_row"] + list(table.columns)
               + ["n_seeds", "seeds"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std", "paper", "delta")]
               + ["dev_bleu4_mean", "dev_bleu4_std"]
               + ["reference_variant", "is_reference", "bootstrap_run_seed", "bootstrap_samples",
                  "bootstrap_bleu4_delta", "p_value", "significant"])
    frame = pd.DataFrame(records, columns=columns)
    for col in ("n_seeds", "bootstrap_run_seed", "bootstrap_samples"):
        frame[col] = frame[col].astype("Int64")
    return frame


# ---------------------------------------------------------------------------------------------
# Entry point


def build_tables(results: Results, layout: dict, paper: dict, profile: str, bootstrap_samples: int,
                 bootstrap_seed: int = 12345, metrics: dict | None = None,
                 numbers: list[int] | None = None) -> list[Table]:
    """Tables 1-7 (model objects, captions included) from the runs of ``results`` and the layout;
    ``metrics``: ``results.load_metrics()`` when already read; ``numbers``: only those tables
    (default: all)."""
    metrics = results.load_metrics() if metrics is None else metrics
    datasets = DATASETS  # names and evaluation levels: the dataset objects
    levels = {k: spec.eval_level for k, spec in datasets.items()}
    bootstrap = _Bootstrapper(results, levels, bootstrap_samples, bootstrap_seed)
    tables = []
    for key, spec in layout["tables"].items():
        number = int(key.removeprefix("table"))
        if numbers is not None and number not in numbers:
            continue
        builder: Callable = build_comparison_table if "measured" in spec else build_ablation_table
        table = builder(number, spec, metrics, paper)
        add_significance(table, spec.get("reference"), bootstrap)
        table.caption = _caption(table, profile, datasets, spec, bootstrap_samples, bootstrap_seed)
        tables.append(table)
    return tables


def render_all(results: Results | Path, out_dir: Path, layout_path: Path = DEFAULT_LAYOUT,
               paper_path: Path = DEFAULT_PAPER, bootstrap_samples: int = 1000, profile: str = "embedded",
               bootstrap_seed: int = 12345, summary_path: Path | None = None,
               runs_path: Path | None = None, numbers: list[int] | None = None,
               datasets: list[str] | None = None, scores_dir: Path | None = None,
               curves_path: Path | None = None, figure4_ssaw: Path | None = None,
               figure4_data: Path | None = None, reliance: bool = False) -> list[Path]:
    """Write tables 1-8 (md/csv/tex/html) and the DVC metrics and plots files.

    ``results``: the runs to report (:class:`qbslt.reports.results.Results`, the experiment
    matrix); a folder instead reads every run found there (ad hoc, leftovers included).
    ``profile`` (one of :data:`qbslt.profiles.PROFILES`) decides what the captions say about the
    data; ``numbers`` restricts the tables written (default: all), ``datasets`` the datasets of
    Table 8 (default: the layout's). Data files (defaults under ``out_dir``): ``summary_path``
    (``summary.json``), ``runs_path`` (``bleu4_by_variant.csv``), ``scores_dir`` (``scores/``),
    ``curves_path`` (``training_curves.csv``); with ``figure4_ssaw`` (an SSAW weights file) also
    ``figure4_data`` (``figure4_weights.csv``); with ``reliance`` the input-reliance table
    (``reliance.{md,csv,html}`` under ``out_dir``, qbslt.reports.reliance). Returns the paths written.
    """
    Profile.named(profile)  # an unknown profile fails before any table is written
    results, out_dir = Results.of(results), Path(out_dir)
    layout, paper = load_yaml(Path(layout_path)), load_yaml(Path(paper_path))
    metrics = results.load_metrics()
    written: list[Path] = []
    for table in build_tables(results, layout, paper, profile, bootstrap_samples, bootstrap_seed, metrics,
                              numbers):
        stem = out_dir / f"table{table.number}"
        for ext, text in (("md", render_md(table)), ("csv", table_frame(table, bootstrap_samples).to_csv(index=False)),
                          ("tex", render_tex(table)), ("html", render_html(table))):
            path = stem.with_suffix(f".{ext}")
            atomic_write_text(path, text)
            written.append(path)
    if layout.get("table8") and (numbers is None or 8 in numbers):
        spec = layout["table8"]
        if datasets is not None:
            spec = {**spec, "datasets": [d for d in spec["datasets"] if d in datasets]}
        written += render_table8(results, out_dir, spec, DATASETS, lambda ds: data_statement(profile, ds))
    if reliance:
        from qbslt.reports.reliance import render_reliance

        reliance_paths = render_reliance(metrics, out_dir)
        md = next(p for p in reliance_paths if p.suffix == ".md")
        html_path = md.with_suffix(".html")
        atomic_write_text(html_path, markdown_to_html(md.read_text(encoding="utf-8"), title="Input reliance"))
        written += reliance_paths + [html_path]
    written += write_dvc_outputs(metrics, out_dir, summary_path, runs_path, scores_dir, curves_path, figure4_ssaw,
                                 figure4_data)
    return written
