"""Parsers and writers for the official annotation formats of both datasets.

Formats (see README "Data formats"):

* PHOENIX-2014T-QA (GBT-code ``dialogue_pheonix/{split}.txt``), one sample a line::

      <split>/<name> <translation>%<question>%<gloss>

* PHOENIX-2014T corpus ``PHOENIX-2014-T.{split}.corpus.csv``, pipe-separated, with or
  without the header line ``name|video|start|end|speaker|orth|translation``.
* CSL-Daily-QA (GBT-code ``dialogue_csldaily/{split}.txt``), pipe-separated, trailing ``|``
  optional::

      <index>|<name>|<num_frames>|<gloss>|<chars>|<words>|<question>|

* CSL-Daily ``sentence_label/split_1.txt``: header ``name|split`` then ``<name>|<split>``.

Structural problems raise :class:`AnnotationError` (``FILE:LINE: what``). Semantically
unusable rows (an empty question, say) are parsed and left to the join step to drop and report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from qbslt.atomic import atomic_write_text
from qbslt.errors import AnnotationError

SPLITS = ("train", "dev", "test")
PHOENIX_CORPUS_HEADER = ("name", "video", "start", "end", "speaker", "orth", "translation")
CSL_SPLIT_HEADER = ("name", "split")


@dataclass(frozen=True)
class QARecord:
    """One question-annotated sample, common to both datasets.

    ``translation`` is the spoken sentence as whitespace tokens: lower-case words for PHOENIX,
    single characters for CSL (``words`` keeps the CSL word segmentation).
    """

    name: str
    translation: str
    question: str
    gloss: str
    source: str  # "path:line", for messages
    split: str | None = None  # PHOENIX: from the "<split>/" prefix
    index: str | None = None  # CSL: running index column
    num_frames: int | None = None  # CSL: frame count column
    words: str | None = None  # CSL: translation split into words


@dataclass(frozen=True)
class CorpusRecord:
    """One row of a PHOENIX-2014T corpus file."""

    name: str
    video: str
    start: str
    end: str
    speaker: str
    orth: str
    translation: str
    source: str


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without newline), skipping blank lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnnotationError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


def _norm(text: str) -> str:
    return " ".join(text.split())


def read_phoenix_qa(path: str | os.PathLike, expected_split: str | None = None) -> list[QARecord]:
    """Parse a PHOENIX-2014T-QA file. ``expected_split`` checks every line's split prefix."""
    path = Path(path)
    records = []
    for number, line in _lines(path):
        head, sep, rest = line.partition(" ")
        if not sep:
            raise AnnotationError(path, number, "expected '<split>/<name> <translation>%<question>%<gloss>': no space after the name")
        split, slash, name = head.partition("/")
        if not slash or not name:
            raise AnnotationError(path, number, f"expected '<split>/<name>' at the start, got {head!r}")
        if split not in SPLITS:
            raise AnnotationError(path, number, f"bad split prefix {split!r} (expected one of {', '.join(SPLITS)})")
        if expected_split is not None and split != expected_split:
            raise AnnotationError(path, number, f"bad split prefix {split!r} in the {expected_split} file")
        fields = rest.split("%")
        if len(fields) != 3:
            raise AnnotationError(path, number, f"expected 3 '%'-separated fields (translation%question%gloss), found {len(fields)}")
        translation, question, gloss = (_norm(f) for f in fields)
        records.append(QARecord(name=name, split=split, translation=translation, question=question,
                                gloss=gloss, source=f"{path}:{number}"))
    return records


def read_phoenix_corpus(path: str | os.PathLike) -> list[CorpusRecord]:
    """Parse a PHOENIX-2014T corpus file, with or without its header line."""
    path = Path(path)
    records = []
    for number, line in _lines(path):
        fields = line.split("|")
        if number == 1 and tuple(f.strip() for f in fields) == PHOENIX_CORPUS_HEADER:
            continue
        if len(fields) != len(PHOENIX_CORPUS_HEADER):
            raise AnnotationError(path, number, f"expected {len(PHOENIX_CORPUS_HEADER)} '|'-separated fields "
                                                f"({'|'.join(PHOENIX_CORPUS_HEADER)}), found {len(fields)}")
        name, video, start, end, speaker, orth, translation = (f.strip() for f in fields)
        if not name:
            raise AnnotationError(path, number, "empty name field")
        records.append(CorpusRecord(name=name, video=video, start=start, end=end, speaker=speaker,
                                    orth=_norm(orth), translation=_norm(translation), source=f"{path}:{number}"))
    return records


def read_csl_qa(path: str | os.PathLike) -> list[QARecord]:
    """Parse a CSL-Daily-QA file (trailing '|' optional)."""
    path = Path(path)
    records = []
    for number, line in _lines(path):
        fields = line.split("|")
        if fields and fields[-1] == "" and len(fields) == 8:
            fields = fields[:-1]
        if len(fields) != 7:
            raise AnnotationError(path, number, "expected 7 '|'-separated fields "
                                                f"(index|name|num_frames|gloss|chars|words|question), found {len(fields)}")
        index, name, num_frames, gloss, chars, words, question = (f.strip() for f in fields)
        if not name:
            raise AnnotationError(path, number, "empty name field")
        try:
            frames = int(num_frames)
        except ValueError:
            raise AnnotationError(path, number, f"num_frames must be an integer, got {num_frames!r}") from None
        records.append(QARecord(name=name, index=index, num_frames=frames, gloss=_norm(gloss),
                                translation=_norm(chars), words=_norm(words), question=_norm(question),
                                source=f"{path}:{number}"))
    return records


def read_csl_split(path: str | os.PathLike) -> dict[str, str]:
    """Parse CSL-Daily ``split_1.txt`` into {name: split}."""
    path = Path(path)
    splits: dict[str, str] = {}
    for number, line in _lines(path):
        fields = [f.strip() for f in line.split("|")]
        if number == 1 and tuple(fields) == CSL_SPLIT_HEADER:
            continue
        if len(fields) != 2:
            raise AnnotationError(path, number, f"expected 'name|split', found {len(fields)} fields")
        name, split = fields
        if split not in SPLITS:
            raise AnnotationError(path, number, f"bad split {split!r} (expected one of {', '.join(SPLITS)})")
        splits[name] = split
    return splits


# --- writers (used by the embedded generator; atomic) ---------------------------------------

def format_phoenix_qa(split: str, name: str, translation: str, question: str, gloss: str) -> str:
    return f"{split}/{name} {translation}%{question}%{gloss}"


def format_phoenix_corpus(name: str, speaker: str, orth: str, translation: str) -> str:
    return f"{name}|{name}/*.png|-1|-1|{speaker}|{orth}|{translation}"


def format_csl_qa(index: int, name: str, num_frames: int, gloss: str, chars: str, words: str, question: str) -> str:
    return f"{index:06d}|{name}|{num_frames}|{gloss}|{chars}|{words}|{question}|"


def write_lines(path: str | os.PathLike, lines: Iterable[str], header: str | None = None,
                final_newline: bool = True) -> None:
    body = "\n".join(([header] if header else []) + list(lines))
    atomic_write_text(path, body + ("\n" if final_newline and body else ""))
