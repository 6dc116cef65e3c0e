"""Score the trivial reference systems with the same evaluator and result contract as a variant.

``copy_question`` and ``retrieve`` read only the example tables (no video, no training); their
results go to ``results/<profile>/metrics/<dataset>/<system>/seed0.json`` and the matching predictions
files (test: ``seed0.tsv``, dev: ``seed0.dev.tsv``), so the tables read them like any variant. They show how much of a score the question
alone explains.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qbslt.atomic import atomic_write_json, atomic_write_text
from qbslt.data.datasets import get_dataset
from qbslt.data.join import read_examples
from qbslt.eval.metrics import corpus_scores
from qbslt.eval.references import copy_question, retrieve

SYSTEMS = ("copy_question", "retrieve")


def reference_hypotheses(system: str, train: pd.DataFrame, split: pd.DataFrame, level: str) -> list[str]:
    if system == "copy_question":
        return copy_question(list(split["question"]), level)
    if system == "retrieve":
        return retrieve(list(train["question"]), list(train["translation"]), list(split["question"]), level)
    raise ValueError(f"unknown reference system {system!r} (expected one of {', '.join(SYSTEMS)})")


def run_reference(system: str, dataset: str, examples_dir: Path, metrics_path: Path, predictions_path: Path,
                  dev_predictions_path: Path) -> dict:
    """Score ``system`` on dev and test; writes the metrics and the test and dev predictions (TSV: name,
    reference, question, hypothesis)."""
    level = get_dataset(dataset).eval_level
    train = read_examples(examples_dir / "train.tsv")
    scores = {}
    for split, path in (("dev", dev_predictions_path), ("test", predictions_path)):
        table = read_examples(examples_dir / f"{split}.tsv")
        hyps = reference_hypotheses(system, train, table, level)
        scores[split] = {k: round(v, 2) for k, v in corpus_scores(hyps, list(table["translation"]), level).items()}
        predictions = pd.DataFrame({"name": table["name"], "reference": table["translation"],
                                    "question": table["question"], "hypothesis": hyps})
        atomic_write_text(path, predictions.to_csv(sep="\t", index=False))
    metrics = {"dataset": dataset, "variant": system, "seed": 0, **scores, "epochs": 0, "best_epoch": None,
               "train_seconds": 0.0, "samples_per_second": None, "parameters": 0, "config_hash": None}
    atomic_write_json(metrics_path, metrics)
    return metrics
