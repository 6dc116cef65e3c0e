"""The result files a report reads, and which runs count: the experiment matrix.

Result contract (under the results folder of a profile, ``results/<profile>/``)::

    metrics/<dataset>/<variant>/seed<k>.json      test/dev scores, training history
    predictions/<dataset>/<variant>/seed<k>.tsv   name, reference, question, hypothesis (test split)
    predictions/<dataset>/<variant>/seed<k>.dev.tsv   the same columns, dev split
    ssaw/<dataset>/<variant>/seed<k>.json         SSAW weights (Figure 4)

A :class:`Results` is that folder plus the runs -- ``(dataset, variant, seed)`` -- a report
reads. Every table, mean ± std, significance test, Table 8 example, DVC metric and plot reads
the runs of one :class:`Results` and nothing else, so a leftover file of a seed or a variant
that params.yaml no longer lists never reaches a report.

* :meth:`Results.from_metrics_files` -- the matrix: the Snakemake rule passes the metrics files
  of the configured runs (datasets × variants × seeds, plus the reference systems at seed 0),
  ``qbslt tables --metrics FILE ...``.
* :meth:`Results.discover` -- ad-hoc use only (``qbslt tables`` without ``--metrics``): every
  metrics file found under the folder, leftovers included.

Reading errors (a missing, corrupt, truncated or malformed file) raise
:class:`qbslt.errors.ResultError`, whose one-line message names the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from qbslt.errors import ResultError

Run = tuple[str, str, int]

METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
PREDICTION_COLUMNS = ("name", "reference", "question", "hypothesis")
# The predictions file of a split: seed<k><suffix> (test keeps the plain name it always had).
PREDICTION_SUFFIX = {"test": ".tsv", "dev": ".dev.tsv"}
_SEED_FILE = re.compile(r"^seed(\d+)\.json$")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _read_text(path: Path) -> str:
    """A result file's text (newlines as written); ResultError naming it when missing, unreadable or
    not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ResultError(f"{path}: missing") from None
    except UnicodeDecodeError as e:
        raise ResultError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ResultError(f"{path}: cannot be read ({e.strerror})") from None


def read_json(path: Path) -> object:
    """A JSON file's content; ResultError naming the file when it is missing, not UTF-8 or not JSON."""
    path = Path(path)
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        what = "empty file" if not text.strip() else f"not valid JSON ({_one_line(e)})"
        raise ResultError(f"{path}: {what}") from None


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_metrics(path: Path) -> dict:
    """A metrics file of the result contract, checked: ``test`` holds every score of :data:`METRICS`
    as a finite number, and ``history`` (when present) is a list of per-epoch records."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise ResultError(f"{path}: expected a JSON object, found {type(data).__name__}")
    test = data.get("test")
    if not isinstance(test, dict) or any(k not in test for k in METRICS):
        raise ResultError(f"{path}: 'test' must hold {', '.join(METRICS)}")
    bad = [k for k in METRICS if not _is_number(test[k])]
    if bad:
        raise ResultError(f"{path}: test.{bad[0]} = {test[bad[0]]!r} is not a number")
    history = data.get("history", [])
    if not isinstance(history, list) or not all(isinstance(r, dict) and "epoch" in r for r in history):
        raise ResultError(f"{path}: 'history' must be a list of per-epoch records with an 'epoch'")
    return data


def read_predictions(path: Path) -> pd.DataFrame:
    """A predictions TSV of the result contract (columns name, reference, question, hypothesis).

    A file that does not end with a newline, or a row with a different number of fields than the
    header, is taken as truncated or corrupt (ResultError naming the file)."""
    path = Path(path)
    text = _read_text(path)  # bytes decoded as they are: a missing final newline stays visible
    if not text:
        raise ResultError(f"{path}: empty file")
    if not text.endswith("\n"):
        raise ResultError(f"{path}: does not end with a newline (truncated?)")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=True))
        frame = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    except (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ResultError(f"{path}: not a valid TSV ({_one_line(e)})") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultError(f"{path}: missing column(s) {', '.join(missing)}")
    width = len(rows[0])
    short = next((i for i, r in enumerate(rows[1:], start=2) if len(r) != width), None)
    if short is not None:
        raise ResultError(f"{path}: row {short} has {len(rows[short - 1])} fields, the header {width} "
                          f"(truncated or corrupt?)")
    if frame["name"].duplicated().any():
        first = frame["name"][frame["name"].duplicated()].iloc[0]
        raise ResultError(f"{path}: duplicate example names, e.g. {first!r}")
    return frame


@dataclass(frozen=True)
class Results:
    """A results folder and the runs ``(dataset, variant, seed)`` a report reads from it."""

    root: Path
    runs: tuple[Run, ...]

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "runs", tuple(sorted({(str(d), str(v), int(s)) for d, v, s in self.runs})))

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_metrics_files(cls, root: Path, paths: Iterable[Path | str]) -> "Results":
        """The runs whose metrics files are ``paths``, each ``ROOT/metrics/<dataset>/<variant>/seed<k>.json``."""
        root = Path(root)
        runs = []
        for p in map(Path, paths):
            m = _SEED_FILE.match(p.name)
            if not m or len(p.parts) < 3:
                raise ResultError(f"{p}: not a metrics file <dataset>/<variant>/seed<k>.json")
            run = (p.parent.parent.name, p.parent.name, int(m.group(1)))
            expected = cls.metrics_file(root, *run)
            if p.resolve() != expected.resolve():
                raise ResultError(f"{p}: not under {root / 'metrics'} (expected {expected})")
            runs.append(run)
        return cls(root, tuple(runs))

    @classmethod
    def discover(cls, root: Path) -> "Results":
        """Ad hoc: every ``metrics/<dataset>/<variant>/seed<k>.json`` found under ``root`` (leftovers too)."""
        root = Path(root)
        runs = []
        for path in (root / "metrics").glob("*/*/seed*.json"):
            m = _SEED_FILE.match(path.name)
            if m:
                runs.append((path.parent.parent.name, path.parent.name, int(m.group(1))))
        return cls(root, tuple(runs))

    @classmethod
    def of(cls, results: "Results | Path | str") -> "Results":
        """``results`` itself, or :meth:`discover` of a folder."""
        return results if isinstance(results, Results) else cls.discover(Path(results))

    # --- paths -----------------------------------------------------------------------------

    @staticmethod
    def metrics_file(root: Path, dataset: str, variant: str, seed: int) -> Path:
        return Path(root) / "metrics" / dataset / variant / f"seed{seed}.json"

    def metrics_path(self, dataset: str, variant: str, seed: int) -> Path:
        return self.metrics_file(self.root, dataset, variant, seed)

    @staticmethod
    def predictions_file(root: Path, dataset: str, variant: str, seed: int, split: str = "test") -> Path:
        """``ROOT/predictions/<dataset>/<variant>/seed<k>.tsv`` (test) or ``seed<k>.dev.tsv`` (dev)."""
        if split not in PREDICTION_SUFFIX:
            raise ValueError(f"no predictions file of split {split!r} (expected one of {', '.join(PREDICTION_SUFFIX)})")
        return Path(root) / "predictions" / dataset / variant / f"seed{seed}{PREDICTION_SUFFIX[split]}"

    def predictions_path(self, dataset: str, variant: str, seed: int, split: str = "test") -> Path:
        return self.predictions_file(self.root, dataset, variant, seed, split)

    # --- the matrix ------------------------------------------------------------------------

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The (dataset, variant) pairs with at least one run, sorted."""
        return sorted({(d, v) for d, v, _ in self.runs})

    def seeds(self, dataset: str, variant: str) -> list[int]:
        """The seeds of one (dataset, variant) in the matrix, ascending."""
        return [s for d, v, s in self.runs if d == dataset and v == variant]

    def prediction_seeds(self, dataset: str, variant: str) -> list[int]:
        """The seeds of the matrix whose predictions file exists, ascending."""
        return [s for s in self.seeds(dataset, variant) if self.predictions_path(dataset, variant, s).is_file()]

    def first_common_seed(self, dataset: str, variants: list[str]) -> int | None:
        """Smallest seed of the matrix every variant has predictions for; None if none."""
        common = set.intersection(*(set(self.prediction_seeds(dataset, v)) for v in variants)) if variants else set()
        return min(common) if common else None

    # --- reading ---------------------------------------------------------------------------

    def load_metrics(self) -> dict[tuple[str, str], dict[int, dict]]:
        """``{(dataset, variant): {seed: metrics dict}}`` of exactly the runs of the matrix."""
        found: dict[tuple[str, str], dict[int, dict]] = {}
        for d, v, s in self.runs:
            found.setdefault((d, v), {})[s] = read_metrics(self.metrics_path(d, v, s))
        return found

    def read_predictions(self, dataset: str, variant: str, seed: int, split: str = "test") -> pd.DataFrame:
        return read_predictions(self.predictions_path(dataset, variant, seed, split))


# ---------------------------------------------------------------------------------------------
# Summaries of the runs


@dataclass
class Stats:
    seeds: list[int]
    mean: dict[str, float]
    std: dict[str, float]
    # dev BLEU-4 beside the test scores (None when a run has no dev scores: the reference systems have)
    dev_bleu4: tuple[float, float] | None = None

    @property
    def n(self) -> int:
        return len(self.seeds)


def summarize(runs: dict[int, dict] | None) -> Stats | None:
    """Mean and std (ddof=1; 0.0 for one run) of the test scores, and of dev BLEU-4; None when there
    are no runs."""
    if not runs:
        return None
    seeds = sorted(runs)
    mean, std = {}, {}
    for k in METRICS:
        values = [float(runs[s]["test"][k]) for s in seeds]
        mean[k] = statistics.fmean(values)
        std[k] = statistics.stdev(values) if len(values) > 1 else 0.0
    dev = [float(runs[s]["dev"]["bleu4"]) for s in seeds if "bleu4" in runs[s].get("dev", {})]
    dev_bleu4 = (statistics.fmean(dev), statistics.stdev(dev) if len(dev) > 1 else 0.0) if len(dev) == len(seeds) else None
    return Stats(seeds, mean, std, dev_bleu4)
