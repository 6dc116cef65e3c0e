"""Where the gains come from: BLEU-4 per tercile of question–translation overlap (the claims page).

    results/<profile>/tables/claims.md           after Table C's own table, this one (caption and rows)
    results/<profile>/tables/claims.html         likewise
    results/<profile>/tables/claims_overlap.csv  one row per (dataset, run row), numbers unrounded

The question is a prefix the question-based models can copy, and the QA splits differ in how much
of the answer it holds (PHOENIX-2014T-QA: about half of the translation's words on train, a third
on dev, three fifths on test). This table shows each row's BLEU-4 on the examples whose question
holds little, some or much of the answer, on dev and on test: for reading where a gain comes from,
not for a verdict (Table C's rule gives those).

Overlap
  Per example, :func:`qbslt.eval.overlap.question_overlap`: the share of the reference
  translation's tokens (the metric's tokens at the dataset's evaluation level: words, characters
  for CSL-Daily-QA) that occur in the question (in evaluation form, as copy_question scores it).
Terciles
  Per dataset and split, over that split's examples (:func:`qbslt.eval.overlap.cut_terciles`):
  sorted by overlap, ties broken by example name, cut into three groups of equal size (sizes
  differ by at most one, the lower terciles take the extra examples). The examples and their
  overlaps come from the predictions file of the dataset's first run that has one (in the order
  of :meth:`Results.runs`); every other run must hold the same examples (ResultError otherwise).
  Each tercile's overlap range (lowest, highest) and size are in the table.
Cells
  Corpus BLEU-4 of the tercile's examples (:func:`qbslt.eval.metrics.corpus_bleu`, the tables'
  sacrebleu BLEU) from each run's dev predictions (``seed<k>.dev.tsv``) and test predictions
  (``seed<k>.tsv``), mean ± std (ddof=1) over the seeds of the row that have both files (no std
  for one seed); reference systems (copy_question, retrieve) run seed 0. "–": no predictions.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pandas as pd

from qbslt.config import REFERENCE_SYSTEMS
from qbslt.data.datasets import DATASETS, get_dataset
from qbslt.errors import ResultError
from qbslt.eval.metrics import corpus_bleu
from qbslt.eval.overlap import TERCILES, cut_terciles, question_overlap
from qbslt.reports.rendering import Line
from qbslt.reports.results import Results

SPLITS = ("dev", "test")
TITLE = "Table C, by overlap: BLEU-4 per tercile of question–translation overlap"
RANGE_LABEL = "overlap range (examples)"
REFERENCE_SUFFIX = " (reference system)"
HEADER = ["Dataset", "System", "n"] + [f"{split} {tercile}" for split in SPLITS for tercile in TERCILES]
NUMERIC = 1 + len(SPLITS) * len(TERCILES)  # n and the BLEU-4 cells
COLUMNS = (["dataset", "variant", "kind", "seeds", "n"]
           + [f"{split}_{tercile}_bleu4_{stat}" for split in SPLITS for tercile in TERCILES for stat in ("mean", "std")]
           + [f"{split}_{tercile}_{what}" for split in SPLITS for tercile in TERCILES
              for what in ("overlap_min", "overlap_max", "examples")])


@dataclass
class SplitTerciles:
    """One dataset's split: each example's tercile, and per tercile the overlap range and size."""

    source: str  # the predictions file the examples and overlaps were read from
    tercile: dict[str, str]  # example name -> "low" | "mid" | "high"
    ranges: dict[str, tuple[float, float] | None]  # tercile -> (lowest, highest overlap); None when empty
    sizes: dict[str, int]


def split_terciles(predictions: pd.DataFrame, level: str, source: str = "") -> SplitTerciles:
    """The terciles of one split from a predictions frame (name, reference, question, ...)."""
    names = list(predictions["name"])
    overlaps = [question_overlap(r, q, level) for r, q in zip(predictions["reference"], predictions["question"])]
    labels = cut_terciles(names, overlaps)
    ranges, sizes = {}, {}
    for tercile in TERCILES:
        values = [o for o, t in zip(overlaps, labels) if t == tercile]
        ranges[tercile] = (min(values), max(values)) if values else None
        sizes[tercile] = len(values)
    return SplitTerciles(source, dict(zip(names, labels)), ranges, sizes)


def tercile_bleu4(predictions: pd.DataFrame, terciles: SplitTerciles, level: str, path: str = "") -> dict[str, float]:
    """Corpus BLEU-4 of each tercile of one run's predictions of a split (NaN for an empty tercile)."""
    names = set(predictions["name"])
    if names != set(terciles.tercile):
        extra, missing = sorted(names - set(terciles.tercile)), sorted(set(terciles.tercile) - names)
        what = f"{len(missing)} example(s) missing, e.g. {missing[0]!r}" if missing else \
            f"{len(extra)} example(s) more, e.g. {extra[0]!r}"
        raise ResultError(f"{path}: not the examples of {terciles.source} ({what})")
    scores = {}
    for tercile in TERCILES:
        rows = predictions[predictions["name"].map(terciles.tercile) == tercile]
        scores[tercile] = (corpus_bleu(list(rows["hypothesis"]), list(rows["reference"]), level)
                           if len(rows) else float("nan"))
    return scores


def _datasets(results: Results) -> list[str]:
    found = {d for d, _, _ in results.runs}
    return [d for d in DATASETS if d in found] + sorted(found - set(DATASETS))


def _variants(results: Results, dataset: str) -> list[str]:
    """Trained variants (sorted), then the reference systems (in REFERENCE_SYSTEMS order)."""
    variants = {v for d, v, _ in results.runs if d == dataset}
    return sorted(variants - set(REFERENCE_SYSTEMS)) + [r for r in REFERENCE_SYSTEMS if r in variants]


def _level(dataset: str) -> str:
    return get_dataset(dataset).eval_level if dataset in DATASETS else "word"


def overlap_frame(results: Results) -> pd.DataFrame:
    """One row per (dataset, variant) of the matrix (:data:`COLUMNS`): the seeds with dev and test
    predictions, BLEU-4 mean and std per split and tercile, and each tercile's overlap range and size
    (the same on every row of a dataset)."""
    records = []
    for dataset in _datasets(results):
        level, variants = _level(dataset), _variants(results, dataset)
        usable = {v: [s for s in results.seeds(dataset, v)
                      if all(results.predictions_path(dataset, v, s, split).is_file() for split in SPLITS)]
                  for v in variants}
        terciles: dict[str, SplitTerciles] = {}
        first = next(((v, seeds[0]) for v, seeds in usable.items() if seeds), None)
        if first is not None:
            for split in SPLITS:
                path = results.predictions_path(dataset, *first, split)
                terciles[split] = split_terciles(results.read_predictions(dataset, *first, split), level, str(path))
        for variant in variants:
            seeds = usable[variant]
            rec = {"dataset": dataset, "variant": variant,
                   "kind": "reference" if variant in REFERENCE_SYSTEMS else "trained",
                   "seeds": " ".join(map(str, seeds)), "n": len(seeds)}
            per_seed = {split: [tercile_bleu4(results.read_predictions(dataset, variant, s, split), terciles[split],
                                              level, str(results.predictions_path(dataset, variant, s, split)))
                                for s in seeds] for split in SPLITS}
            for split in SPLITS:
                for tercile in TERCILES:
                    values = [scores[tercile] for scores in per_seed[split]]
                    ok = values and all(v == v for v in values)  # NaN: an empty tercile
                    rec[f"{split}_{tercile}_bleu4_mean"] = statistics.fmean(values) if ok else None
                    rec[f"{split}_{tercile}_bleu4_std"] = statistics.stdev(values) if ok and len(values) > 1 else None
                    t = terciles.get(split)
                    span = t.ranges[tercile] if t else None
                    rec[f"{split}_{tercile}_overlap_min"] = span[0] if span else None
                    rec[f"{split}_{tercile}_overlap_max"] = span[1] if span else None
                    rec[f"{split}_{tercile}_examples"] = t.sizes[tercile] if t else None
            records.append(rec)
    frame = pd.DataFrame(records, columns=COLUMNS)
    for column in ["n"] + [c for c in COLUMNS if c.endswith("_examples")]:
        frame[column] = frame[column].astype("Int64")
    return frame


def _bleu_cell(mean: float | None, std: float | None) -> str:
    if mean is None or pd.isna(mean):
        return "–"
    return f"{mean:.2f}" + ("" if std is None or pd.isna(std) else f" ± {std:.2f}")


def _range_cell(low: float | None, high: float | None, examples) -> str:
    if low is None or pd.isna(low):
        return "–"
    return f"{low:.2f}–{high:.2f} ({int(examples)})"


def display_lines(frame: pd.DataFrame) -> list[Line]:
    """Per dataset: the overlap-range row (each tercile's lowest–highest overlap and its number of
    examples), then one row per trained variant and per reference system."""
    lines: list[Line] = []
    for dataset, rows in frame.groupby("dataset", sort=False):
        first = rows.iloc[0]
        lines.append(("row", [dataset, RANGE_LABEL, ""] + [
            _range_cell(first[f"{s}_{t}_overlap_min"], first[f"{s}_{t}_overlap_max"], first[f"{s}_{t}_examples"])
            for s in SPLITS for t in TERCILES]))
        for row in rows.itertuples(index=False):
            label = row.variant + (REFERENCE_SUFFIX if row.kind == "reference" else "")
            lines.append(("row", [dataset, label, str(row.n)] + [
                _bleu_cell(getattr(row, f"{s}_{t}_bleu4_mean"), getattr(row, f"{s}_{t}_bleu4_std"))
                for s in SPLITS for t in TERCILES]))
    return lines


def caption() -> str:
    return " ".join([
        f"{TITLE} (not in the paper; for reading where gains come from, not for a verdict: Table C's rule "
        "above gives those).",
        "Overlap of an example: the share of its reference translation's tokens, as the metric tokenises them at "
        "the dataset's evaluation level (words for PHOENIX-2014T-QA, characters for CSL-Daily-QA), that occur in "
        "its question (in evaluation form, as copy_question scores it: lower-cased, punctuation stripped from the "
        "words at word level); a repeated token counts each time.",
        "Terciles, per dataset and split: the split's examples sorted by overlap, ties broken by example name, "
        "cut into three groups of equal size (low, mid, high; sizes differ by at most one, the lower terciles "
        f"take the extra examples); the row \"{RANGE_LABEL}\" gives each tercile's lowest–highest overlap and its "
        "number of examples (tied overlaps can fall on both sides of a cut).",
        "Cells: corpus BLEU-4 (sacrebleu, as in every table) of the tercile's examples, from each run's dev and "
        "test predictions, mean ± std (ddof=1) over the seeds with both (n; no std for one seed); reference "
        "systems are not trained and run seed 0; \"–\": no run of the row has both predictions files, or an "
        "empty tercile.",
        "The question is a prefix the question-based models can copy, and dev and test differ in how much of "
        "the answer it holds (docs/evaluation.md): a gain that lies in the high terciles, and more on test than "
        "on dev, may come from copying the question rather than from the video.",
    ])
