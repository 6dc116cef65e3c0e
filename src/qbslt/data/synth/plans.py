"""What the embedded generator plans and writes for each dataset, before any video is rendered.

A plan is ``{split: [Entry]}``: the QA rows of each split, with the video behind each row and
the randomness of both. The planners (:func:`plan_phoenix`, :func:`plan_csl`) and the writers of
the official annotation files are the per-dataset hooks that :mod:`qbslt.data.datasets` puts on
each dataset object; :mod:`qbslt.data.synth.generate` renders and writes through them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Callable, Mapping, Sequence

import numpy as np

from qbslt.data import annotations, layout
from qbslt.data.synth import SynthSample, choose_kind, csl_grammar, phoenix_grammar
from qbslt.data.synth.render import stable_code

SPLITS = layout.SPLITS
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_BROADCAST = dt.date(2009, 7, 1)
CSL_SIGNERS_PER_SENTENCE = (0.5, 0.3, 0.2)  # probability of 1, 2, 3 signers of one sentence


@dataclass(frozen=True)
class Entry:
    """One QA row of a split, and the video behind it.

    ``sample`` is what is signed (video, corpus row); ``qa`` is what the QA row says (it differs
    only for the injected translation-mismatch and empty-question defects). ``video`` is
    ``"frames"``, ``"empty"`` (folder without frames) or ``"missing"`` (unknown video: no folder,
    not in the corpus / split file).
    """

    name: str
    signer: str
    sample: SynthSample
    qa: SynthSample
    video: str
    entropy: tuple[int, ...]


# --- randomness ------------------------------------------------------------------------------

def item_entropy(seed: int, dataset: str, split: str, *index: int) -> tuple[int, ...]:
    """SeedSequence entropy of one item: independent of every other item and of the thread count."""
    return (int(seed), stable_code(dataset), stable_code(split), *index)


def item_rng(entropy: tuple[int, ...], purpose: int) -> np.random.Generator:
    """Separate streams for planning (0) and rendering (1) of the same item."""
    return np.random.default_rng(np.random.SeedSequence((*entropy, purpose)))


def _defect_rng(seed: int, dataset: str, split: str) -> np.random.Generator:
    """Where a split's defect rows go (a stream of its own, so the regular rows do not move)."""
    return np.random.default_rng([int(seed), stable_code(dataset), stable_code(split), stable_code("defects")])


# --- planning: PHOENIX -----------------------------------------------------------------------

def _phoenix_name(rng: np.random.Generator, serial: int) -> str:
    """A name in the real style, e.g. ``05March_2011_Saturday_tagesschau-123`` (serial: unique)."""
    day = FIRST_BROADCAST + dt.timedelta(days=int(rng.integers(0, 900)))
    show = "tagesschau" if rng.random() < 0.75 else "heute"
    return f"{day.day:02d}{MONTHS[day.month - 1]}_{day.year}_{WEEKDAYS[day.weekday()]}_{show}-{serial}"


def _signer_weights(seed: int, dataset: str, signers: int) -> np.ndarray:
    """Unequal signer shares, as in the real corpora (fixed per seed and dataset)."""
    return np.random.default_rng([int(seed), stable_code(dataset), stable_code("signers")]).dirichlet(
        np.full(signers, 2.0))


def _phoenix_entry(seed: int, split: str, index: int, serial: int, kinds: np.ndarray, weights: np.ndarray) -> Entry:
    entropy = item_entropy(seed, "phoenix", split, index)
    rng = item_rng(entropy, 0)
    sample = phoenix_grammar.sample(rng, choose_kind(rng, kinds))
    signer = f"Signer{int(rng.choice(len(weights), p=weights)) + 1:02d}"
    return Entry(_phoenix_name(rng, serial), signer, sample, sample, "frames", entropy)


def plan_phoenix(seed: int, sizes: Mapping, kinds: np.ndarray, defects: bool) -> dict[str, list[Entry]]:
    weights = _signer_weights(seed, "phoenix", int(sizes["signers"]))
    plans, serial = {}, 1
    for split in SPLITS:
        n = int(sizes[split])
        entries = [_phoenix_entry(seed, split, i, serial + i, kinds, weights) for i in range(n)]
        if defects:
            extra = [_phoenix_entry(seed, split, n + k, serial + n + k, kinds, weights) for k in range(4)]
            entries = _phoenix_defects(entries, extra, _defect_rng(seed, "phoenix", split))
        plans[split] = entries
        serial += n + 4
    return plans


def _phoenix_defects(entries: list[Entry], extra: list[Entry], rng: np.random.Generator) -> list[Entry]:
    """Insert one duplicate line, then unknown video, no frames, translation mismatch, empty question."""
    unknown, no_frames, mismatch, empty_question = extra
    words = mismatch.sample.translation.split()
    bad = [replace(unknown, video="missing"),
           replace(no_frames, video="empty"),
           replace(mismatch, qa=replace(mismatch.sample, translation=" ".join(words[:-1]))),
           replace(empty_question, qa=replace(empty_question.sample, question=""))]
    entries = list(entries)
    original = int(rng.integers(len(entries)))
    entries.insert(original + 1, entries[original])
    for entry in bad:
        entries.insert(int(rng.integers(len(entries) + 1)), entry)
    return entries


# --- planning: CSL ---------------------------------------------------------------------------

def _csl_sentence(seed: int, split: str, index: int, sentence_id: int, kinds: np.ndarray,
                  signers: int) -> list[Entry]:
    """One sentence and the entries of the 1-3 signers who sign it (``S<id>_P<signer>_T00``)."""
    entropy = item_entropy(seed, "csl", split, index)
    rng = item_rng(entropy, 0)
    sample = csl_grammar.sample(rng, choose_kind(rng, kinds))
    count = min(signers, 1 + int(rng.choice(len(CSL_SIGNERS_PER_SENTENCE), p=CSL_SIGNERS_PER_SENTENCE)))
    people = sorted(int(p) for p in rng.choice(signers, size=count, replace=False))
    return [Entry(f"S{sentence_id:06d}_P{p:04d}_T00", f"P{p:04d}", sample, sample, "frames", (*entropy, p))
            for p in people]


def plan_csl(seed: int, sizes: Mapping, kinds: np.ndarray, defects: bool) -> dict[str, list[Entry]]:
    signers = int(sizes["signers"])
    plans, sentence_id = {}, 0
    for split in SPLITS:
        n, entries, index = int(sizes[split]), [], 0
        while len(entries) < n:
            entries += _csl_sentence(seed, split, index, sentence_id, kinds, signers)[: n - len(entries)]
            index, sentence_id = index + 1, sentence_id + 1
        if defects:
            extra = []
            for _ in range(_csl_empty_questions(split) + 1):
                extra.append(_csl_sentence(seed, split, index, sentence_id, kinds, signers)[0])
                index, sentence_id = index + 1, sentence_id + 1
            entries = _csl_defects(entries, extra, _defect_rng(seed, "csl", split))
        plans[split] = entries
    return plans


def _csl_empty_questions(split: str) -> int:
    """Like the real files: one empty question in dev, two in test (one in train)."""
    return 2 if split == "test" else 1


def _csl_defects(entries: list[Entry], extra: list[Entry], rng: np.random.Generator) -> list[Entry]:
    """A duplicate line after its original; at the end, empty questions and one unknown video."""
    *empty_question, unknown = extra
    entries = list(entries)
    original = int(rng.integers(len(entries)))
    entries.insert(original + 1, entries[original])
    entries += [replace(e, qa=replace(e.sample, question="")) for e in empty_question]
    entries.append(replace(unknown, video="missing"))
    return entries


# --- annotation files ------------------------------------------------------------------------

def unique_entries(entries: Sequence[Entry]) -> list[Entry]:
    """Entries with a known video, each name once, in order (corpus / split-file rows)."""
    seen, out = set(), []
    for entry in entries:
        if entry.video != "missing" and entry.name not in seen:
            seen.add(entry.name)
            out.append(entry)
    return out


def write_phoenix_corpus(root: Path, plans: Mapping[str, Sequence[Entry]]) -> None:
    """Corpus files with the official header line: one row per known video."""
    for split, entries in plans.items():
        annotations.write_lines(
            layout.phoenix_corpus_path(root, split),
            [annotations.format_phoenix_corpus(e.name, e.signer, " ".join(e.sample.gloss), e.sample.translation)
             for e in unique_entries(entries)],
            header="|".join(annotations.PHOENIX_CORPUS_HEADER))


def write_csl_split_file(root: Path, plans: Mapping[str, Sequence[Entry]]) -> None:
    """``split_1.txt``: every known video with its split (unknown videos are left out)."""
    annotations.write_lines(layout.csl_split_path(root),
                            [f"{e.name}|{split}" for split, entries in plans.items() for e in unique_entries(entries)],
                            header="|".join(annotations.CSL_SPLIT_HEADER))


def write_phoenix_files(root: Path, qa_dir: Path, plans: Mapping[str, Sequence[Entry]],
                        frames: Mapping[str, int]) -> None:
    """Corpus and QA files (the PHOENIX QA rows carry no frame count, so ``frames`` is unused)."""
    write_phoenix_corpus(root, plans)
    for split, entries in plans.items():
        # Like the real QA files: no newline after the last line.
        annotations.write_lines(
            layout.qa_path(qa_dir, split),
            [annotations.format_phoenix_qa(split, e.name, e.qa.translation, e.qa.question, " ".join(e.qa.gloss))
             for e in entries],
            final_newline=False)


def _csl_qa_line(index: int, entry: Entry, num_frames: int) -> str:
    qa = entry.qa
    line = annotations.format_csl_qa(index, entry.name, num_frames, " ".join(qa.gloss), qa.chars, qa.words, qa.question)
    # The real rows with an empty question lack the trailing '|'.
    return line[:-1] if not qa.question else line


def write_csl_files(root: Path, qa_dir: Path, plans: Mapping[str, Sequence[Entry]], frames: Mapping[str, int]) -> None:
    index: dict[str, int] = {}
    for entries in plans.values():
        for entry in entries:
            index.setdefault(entry.name, len(index))
    write_csl_split_file(root, plans)
    for split, entries in plans.items():
        annotations.write_lines(layout.qa_path(qa_dir, split),
                                [_csl_qa_line(index[e.name], e, frames.get(e.name, 0)) for e in entries],
                                final_newline=False)


# --- signers ---------------------------------------------------------------------------------

def phoenix_hashed_signer(name: str) -> str:
    """A signer for a name whose files give none: one of the dataset's signers, by hash."""
    return f"Signer{stable_code('speaker:' + name) % 9 + 1:02d}"


def csl_hashed_signer(name: str) -> str:
    """As :func:`phoenix_hashed_signer`, in CSL-Daily's signer names."""
    return f"P{stable_code('speaker:' + name) % 10:04d}"


@dataclass(frozen=True)
class SyntheticHooks:
    """How the embedded generator makes one dataset (the ``synthetic`` field of a dataset object)."""

    grammar: ModuleType  # its GLOSS_VOCAB and HOMONYMS are the renderer's signs
    # (seed, data.synthetic.<dataset>, question-kind probabilities, inject defects) -> {split: [Entry]}
    plan: Callable[[int, Mapping, np.ndarray, bool], dict[str, list[Entry]]]
    # (release root, QA folder, plans, {name: frame count}): every annotation file of the release
    write_files: Callable[[Path, Path, Mapping[str, Sequence[Entry]], Mapping[str, int]], None]
    # (release root, plans): only the file listing the videos (the QA files are given, see render_annotations)
    write_video_list: Callable[[Path, Mapping[str, Sequence[Entry]]], None]
    # a name -> one of the dataset's signers, for names whose files give none
    hashed_signer: Callable[[str], str]
