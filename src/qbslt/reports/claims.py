"""The paper's claims, judged from the numbers: Table C (not in the paper).

    results/<profile>/tables/claims.md          caption (the rule) and one row per comparison
    results/<profile>/tables/claims.csv         the same rows, numbers unrounded
    results/<profile>/tables/claims.html        the page the Snakemake report shows
    results/<profile>/tables/claims_summary.md  one line: each claim and its verdict (what README.md quotes)
    results/<profile>/tables/claims_overlap.csv the second table of claims.md / .html: BLEU-4 per tercile
                                                of question–translation overlap (:mod:`qbslt.reports.overlap`)

claims.md and claims.html hold Table C's own table first (the docs quote its cells) and then the
overlap table, for reading where the gains come from.

What is compared is data: ``claims`` in ``layout.yaml``. Each claim is judged on like-for-like
pairs (treatment, control): two variants that differ only in what the claim is about, on every
dataset of the profile; or, with ``weights: true``, on Figure 4's test-wide SSAW statistic.

Paired Δ
  For each seed both variants ran on a dataset (seed-paired), Δ_s = BLEU-4(treatment) −
  BLEU-4(control), on dev and on test. A cell is the mean ± std (ddof=1) of the Δ_s; n is how
  many seeds are paired. A pair with a side the matrix does not run is "not run".
SSAW weights
  Figure 4's statistic, ``plots/figure4.csv`` (:func:`qbslt.reports.figure4.stats_frame`: ``seed,
  n_examples, question_mean, video_mean, difference, ci_low, ci_high``, one row per seed of the
  Figure 4 run, then the row ``all`` pooled over the seeds, which is left out here; of these,
  :data:`FIGURE4_STATS_COLUMNS` are read; ``dataset`` and ``variant`` columns, if any, select the
  run): Δ_s is that seed's ``difference`` (mean weight on question tokens − on video positions,
  test split). Absent file or no row for the run: "not measured".
The rule (:func:`judge`), one for every comparison
  holds where, on every split judged (BLEU-4: dev and test; SSAW weights: test), the mean Δ
  lies above 0 by more than :data:`STANDARD_ERRORS` standard errors (std / √n); fails where it
  lies below 0 by that much on every split; inconclusive otherwise; fewer than
  :data:`MIN_SEEDS` paired seeds: "inconclusive (n=…)", there is no seed spread to judge by.
  Both splits, because dev and test differ in kind on the QA data (docs/evaluation.md).
A claim's verdict (:func:`claim_verdict`)
  holds (fails) when every comparison of it that ran holds (fails); mixed when some hold or fail
  and the others do not agree; inconclusive when none holds or fails; "not run" / "not measured"
  when none ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import DATASETS
from qbslt.errors import ResultError
from qbslt.reports.figure4 import ALL_SEEDS, CONFIDENCE
from qbslt.reports import overlap
from qbslt.reports.layout import DEFAULT_LAYOUT, load_yaml
from qbslt.reports.rendering import html_table, markdown_table
from qbslt.reports.results import Results
from qbslt.reports.tables import NOT_RUN

SPLITS = ("dev", "test")  # the BLEU-4 comparisons are judged on both
WEIGHTS_SPLITS = ("test",)  # Figure 4's statistic is measured on test
STANDARD_ERRORS = 2.0  # how far from 0 the mean Δ must lie, in standard errors
MIN_SEEDS = 2  # paired seeds needed for a spread
HOLDS, FAILS, INCONCLUSIVE, MIXED, NOT_MEASURED = "holds", "fails", "inconclusive", "mixed", "not measured"
BLEU4, WEIGHT = "BLEU-4", "SSAW weight"
DIGITS = {BLEU4: 2, WEIGHT: 3}
FIGURE4_STATS_COLUMNS = ("seed", "difference")
TITLE = "Table C: the paper's claims"
COLUMNS = (["claim", "claim_verdict", "dataset", "treatment", "control", "statistic", "seeds", "n"]
           + [f"{split}_delta_{stat}" for split in SPLITS for stat in ("mean", "std")] + ["verdict"])


# ---------------------------------------------------------------------------------------------
# The rule


def judge(deltas: pd.DataFrame) -> str:
    """The verdict of one comparison: ``deltas`` holds Δ per paired seed (index) and split judged
    (columns); see the module docstring for the rule."""
    n = len(deltas)
    if n < MIN_SEEDS:
        return f"{INCONCLUSIVE} (n={n})"
    mean, margin = deltas.mean(), STANDARD_ERRORS * deltas.std(ddof=1) / math.sqrt(n)
    if (mean - margin > 0).all():
        return HOLDS
    if (mean + margin < 0).all():
        return FAILS
    return INCONCLUSIVE


def claim_verdict(verdicts: list[str]) -> str:
    """One verdict for a claim from the verdicts of its comparisons (module docstring)."""
    ran = [v for v in verdicts if v not in (NOT_RUN, NOT_MEASURED)]
    if not ran:
        return NOT_MEASURED if verdicts and all(v == NOT_MEASURED for v in verdicts) else NOT_RUN
    if all(v == HOLDS for v in ran):
        return HOLDS
    if all(v == FAILS for v in ran):
        return FAILS
    return MIXED if any(v in (HOLDS, FAILS) for v in ran) else INCONCLUSIVE


# ---------------------------------------------------------------------------------------------
# The comparisons


@dataclass
class Comparison:
    claim: str
    dataset: str
    treatment: str
    control: str
    statistic: str  # BLEU4 | WEIGHT
    deltas: pd.DataFrame | None = None  # Δ per paired seed (index) and split judged (columns)
    status: str = ""  # NOT_RUN | NOT_MEASURED; "" when measured

    @property
    def seeds(self) -> list[int]:
        return [] if self.deltas is None else [int(s) for s in self.deltas.index]

    @property
    def verdict(self) -> str:
        return self.status or judge(self.deltas)


def _bleu4(results: Results, metrics: dict, dataset: str, variant: str) -> pd.DataFrame:
    """BLEU-4 per seed (index) and split (columns) of one variant; ResultError naming a metrics file
    without a split's BLEU-4."""
    rows = {}
    for seed, data in metrics[(dataset, variant)].items():
        rows[seed] = {}
        for split in SPLITS:
            scores = data.get(split)
            value = scores.get("bleu4") if isinstance(scores, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ResultError(f"{results.metrics_path(dataset, variant, seed)}: {split}.bleu4 = {value!r} "
                                  f"is not a number")
            rows[seed][split] = float(value)
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(SPLITS)).sort_index()


def paired_deltas(treatment: pd.DataFrame, control: pd.DataFrame) -> pd.DataFrame:
    """Treatment − control per seed that both have (the seeds of either side alone are left out)."""
    common = treatment.index.intersection(control.index).sort_values()
    return treatment.loc[common] - control.loc[common]


def pair_comparison(claim: str, dataset: str, treatment: str, control: str, results: Results,
                    metrics: dict) -> Comparison:
    comparison = Comparison(claim, dataset, treatment, control, BLEU4)
    if (dataset, treatment) not in metrics or (dataset, control) not in metrics:
        comparison.status = NOT_RUN
        return comparison
    comparison.deltas = paired_deltas(_bleu4(results, metrics, dataset, treatment),
                                      _bleu4(results, metrics, dataset, control))
    return comparison


def read_figure4_stats(path: Path, dataset: str, variant: str) -> pd.DataFrame | None:
    """Figure 4's per-seed difference (question − video weight) of the run ``(dataset, variant)`` as Δ
    per seed (index) on :data:`WEIGHTS_SPLITS` (the pooled ``all`` row left out); None when the file
    does not exist or has no seed row of that run. A file without :data:`FIGURE4_STATS_COLUMNS`, a repeated seed or a difference that is
    not a number: ResultError naming the file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ResultError(f"{path}: not a valid CSV ({' '.join(str(e).split())})") from None
    missing = [c for c in FIGURE4_STATS_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultError(f"{path}: missing column(s) {', '.join(missing)}")
    for key, value in (("dataset", dataset), ("variant", variant)):
        if key in frame.columns:  # a file of several runs: the Figure 4 run's rows
            frame = frame[frame[key] == value]
    frame = frame[frame["seed"].astype(str) != ALL_SEEDS]  # pooled over the seeds: the rule needs each seed
    if frame.empty:
        return None
    seeds = pd.to_numeric(frame["seed"], errors="coerce")
    difference = pd.to_numeric(frame["difference"], errors="coerce")
    if seeds.isna().any() or (seeds % 1 != 0).any():
        raise ResultError(f"{path}: seed {frame['seed'][seeds.isna() | (seeds % 1 != 0)].iloc[0]!r} is not an integer")
    if seeds.duplicated().any():
        raise ResultError(f"{path}: seed {int(seeds[seeds.duplicated()].iloc[0])} appears twice")
    if not np.isfinite(difference).all():
        bad = int(seeds[~np.isfinite(difference)].iloc[0])
        raise ResultError(f"{path}: difference of seed {bad} is not a number")
    return pd.DataFrame({WEIGHTS_SPLITS[0]: difference.to_numpy(float)},
                        index=seeds.astype(int).to_numpy()).sort_index()


def weights_comparison(claim: str, figure4_run: tuple[str, str] | None, figure4_stats: Path | None) -> Comparison:
    """Question tokens against video positions of the Figure 4 run ``(dataset, variant)`` (None: the
    matrix does not run it)."""
    dataset, variant = figure4_run or ("–", "")
    treatment = f"{variant}: question tokens" if variant else "question tokens"
    comparison = Comparison(claim, dataset, treatment, "video positions", WEIGHT)
    if figure4_run is None:
        comparison.status = NOT_RUN
        return comparison
    comparison.deltas = read_figure4_stats(figure4_stats, dataset, variant) if figure4_stats else None
    if comparison.deltas is None:
        comparison.status = NOT_MEASURED
    return comparison


def build_comparisons(results: Results, claims: list[dict], figure4_run: tuple[str, str] | None = None,
                      figure4_stats: Path | None = None) -> list[Comparison]:
    """Every comparison of ``claims`` (``layout.yaml``'s list), in claim order: each pair on each
    dataset of the matrix (datasets in :data:`qbslt.data.datasets.DATASETS` order)."""
    metrics = results.load_metrics()
    found = {d for d, _, _ in results.runs}
    datasets = [d for d in DATASETS if d in found] + sorted(found - set(DATASETS))
    comparisons = []
    for spec in claims:
        if spec.get("weights"):
            comparisons.append(weights_comparison(spec["claim"], figure4_run, figure4_stats))
        for dataset in datasets:
            comparisons += [pair_comparison(spec["claim"], dataset, p["treatment"], p["control"], results, metrics)
                            for p in spec.get("pairs", [])]
    return comparisons


def claims_frame(comparisons: list[Comparison]) -> pd.DataFrame:
    """One row per comparison (:data:`COLUMNS`): the claim and its verdict, the two sides, the
    paired seeds, mean and std of Δ per split (empty where not judged or std undefined), the verdict."""
    verdicts = {}
    for c in comparisons:
        verdicts.setdefault(c.claim, []).append(c.verdict)
    records = []
    for c in comparisons:
        rec = {"claim": c.claim, "claim_verdict": claim_verdict(verdicts[c.claim]), "dataset": c.dataset,
               "treatment": c.treatment, "control": c.control, "statistic": c.statistic,
               "seeds": " ".join(map(str, c.seeds)), "n": len(c.seeds), "verdict": c.verdict}
        for split in SPLITS:
            values = c.deltas[split] if c.deltas is not None and split in c.deltas and len(c.deltas) else None
            rec[f"{split}_delta_mean"] = None if values is None else float(values.mean())
            rec[f"{split}_delta_std"] = None if values is None or len(values) < 2 else float(values.std(ddof=1))
        records.append(rec)
    frame = pd.DataFrame(records, columns=COLUMNS)
    frame["n"] = frame["n"].astype("Int64")
    return frame


# ---------------------------------------------------------------------------------------------
# Rendering


def caption(claims: list[dict]) -> str:
    """The table's caption: what is compared, the rule, and each claim's note (``layout.yaml``)."""
    k = f"{STANDARD_ERRORS:g}"
    parts = [
        f"{TITLE}, judged from the numbers (not in the paper).",
        "Each claim is judged on like-for-like comparisons, treatment − control: two variants that differ "
        "only in what the claim is about, within one family (QB: no SSL; SSL), on every dataset of the profile.",
        *(" ".join(str(spec["note"]).split()) for spec in claims if spec.get("note")),
        f"Δ {BLEU4}: the treatment's BLEU-4 minus the control's, per seed both ran (seed-paired); dev and test "
        f"cells: mean ± std (ddof=1) of those differences, n: how many (no std for one seed); \"{NOT_RUN}\": "
        f"a side the matrix does not run.",
        f"Δ {WEIGHT}: Figure 4's statistic (plots/figure4.csv: per seed, the mean SSAW weight on question "
        f"tokens − on video positions over the test split; its {CONFIDENCE:.0%} bootstrap intervals over test "
        f"examples are there), "
        f"\"{NOT_MEASURED}\" without that file.",
        f"Rule, for every comparison: {HOLDS} where on every split judged ({BLEU4}: dev and test, which differ "
        f"in kind on the QA data, docs/evaluation.md; {WEIGHT}: test) the mean Δ lies above 0 by more than {k} "
        f"standard errors (std/√n); {FAILS} where it lies below 0 by more than {k} standard errors on every "
        f"split; {INCONCLUSIVE} otherwise; with fewer than {MIN_SEEDS} paired seeds \"{INCONCLUSIVE} (n=…)\".",
        f"A claim {HOLDS} ({FAILS}) when every comparison of it that ran holds (fails); {MIXED} when some hold "
        f"or fail and the others do not agree; {INCONCLUSIVE} when none holds or fails.",
    ]
    return " ".join(parts)


def _delta_cell(mean: float | None, std: float | None, statistic: str) -> str:
    if mean is None or pd.isna(mean):
        return "–"
    digits = DIGITS[statistic]
    return f"{mean:+.{digits}f}" + ("" if std is None or pd.isna(std) else f" ± {std:.{digits}f}")


HEADER = ["Claim", "Claim verdict", "Dataset", "Comparison (treatment − control)", "Δ of", "Verdict", "n",
          "dev Δ", "test Δ"]
NUMERIC = 3  # n, dev Δ, test Δ


def display_lines(frame: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Table lines: the claim and its verdict on the first row of each claim only."""
    lines, previous = [], None
    for row in frame.itertuples(index=False):
        first = row.claim != previous
        previous = row.claim
        lines.append(("row", [row.claim if first else "", row.claim_verdict if first else "", row.dataset,
                              f"{row.treatment} − {row.control}", row.statistic, row.verdict, str(row.n),
                              *(_delta_cell(getattr(row, f"{s}_delta_mean"), getattr(row, f"{s}_delta_std"),
                                            row.statistic) for s in SPLITS)]))
    return lines


def summary_line(frame: pd.DataFrame) -> str:
    """One line: each claim, its verdict and how many of its comparisons ran."""
    parts = []
    for claim, rows in frame.groupby("claim", sort=False):
        ran = int((~rows["verdict"].isin([NOT_RUN, NOT_MEASURED])).sum())
        total = f"{len(rows)} comparison{'s' if len(rows) != 1 else ''}"
        parts.append(f"{claim}: **{rows['claim_verdict'].iloc[0]}** ({ran} of {total} run)")
    return (f"The paper's claims, by the rule of {TITLE.split(':')[0]} (claims.md; docs/evaluation.md, "
            f"\"The paper's claims\"): " + "; ".join(parts) + ".")


def render_claims(results: Results, out_dir: Path, figure4_run: tuple[str, str] | None = None,
                  figure4_stats: Path | None = None, layout_path: Path = DEFAULT_LAYOUT) -> list[Path]:
    """Write ``claims.{md,csv,html}``, ``claims_summary.md`` and ``claims_overlap.csv`` under ``out_dir``;
    returns the paths. ``figure4_run``: the ``(dataset, variant)`` Figure 4 shows (None: not in the
    matrix); ``figure4_stats``: its per-seed statistic (read when the file exists). claims.md and
    claims.html: Table C's table, then the overlap table (:mod:`qbslt.reports.overlap`)."""
    claims = load_yaml(Path(layout_path)).get("claims", [])
    frame = claims_frame(build_comparisons(results, claims, figure4_run, figure4_stats))
    text, lines = caption(claims), display_lines(frame)
    by_overlap = overlap.overlap_frame(results)
    overlap_text, overlap_lines = overlap.caption(), overlap.display_lines(by_overlap)
    out_dir = Path(out_dir)
    written = {out_dir / "claims.md": markdown_table(text, HEADER, lines, NUMERIC) + "\n"
               + markdown_table(overlap_text, overlap.HEADER, overlap_lines, overlap.NUMERIC),
               out_dir / "claims.csv": frame.to_csv(index=False),
               out_dir / "claims.html": _html_page(html_table(text, HEADER, lines, NUMERIC, title=TITLE.split(":")[0]),
                                                   html_table(overlap_text, overlap.HEADER, overlap_lines,
                                                              overlap.NUMERIC)),
               out_dir / "claims_summary.md": summary_line(frame) + "\n",
               out_dir / "claims_overlap.csv": by_overlap.to_csv(index=False)}
    for path, content in written.items():
        atomic_write_text(path, content)
    return list(written)


def _html_page(first: str, *more: str) -> str:
    """One HTML page of several :func:`html_table` pages: the first page with the other pages'
    tables appended to its body, in order."""
    tables = [page[page.index("<table>"):page.index("</table>") + len("</table>")] for page in more]
    end = first.rindex("</body>")
    return first[:end] + "".join(f"<br>\n{t}\n" for t in tables) + first[end:]


def figure4_run_of(ssaw_file: Path | str) -> tuple[str, str]:
    """``(dataset, variant)`` of an SSAW weights file ``ssaw/<dataset>/<variant>/seed<k>.json`` (the
    result contract), the run Figure 4 shows."""
    path = Path(ssaw_file)
    if len(path.parts) < 3:
        raise ResultError(f"{path}: not an SSAW file <dataset>/<variant>/seed<k>.json")
    return path.parent.parent.name, path.parent.name
