"""Join QA annotations with the corpus/split files and the frame store into example tables.

For each split, every QA row is either *kept* (one row of ``examples/<split>.tsv``) or
*dropped* with one reason, checked in this order:

``duplicate name``      the name already appeared earlier in the same QA file
``empty question``      the question text is empty
``unknown video``       the name is not in the split's corpus (PHOENIX) / split file (CSL)
``no frames``           the video is known but its frame store entry has no frames
``translation mismatch`` QA translation differs from the corpus translation (where the dataset
                        checks it: PHOENIX, ``check_translation`` of its object)

A row with an empty translation is refused instead (:func:`check_translations`).

The report gives per split the counts annotated/kept/dropped, every dropped row with its
source line, and two measures of how much of the answer the question gives away: the mean share
of translation words that occur in the question, and the BLEU-4 of the ``copy_question``
reference system (the question as the translation, scored by the project's evaluator at the
dataset's level). Both differ a lot between splits (PHOENIX-2014T-QA copy-question BLEU-4: dev
11.67, test 32.40), which the report shows next to each other.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from qbslt.data import annotations
from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import DATASETS
from qbslt.data.sources import RawDataset
from qbslt.errors import AnnotationError
from qbslt.eval.metrics import corpus_scores
from qbslt.eval.references import copy_question

EXAMPLE_COLUMNS = ["name", "signer", "split", "frame_offset", "num_frames", "translation", "question", "gloss"]
DROP_REASONS = ("duplicate name", "empty question", "unknown video", "no frames", "translation mismatch")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def overlap_tokens(text: str) -> list[str]:
    """Lower-cased word tokens without punctuation (PHOENIX: words; CSL: the word segmentation)."""
    return _PUNCT.sub(" ", text.lower()).split()


def question_overlap(translation: str, question: str) -> float:
    """Share of translation tokens that also occur in the question (0 for an empty translation)."""
    words = overlap_tokens(translation)
    if not words:
        return 0.0
    in_question = set(overlap_tokens(question))
    return sum(w in in_question for w in words) / len(words)


def copy_question_bleu4(questions: list[str], translations: list[str], level: str) -> float | None:
    """Corpus BLEU-4 of the copy_question reference system (None for an empty split)."""
    if not questions:
        return None
    return round(corpus_scores(copy_question(questions, level), translations, level)["bleu4"], 2)


def drop_reason(record: annotations.QARecord, seen: set[str], videos: dict, lengths: dict[str, int],
                check_translation: bool) -> str | None:
    if record.name in seen:
        return "duplicate name"
    if not record.question:
        return "empty question"
    if record.name not in videos:
        return "unknown video"
    if lengths.get(record.name, 0) == 0:
        return "no frames"
    corpus_translation = videos[record.name]["translation"]
    if check_translation and corpus_translation is not None and corpus_translation != record.translation:
        return "translation mismatch"
    return None


def check_translations(records: list[annotations.QARecord]) -> None:
    """AnnotationError at the first QA row whose translation is empty (after stripping), with the count.

    Refused, not dropped: the translation is the target, so such a row is no sample, and the published
    annotations have none (PHOENIX-2014T-QA train/dev/test, CSL-Daily-QA dev/test: 0 rows), so one
    means a damaged or foreign file. Dropping it would also change the corpus the test scores are on,
    unlike the drop reasons above (the published data's own quirks, which the data report lists)."""
    empty = [r for r in records if not r.translation.strip()]
    if empty:
        path, _, line = empty[0].source.rpartition(":")
        where = (path, int(line)) if line.isdigit() else (empty[0].source, None)
        raise AnnotationError(*where, f"empty translation (sample {empty[0].name}; {len(empty)} row(s) of this "
                                      f"file have none): fix or remove the row(s)")


def join_split(raw: RawDataset, split: str, frame_index: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Return (examples table, report entry) of one split."""
    records = raw.qa_records(split)
    check_translations(records)
    videos = raw.videos(split)
    lengths = dict(zip(frame_index["name"], frame_index["length"]))
    offsets = dict(zip(frame_index["name"], frame_index["offset"]))
    seen: set[str] = set()
    kept, dropped = [], []
    for record in records:
        reason = drop_reason(record, seen, videos, lengths, check_translation=raw.spec.check_translation)
        seen.add(record.name)
        if reason:
            dropped.append({"source": record.source, "name": record.name, "reason": reason})
            continue
        # CSL: the word segmentation is the text the overlap statistic is defined on.
        kept.append({"name": record.name, "signer": videos[record.name]["signer"], "split": split,
                     "frame_offset": int(offsets[record.name]), "num_frames": int(lengths[record.name]),
                     "translation": record.translation, "question": record.question, "gloss": record.gloss,
                     "_overlap_text": record.words if record.words is not None else record.translation})
    table = pd.DataFrame(kept, columns=EXAMPLE_COLUMNS + ["_overlap_text"])
    overlaps = [question_overlap(t, q) for t, q in zip(table["_overlap_text"], table["question"])]
    counts = Counter(d["reason"] for d in dropped)
    report = {
        "annotated": len(records),
        "kept": len(table),
        "dropped": len(dropped),
        "dropped_by_reason": {reason: counts.get(reason, 0) for reason in DROP_REASONS},
        "dropped_rows": dropped,
        "videos_in_split": len(videos),
        "frames_kept": int(table["num_frames"].sum()) if len(table) else 0,
        "mean_question_overlap": round(sum(overlaps) / len(overlaps), 4) if overlaps else None,
        "copy_question_bleu4": copy_question_bleu4(list(table["question"]), list(table["translation"]),
                                                   raw.spec.eval_level),
        "signers": int(table["signer"].nunique()) if len(table) else 0,
    }
    return table.drop(columns="_overlap_text"), report


def write_examples(table: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, table.to_csv(sep="\t", index=False))


def read_examples(path: Path | str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).astype(
        {"frame_offset": int, "num_frames": int})


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render_report_md(dataset: str, report: dict) -> str:
    level = DATASETS[dataset].eval_level if dataset in DATASETS else "?"
    lines = [f"# Data report: {dataset}", "",
             "| split | annotated | kept | dropped | " + " | ".join(DROP_REASONS)
             + " | signers | frames | question overlap | copy-question BLEU-4 |",
             "|---" * (8 + len(DROP_REASONS)) + "|"]
    for split, entry in report["splits"].items():
        reasons = " | ".join(str(entry["dropped_by_reason"][r]) for r in DROP_REASONS)
        lines.append(f"| {split} | {entry['annotated']} | {entry['kept']} | {entry['dropped']} | {reasons} | "
                     f"{entry['signers']} | {entry['frames_kept']} | {_fmt(entry['mean_question_overlap'], '.2f')} | "
                     f"{_fmt(entry['copy_question_bleu4'], '.2f')} |")
    lines += ["", "Question overlap: mean share of translation words that also occur in the question "
              "(lower-cased, punctuation removed; CSL on its word segmentation). "
              "Copy-question BLEU-4: corpus BLEU-4 of the question taken as the translation "
              f"(the `copy_question` reference system, {level} level), i.e. how much "
              "BLEU the question alone earns; a large gap between dev and test means that checkpoints "
              "selected on dev and the scores reported on test are in different regimes.", ""]
    for split, entry in report["splits"].items():
        empty = entry["dropped_by_reason"]["empty question"]
        if empty:
            lines += [f"**{split}**: {empty:,} of the {entry['annotated']:,} annotated rows have an empty question "
                      f"and are dropped, so our {split} scores are on the {entry['kept']:,} kept rows; scores on "
                      f"all {entry['annotated']:,} rows (as the paper's presumably are) are on a corpus that differs "
                      f"by {empty / entry['annotated']:.2%} of its rows.", ""]
    dropped = [(split, d) for split, e in report["splits"].items() for d in e["dropped_rows"]]
    if dropped:
        lines += ["## Dropped rows", "", "| split | source | name | reason |", "|---|---|---|---|"]
        lines += [f"| {s} | `{d['source']}` | {d['name']} | {d['reason']} |" for s, d in dropped]
        lines.append("")
    return "\n".join(lines)


def write_report(dataset: str, report: dict, json_path: Path, md_path: Path) -> None:
    atomic_write_text(json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(md_path, render_report_md(dataset, report))
