"""Write an embedded synthetic dataset, or videos for existing annotations, in the official layout.

:func:`generate_dataset` samples sentences and questions from a grammar, renders one video per
sample and writes exactly the files the real releases have (paths from :mod:`qbslt.data.layout`,
formats from :mod:`qbslt.data.annotations`), so everything downstream runs unchanged on it.
:func:`render_annotations` renders videos for existing annotation files (the real QA text, say).

Order of writing: frames first, then annotation files (atomic), then ``manifest.json`` (atomic,
last): a manifest means a complete dataset. Every sample's randomness comes from
``SeedSequence((seed, dataset, split, index, ...))``, so results do not depend on ``threads``
and the same seed and config give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from qbslt.data import annotations, layout
from qbslt.data.synth import SynthSample, choose_kind, csl_grammar, kind_probabilities, phoenix_grammar
from qbslt.data.synth.render import SignRenderer, stable_code

GRAMMARS = {"phoenix": phoenix_grammar, "csl": csl_grammar}
SPLITS = layout.SPLITS
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_BROADCAST = dt.date(2009, 7, 1)
CSL_SIGNERS_PER_SENTENCE = (0.5, 0.3, 0.2)  # probability of 1, 2, 3 signers of one sentence
CSL_SIGNER = re.compile(r"_(P\d+)_")
JPEG_QUALITY = 90


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


@dataclass(frozen=True)
class Video:
    """One video to render: glosses, signer, randomness, and where (or whether) frames are written."""

    name: str
    gloss: tuple[str, ...]
    signer: str
    entropy: tuple[int, ...]
    frames_dir: Path
    suffix: str  # ".png" (PHOENIX) or ".jpg" (CSL)
    write: bool  # False: only count the frames (unknown video); "empty" folders are not Videos


# --- randomness ------------------------------------------------------------------------------

def item_entropy(seed: int, dataset: str, split: str, *index: int) -> tuple[int, ...]:
    """SeedSequence entropy of one item: independent of every other item and of the thread count."""
    return (int(seed), stable_code(dataset), stable_code(split), *index)


def _rng(entropy: tuple[int, ...], purpose: int) -> np.random.Generator:
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
    rng = _rng(entropy, 0)
    sample = phoenix_grammar.sample(rng, choose_kind(rng, kinds))
    signer = f"Signer{int(rng.choice(len(weights), p=weights)) + 1:02d}"
    return Entry(_phoenix_name(rng, serial), signer, sample, sample, "frames", entropy)


def _plan_phoenix(seed: int, sizes: Mapping, kinds: np.ndarray, defects: bool) -> dict[str, list[Entry]]:
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
    rng = _rng(entropy, 0)
    sample = csl_grammar.sample(rng, choose_kind(rng, kinds))
    count = min(signers, 1 + int(rng.choice(len(CSL_SIGNERS_PER_SENTENCE), p=CSL_SIGNERS_PER_SENTENCE)))
    people = sorted(int(p) for p in rng.choice(signers, size=count, replace=False))
    return [Entry(f"S{sentence_id:06d}_P{p:04d}_T00", f"P{p:04d}", sample, sample, "frames", (*entropy, p))
            for p in people]


def _plan_csl(seed: int, sizes: Mapping, kinds: np.ndarray, defects: bool) -> dict[str, list[Entry]]:
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


# --- rendering -------------------------------------------------------------------------------

def _videos(dataset: str, root: Path, split: str, entries: Sequence[Entry]) -> list[Video]:
    """The videos of a split's entries (each name once; "empty" ones get only their folder)."""
    videos, seen = [], set()
    for entry in entries:
        if entry.name in seen or entry.video == "empty":
            continue
        seen.add(entry.name)
        videos.append(Video(entry.name, tuple(entry.sample.gloss), entry.signer, entry.entropy,
                            _frames_dir(dataset, root, split, entry.name), ".png" if dataset == "phoenix" else ".jpg",
                            write=entry.video == "frames"))
    return videos


def _frames_dir(dataset: str, root: Path, split: str, name: str) -> Path:
    if dataset == "phoenix":
        return layout.phoenix_frames_dir(root, split, name)
    return layout.csl_frames_dir(root, name)


def _frame_name(suffix: str, index: int) -> str:
    return layout.phoenix_frame_name(index) if suffix == ".png" else layout.csl_frame_name(index)


def _render_video(renderer: SignRenderer, video: Video) -> int:
    """Render one video, write its frames (unless count-only); return its frame count."""
    frames = renderer.render(video.gloss, video.signer, _rng(video.entropy, 1))
    if video.write:
        video.frames_dir.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames):
            path = video.frames_dir / _frame_name(video.suffix, index)
            if video.suffix == ".png":
                Image.fromarray(frame).save(path, format="PNG", compress_level=1)
            else:
                Image.fromarray(frame).save(path, format="JPEG", quality=JPEG_QUALITY)
    return len(frames)


def _render_all(renderer: SignRenderer, videos: Sequence[Video], threads: int, progress: bool,
                desc: str) -> dict[str, int]:
    """Render ``videos`` on a thread pool; return {name: frame count}.

    Image encoding and file writes release the GIL, drawing does not: a second thread saves ~15%.
    """
    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        counts = list(tqdm(pool.map(lambda v: _render_video(renderer, v), videos), total=len(videos),
                           desc=desc, unit="video", disable=not progress))
    return {video.name: count for video, count in zip(videos, counts)}


def _make_empty_folders(dataset: str, root: Path, plans: Mapping[str, Sequence[Entry]]) -> None:
    for split, entries in plans.items():
        for entry in entries:
            if entry.video == "empty":
                _frames_dir(dataset, root, split, entry.name).mkdir(parents=True, exist_ok=True)


# --- annotation files ------------------------------------------------------------------------

def _unique(entries: Sequence[Entry]) -> list[Entry]:
    """Entries with a known video, each name once, in order (corpus / split-file rows)."""
    seen, out = set(), []
    for entry in entries:
        if entry.video != "missing" and entry.name not in seen:
            seen.add(entry.name)
            out.append(entry)
    return out


def _write_phoenix_corpus(root: Path, plans: Mapping[str, Sequence[Entry]]) -> None:
    """Corpus files with the official header line: one row per known video."""
    for split, entries in plans.items():
        annotations.write_lines(
            layout.phoenix_corpus_path(root, split),
            [annotations.format_phoenix_corpus(e.name, e.signer, " ".join(e.sample.gloss), e.sample.translation)
             for e in _unique(entries)],
            header="|".join(annotations.PHOENIX_CORPUS_HEADER))


def _write_csl_split_file(root: Path, plans: Mapping[str, Sequence[Entry]]) -> None:
    """``split_1.txt``: every known video with its split (unknown videos are left out)."""
    annotations.write_lines(layout.csl_split_path(root),
                            [f"{e.name}|{split}" for split, entries in plans.items() for e in _unique(entries)],
                            header="|".join(annotations.CSL_SPLIT_HEADER))


def _write_phoenix_files(root: Path, qa_dir: Path, plans: Mapping[str, Sequence[Entry]]) -> None:
    _write_phoenix_corpus(root, plans)
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


def _write_csl_files(root: Path, qa_dir: Path, plans: Mapping[str, Sequence[Entry]], frames: Mapping[str, int]) -> None:
    index: dict[str, int] = {}
    for entries in plans.values():
        for entry in entries:
            index.setdefault(entry.name, len(index))
    _write_csl_split_file(root, plans)
    for split, entries in plans.items():
        annotations.write_lines(layout.qa_path(qa_dir, split),
                                [_csl_qa_line(index[e.name], e, frames.get(e.name, 0)) for e in entries],
                                final_newline=False)


# --- manifest --------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _clear(out_base: Path, root: Path, qa_dir: Path) -> None:
    """Remove a previous generation (manifest first: a half-cleared tree is never 'complete')."""
    (out_base / "manifest.json").unlink(missing_ok=True)
    for folder in (root, qa_dir):
        if folder.exists():
            shutil.rmtree(folder)


def _write_manifest(out_base: Path, manifest: dict) -> dict:
    annotations.atomic_write_text(out_base / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def _manifest(dataset: str, out_base: Path, root: Path, qa_dir: Path, seed: int, frame_size: Sequence[int],
              counts: dict, frames: int, profile: str = "embedded", **extra) -> dict:
    return {"dataset": dataset, "profile": profile, "root": str(root.relative_to(out_base)),
            "qa_dir": str(qa_dir.relative_to(out_base)), "seed": int(seed),
            "frame_size": [int(v) for v in frame_size], "counts": counts, "frames": int(frames),
            "qa_sha256": {split: _sha256(layout.qa_path(qa_dir, split)) for split in counts}, **extra}


def _split_counts(entries: Sequence[Entry], configured: int | None, frames: Mapping[str, int],
                  written: set[str]) -> dict:
    names = {e.name for e in entries}
    counts = {"qa_rows": len(entries),
              "frame_folders": len(_unique(entries)),
              "frames": sum(frames.get(n, 0) for n in names & written)}
    return {"videos": configured, **counts} if configured is not None else counts


# --- public API ------------------------------------------------------------------------------

def generate_dataset(dataset: str, out_base: Path, synthetic_cfg: dict, frame_size: tuple[int, int],
                     threads: int = 1, progress: bool = True) -> dict:
    """Generate the embedded ``dataset`` (phoenix | csl) under ``out_base``; return the manifest.

    ``synthetic_cfg`` is ``data.synthetic`` of params.yaml; ``frame_size`` is (H, W).
    """
    if dataset not in GRAMMARS:
        raise ValueError(f"unknown dataset {dataset!r} (expected phoenix or csl)")
    out_base = Path(out_base)
    root, qa_dir = layout.embedded_roots(dataset, out_base)
    _clear(out_base, root, qa_dir)
    seed, sizes = int(synthetic_cfg["seed"]), synthetic_cfg[dataset]
    kinds = kind_probabilities(synthetic_cfg["questions"])
    planner = _plan_phoenix if dataset == "phoenix" else _plan_csl
    plans = planner(seed, sizes, kinds, bool(synthetic_cfg["inject_defects"]))

    grammar = GRAMMARS[dataset]
    renderer = SignRenderer(frame_size, render_settings(synthetic_cfg), seed, grammar.GLOSS_VOCAB, grammar.HOMONYMS)
    videos = [v for split, entries in plans.items() for v in _videos(dataset, root, split, entries)]
    frames = _render_all(renderer, videos, threads, progress, desc=f"{dataset} videos")
    _make_empty_folders(dataset, root, plans)
    if dataset == "phoenix":
        _write_phoenix_files(root, qa_dir, plans)
    else:
        _write_csl_files(root, qa_dir, plans, frames)

    written = {v.name for v in videos if v.write}
    counts = {split: _split_counts(entries, int(sizes[split]), frames, written) for split, entries in plans.items()}
    return _write_manifest(out_base, _manifest(
        dataset, out_base, root, qa_dir, seed, frame_size, counts, sum(c["frames"] for c in counts.values()),
        signers=int(sizes["signers"]), defects_injected=bool(synthetic_cfg["inject_defects"])))


def render_settings(synthetic_cfg: Mapping) -> dict:
    """The renderer settings of the embedded data: ``render`` with ``hard_video`` on top (the ways real
    video is hard; :func:`render_annotations`, the realtext profile's renderer, uses ``render`` alone)."""
    return {**synthetic_cfg["render"], **(synthetic_cfg.get("hard_video") or {})}


def plan_samples(dataset: str, synthetic_cfg: Mapping) -> dict[str, list[SynthSample]]:
    """{split: samples} of the rows the question join keeps from :func:`generate_dataset`'s files,
    in file order, without rendering anything (defect rows are drawn from streams of their own,
    so they never change the regular rows). Used by ``qbslt data-stats``."""
    if dataset not in GRAMMARS:
        raise ValueError(f"unknown dataset {dataset!r} (expected phoenix or csl)")
    planner = _plan_phoenix if dataset == "phoenix" else _plan_csl
    plans = planner(int(synthetic_cfg["seed"]), synthetic_cfg[dataset], kind_probabilities(synthetic_cfg["questions"]),
                    False)
    return {split: [entry.qa for entry in entries] for split, entries in plans.items()}


def render_annotations(dataset: str, qa_files: Mapping[str, Path], out_base: Path, frame_size: tuple[int, int],
                       render_cfg: Mapping, seed: int, corpus_files: Mapping[str, Path] | None = None,
                       threads: int = 1, progress: bool = True, profile: str = "embedded") -> dict:
    """Render videos for existing annotation files (official formats) into the layout of ``out_base``.

    QA files are copied unchanged into ``qa/``. PHOENIX: with ``corpus_files`` ({split: path}),
    the corpus rows of the QA names are kept (speaker, gloss, translation), and QA names absent
    from the corpus stay unknown videos as in the real data; without, the corpus is made from the
    QA rows. CSL: the split file lists every QA name. Signers the files do not give are derived
    from a hash of the name. Every gloss renders via its hashed pattern. Returns the manifest.
    """
    if dataset not in GRAMMARS:
        raise ValueError(f"unknown dataset {dataset!r} (expected phoenix or csl)")
    out_base = Path(out_base)
    root, qa_dir = layout.embedded_roots(dataset, out_base)
    _clear(out_base, root, qa_dir)
    plans = {split: _entries_from_files(dataset, split, Path(path), (corpus_files or {}).get(split), seed)
             for split, path in qa_files.items()}
    renderer = SignRenderer(frame_size, render_cfg, seed)
    videos = [v for split, entries in plans.items() for v in _videos(dataset, root, split, entries)]
    frames = _render_all(renderer, videos, threads, progress, desc=f"{dataset} videos")
    if dataset == "phoenix":
        _write_phoenix_corpus(root, plans)
    else:
        _write_csl_split_file(root, plans)
    for split, path in qa_files.items():
        annotations.atomic_write_text(layout.qa_path(qa_dir, split), Path(path).read_text(encoding="utf-8"))

    written = {v.name for v in videos if v.write}
    counts = {split: _split_counts(entries, None, frames, written) for split, entries in plans.items()}
    return _write_manifest(out_base, _manifest(
        dataset, out_base, root, qa_dir, seed, frame_size, counts, sum(c["frames"] for c in counts.values()),
        profile=profile, source={split: str(path) for split, path in qa_files.items()}))


def _entries_from_files(dataset: str, split: str, qa_path: Path, corpus_path: Path | None, seed: int) -> list[Entry]:
    """Entries of existing QA rows: what is signed comes from the corpus row when there is one."""
    if dataset == "phoenix":
        records = annotations.read_phoenix_qa(qa_path, expected_split=split)
        corpus = {r.name: r for r in annotations.read_phoenix_corpus(corpus_path)} if corpus_path else None
    else:
        records, corpus = annotations.read_csl_qa(qa_path), None
    entries = []
    for record in records:
        qa = SynthSample(record.translation, record.gloss.split(), record.question, "given",
                         chars=record.translation if record.words is not None else None, words=record.words)
        signed, signer, video = qa, _hashed_signer(dataset, record.name), "frames"
        if corpus is not None:
            row = corpus.get(record.name)
            if row is None:
                video = "missing"
            else:
                signed, signer = replace(qa, translation=row.translation, gloss=row.orth.split()), row.speaker
        elif dataset == "csl":
            match = CSL_SIGNER.search(record.name)
            signer = match.group(1) if match else signer
        entropy = (int(seed), stable_code(dataset), stable_code(record.name))
        entries.append(Entry(record.name, signer, signed, qa, video, entropy))
    return entries


def _hashed_signer(dataset: str, name: str) -> str:
    """A signer for a name whose files give none: one of the dataset's signers, by hash."""
    if dataset == "phoenix":
        return f"Signer{stable_code('speaker:' + name) % 9 + 1:02d}"
    return f"P{stable_code('speaker:' + name) % 10:04d}"
