"""Tables 1-8 of the paper from the result contract (``results/metrics``, ``results/predictions``).

:func:`render_all` writes, for N = 1..8, ``table<N>.md``, ``table<N>.csv`` and ``table<N>.tex``
(``table8.html`` too), and the data files of DVC's metrics and plots:

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

Which runs: exactly those of the :class:`qbslt.reports.results.Results` given -- the experiment
matrix the Snakemake rule passes (datasets × variants × seeds, plus the reference systems at
seed 0). A leftover result file of a seed or variant that params.yaml no longer lists is not
read. Given only a folder, every run found there is read (ad hoc).

What is in a table (which variant fills which row, which paper row it is compared with, which
row the others are tested against) is data: ``layout.yaml`` beside this file. The paper's
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

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd
import yaml

from qbslt.config import PROFILES
from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import DATASETS, DatasetSpec
from qbslt.errors import ConfigError
from qbslt.reports.example_translations import render_table8
from qbslt.reports.rendering import latex_table, markdown_table
from qbslt.reports.results import METRICS, Results

HERE = Path(__file__).resolve().parent
DEFAULT_LAYOUT = HERE / "layout.yaml"
DEFAULT_PAPER = HERE / "paper_results.yaml"

HEADERS = {"bleu1": "B1", "bleu2": "B2", "bleu3": "B3", "bleu4": "B4", "rouge_l": "ROUGE"}
ALPHA = 0.05
MARKER = "†"
NOT_RUN = "not run"
REPORTED = "reported (not run)"
MEASURED = "measured"
PAPER_LINE = "↳ paper (Δ)"
REFERENCE_GROUP = "Reference systems (not trained)"


# ---------------------------------------------------------------------------------------------
# Summaries of the runs


@dataclass
class Stats:
    seeds: list[int]
    mean: dict[str, float]
    std: dict[str, float]

    @property
    def n(self) -> int:
        return len(self.seeds)


def summarize(runs: dict[int, dict] | None) -> Stats | None:
    """Mean and std (ddof=1; 0.0 for one run) of the test scores; None when there are no runs."""
    if not runs:
        return None
    seeds = sorted(runs)
    mean, std = {}, {}
    for k in METRICS:
        values = [float(runs[s]["test"][k]) for s in seeds]
        mean[k] = statistics.fmean(values)
        std[k] = statistics.stdev(values) if len(values) > 1 else 0.0
    return Stats(seeds, mean, std)


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


def _entries(spec: dict, optional: bool = True) -> list[dict]:
    entries = spec.get("rows", []) + spec.get("measured", []) + spec.get("references", []) + spec.get("variants", [])
    return [e for e in entries if optional or not e.get("optional")]


def table_variants(spec: dict, optional: bool = True) -> set[str]:
    """Every variant (trained or reference system) a layout table shows; ``optional=False``: only the
    ones it needs (not the rows marked ``optional``, shown only when the experiment runs them)."""
    return {e["variant"] for e in _entries(spec, optional)}


def renderable_tables(runs: dict[str, set[str]], layout_path: Path = DEFAULT_LAYOUT) -> list[int]:
    """Numbers of the tables (1-8) whose every row the experiment runs: ``runs`` maps each dataset to
    the variants and reference systems run on it. Table 8 needs its variants on one of its datasets."""
    layout = _load_yaml(Path(layout_path))
    numbers = [int(key.removeprefix("table")) for key, spec in layout["tables"].items()
               if table_variants(spec, optional=False) <= runs.get(spec["dataset"], set())]
    table8 = layout.get("table8")
    if table8 and any(table_variants(table8) <= runs.get(ds, set()) for ds in table8["datasets"]):
        numbers.append(8)
    return sorted(numbers)


def table_numbers(layout_path: Path = DEFAULT_LAYOUT) -> list[int]:
    """Every table number of the layout (``tables.tableN`` and ``table8``), rendered or not."""
    layout = _load_yaml(Path(layout_path))
    return sorted([int(key.removeprefix("table")) for key in layout["tables"]] + ([8] if layout.get("table8") else []))


def table_runs(number: int, runs: dict[str, set[str]], layout_path: Path = DEFAULT_LAYOUT) -> list[tuple[str, str]]:
    """The ``(dataset, variant)`` pairs Table ``number`` shows (trained variants and reference
    systems, in layout order): what the per-table target ``tableN`` builds. ``runs`` as for
    :func:`renderable_tables`; Table 8: its variants on each of its datasets that runs them all.
    A table that the experiment cannot render raises :class:`ConfigError` naming what is missing."""
    layout = _load_yaml(Path(layout_path))
    if number == 8 and layout.get("table8"):
        spec = layout["table8"]
        datasets = [ds for ds in spec["datasets"] if table_variants(spec) <= runs.get(ds, set())]
        if not datasets:
            raise ConfigError(f"Table 8 needs {', '.join(sorted(table_variants(spec)))} on one of "
                              f"{', '.join(spec['datasets'])}; experiment.datasets does not run them all on any")
    elif f"table{number}" in layout["tables"]:
        spec = layout["tables"][f"table{number}"]
        datasets = [spec["dataset"]]
        missing = sorted(table_variants(spec, optional=False) - runs.get(spec["dataset"], set()))
        if missing:
            raise ConfigError(f"Table {number} shows {', '.join(missing)} on {spec['dataset']}, which "
                              f"experiment.datasets does not run")
    else:
        raise ConfigError(f"no Table {number} in {layout_path}")
    needed = table_variants(spec, optional=False)
    variants = list(dict.fromkeys(e["variant"] for e in _entries(spec)))
    return [(d, v) for d in datasets for v in variants if v in needed or v in runs.get(d, set())]


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
    name = datasets[dataset_key].title
    if profile == "embedded":
        return (f"Embedded synthetic data, not the paper's datasets: the {dataset_key} data here is this project's "
                f"synthetic stand-in for {name} (docs/embedded-data.md), so only the pattern across rows, not the "
                f"values, can be compared with the paper.")
    if profile == "realtext":
        return (f"Realtext profile: the real {name} texts (translation, question and gloss of every sample, test "
                f"split), with each video rendered from the sample's real gloss sequence and small models trained "
                f"from scratch on a CPU. The rendered video carries exactly the glosses, so sign input here is "
                f"closer to a gloss-to-text system (the paper's gloss-based rows of Table 1, e.g. GBT with question "
                f"and gloss: 34.31 BLEU-4) than to its video-only rows.")
    return f"Dataset: {name}, test split."


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


def _metric_cells(row: Row) -> list[str]:
    if row.status == REPORTED:
        return [_fmt(row.paper[m]) if row.paper else "–" for m in METRICS]
    if row.status == NOT_RUN:
        return [NOT_RUN] * len(METRICS)
    return [f"{_fmt(row.stats.mean[m])} ± {_fmt(row.stats.std[m])}{_marker(row, m)}" for m in METRICS]


def _paper_cells(row: Row) -> list[str]:
    out = []
    for m in METRICS:
        if row.stats is None:
            out.append(f"{_fmt(row.paper[m])} (–)")
        else:
            out.append(f"{_fmt(row.paper[m])} ({_fmt_delta(row.stats.mean[m] - row.paper[m])})")
    return out


def _display_lines(table: Table) -> list[tuple[str, list[str]]]:
    """Rows as ("group" | "row" | "paper", cells) with the cells of every displayed column."""
    lead = table.columns or ["Method"]
    width = len(lead) + 2 + len(METRICS)
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
    return (table.columns or ["Method"]) + ["variant", "n"] + [HEADERS[m] for m in METRICS]


def render_md(table: Table) -> str:
    return markdown_table(table.caption, _header(table), _display_lines(table), len(METRICS))


def render_tex(table: Table) -> str:
    return latex_table(table.caption, table.number, _header(table), _display_lines(table), len(METRICS),
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
               + ["reference_variant", "is_reference", "bootstrap_run_seed", "bootstrap_samples",
                  "bootstrap_bleu4_delta", "p_value", "significant"])
    frame = pd.DataFrame(records, columns=columns)
    for col in ("n_seeds", "bootstrap_run_seed", "bootstrap_samples"):
        frame[col] = frame[col].astype("Int64")
    return frame


# ---------------------------------------------------------------------------------------------
# Entry point


def _load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


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
        atomic_write_text(path, json.dumps({k: values[k] for k in SCORE_KEYS}, indent=2) + "\n")
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


def render_all(results: Results | Path, out_dir: Path, layout_path: Path = DEFAULT_LAYOUT,
               paper_path: Path = DEFAULT_PAPER, bootstrap_samples: int = 1000, profile: str = "embedded",
               bootstrap_seed: int = 12345, summary_path: Path | None = None,
               runs_path: Path | None = None, numbers: list[int] | None = None,
               datasets: list[str] | None = None, scores_dir: Path | None = None,
               curves_path: Path | None = None, figure4_ssaw: Path | None = None,
               figure4_data: Path | None = None, reliance: bool = False) -> list[Path]:
    """Write tables 1-8 (md/csv/tex; table8 also html) and the DVC metrics and plots files.

    ``results``: the runs to report (:class:`qbslt.reports.results.Results`, the experiment
    matrix); a folder instead reads every run found there (ad hoc, leftovers included).
    ``profile`` (one of :data:`qbslt.config.PROFILES`) decides what the captions say about the
    data; ``numbers`` restricts the tables written (default: all), ``datasets`` the datasets of
    Table 8 (default: the layout's). Data files (defaults under ``out_dir``): ``summary_path``
    (``summary.json``), ``runs_path`` (``bleu4_by_variant.csv``), ``scores_dir`` (``scores/``),
    ``curves_path`` (``training_curves.csv``); with ``figure4_ssaw`` (an SSAW weights file) also
    ``figure4_data`` (``figure4_weights.csv``); with ``reliance`` the input-reliance table
    (``reliance.{md,csv}`` under ``out_dir``, qbslt.reports.reliance). Returns the paths written.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (expected one of {', '.join(PROFILES)})")
    results, out_dir = Results.of(results), Path(out_dir)
    layout, paper = _load_yaml(Path(layout_path)), _load_yaml(Path(paper_path))
    metrics = results.load_metrics()
    written: list[Path] = []
    for table in build_tables(results, layout, paper, profile, bootstrap_samples, bootstrap_seed, metrics,
                              numbers):
        stem = out_dir / f"table{table.number}"
        for ext, text in (("md", render_md(table)), ("csv", table_frame(table, bootstrap_samples).to_csv(index=False)),
                          ("tex", render_tex(table))):
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

        written += render_reliance(metrics, out_dir)
    summary_path = Path(summary_path) if summary_path else out_dir / "summary.json"
    atomic_write_text(summary_path, json.dumps(summary(metrics), indent=2, ensure_ascii=False) + "\n")
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
