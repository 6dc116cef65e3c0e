"""Write an embedded synthetic dataset, or videos for existing annotations, in the official layout.

:func:`generate_dataset` samples sentences and questions from a grammar, renders one video per
sample and writes exactly the files the real releases have (paths and per-dataset hooks from the
dataset's object, :mod:`qbslt.data.datasets`; plans and annotation writers in
:mod:`qbslt.data.synth.plans`), so everything downstream runs unchanged on it.
:func:`render_annotations` renders videos for existing annotation files (the real QA text, say).

Order of writing: frames first, then annotation files (atomic), then ``manifest.json`` (atomic,
last): a manifest means a complete dataset. A generator replaces only what it wrote: each folder it
creates holds a marker (``.qbslt-generated``), and a folder without one that holds files is refused,
untouched. Every sample's randomness comes from
``SeedSequence((seed, dataset, split, index, ...))``, so results do not depend on ``threads``
and the same seed and config give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from qbslt.atomic import atomic_write_text
from qbslt.data import layout
from qbslt.data.datasets import DatasetSpec, get_dataset
from qbslt.data.keypoints import RENDERED_NAME
from qbslt.data.settings import SyntheticSettings
from qbslt.data.synth import SynthSample, kind_probabilities
from qbslt.data.synth.plans import Entry, item_rng, unique_entries
from qbslt.data.synth.render import SEGMENTS_NAME, SignRenderer, stable_code
from qbslt.errors import QbsltError

SPLITS = layout.SPLITS
JPEG_QUALITY = 90
MANIFEST_NAME = "manifest.json"
MARKER_NAME = ".qbslt-generated"  # in each folder a generator made: only those are ever removed


class ForeignFilesError(QbsltError):
    """A folder a generator would replace holds files it did not write (message names the folder)."""


@dataclass(frozen=True)
class Video:
    """One video to render: glosses, signer, randomness, and where (or whether) frames are written."""

    name: str
    gloss: tuple[str, ...]
    signer: str
    entropy: tuple[int, ...]
    frames_dir: Path
    frame_name: Callable[[int], str]  # 0-based index -> file name; its suffix picks the image format
    write: bool  # False: only count the frames (unknown video); "empty" folders are not Videos


# --- rendering -------------------------------------------------------------------------------

def _videos(spec: DatasetSpec, root: Path, split: str, entries: Sequence[Entry]) -> list[Video]:
    """The videos of a split's entries (each name once; "empty" ones get only their folder)."""
    videos, seen = [], set()
    for entry in entries:
        if entry.name in seen or entry.video == "empty":
            continue
        seen.add(entry.name)
        videos.append(Video(entry.name, tuple(entry.sample.gloss), entry.signer, entry.entropy,
                            spec.frames_dir(root, split, entry.name), spec.frame_name, write=entry.video == "frames"))
    return videos


def _render_video(renderer: SignRenderer, video: Video) -> int:
    """Render one video, write its frames and, beside them, where the renderer drew the body and the
    hands (``keypoints.npy``, :mod:`qbslt.data.keypoints`) and when each gloss is signed
    (``segments.tsv``: gloss, start, end -- frames ``start <= t < end`` of the written frames, in
    gloss order) unless count-only; return its frame count."""
    frames, keypoints, segments = renderer.render_annotated(video.gloss, video.signer, item_rng(video.entropy, 1))
    if video.write:
        video.frames_dir.mkdir(parents=True, exist_ok=True)
        np.save(video.frames_dir / RENDERED_NAME, keypoints)
        write_segments(video.frames_dir / SEGMENTS_NAME, segments)
        for index, frame in enumerate(frames):
            path = video.frames_dir / video.frame_name(index)
            if path.suffix == ".png":
                Image.fromarray(frame).save(path, format="PNG", compress_level=1)
            else:
                Image.fromarray(frame).save(path, format="JPEG", quality=JPEG_QUALITY)
    return len(frames)


def write_segments(path: Path, segments: Sequence[tuple[str, int, int]]) -> None:
    """A video's gloss segments as TSV (header gloss, start, end; end exclusive)."""
    rows = "".join(f"{gloss}\t{start}\t{end}\n" for gloss, start, end in segments)
    atomic_write_text(path, "gloss\tstart\tend\n" + rows)


def _render_all(renderer: SignRenderer, videos: Sequence[Video], threads: int, progress: bool,
                desc: str) -> dict[str, int]:
    """Render ``videos`` on a thread pool; return {name: frame count}.

    Image encoding and file writes release the GIL, drawing does not: a second thread saves ~15%.
    """
    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        counts = list(tqdm(pool.map(lambda v: _render_video(renderer, v), videos), total=len(videos),
                           desc=desc, unit="video", disable=not progress))
    return {video.name: count for video, count in zip(videos, counts)}


def _make_empty_folders(spec: DatasetSpec, root: Path, plans: Mapping[str, Sequence[Entry]]) -> None:
    for split, entries in plans.items():
        for entry in entries:
            if entry.video == "empty":
                spec.frames_dir(root, split, entry.name).mkdir(parents=True, exist_ok=True)


# --- manifest --------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(path: Path) -> dict | None:
    """A generator's manifest at ``path``, or None (absent, or not one)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and {"dataset", "root", "qa_dir"} <= manifest.keys() else None


def _ours(folder: Path, out_base: Path) -> bool:
    """Whether a generator may remove ``folder``: it holds our marker, is empty, or is named by the
    manifest beside it (trees generated before the marker existed)."""
    if folder.is_symlink() or not folder.is_dir():
        return False  # a generator never makes a link or a file at these paths
    if (folder / MARKER_NAME).is_file() or not any(folder.iterdir()):
        return True
    manifest = _read_manifest(out_base / MANIFEST_NAME)
    return manifest is not None and str(folder.relative_to(out_base)) in (manifest["root"], manifest["qa_dir"])


def _clear(out_base: Path, root: Path, qa_dir: Path, generator: str) -> None:
    """Remove a previous generation (manifest first: a half-cleared tree is never 'complete') and
    make the folders anew, marked as ``generator``'s; refuse, removing nothing, if any of them holds
    files no generator wrote."""
    manifest = out_base / MANIFEST_NAME
    foreign = [folder for folder in (root, qa_dir)
               if (folder.exists() or folder.is_symlink()) and not _ours(folder, out_base)]
    if (manifest.exists() or manifest.is_symlink()) and _read_manifest(manifest) is None:
        foreign.append(manifest)
    if foreign:
        raise ForeignFilesError(f"{', '.join(map(str, foreign))}: not written by a qbslt generator (no {MARKER_NAME} "
                                f"marker); nothing was removed: move it away or write the dataset elsewhere")
    manifest.unlink(missing_ok=True)
    for folder in (root, qa_dir):
        if folder.exists():
            shutil.rmtree(folder)
        # The marker comes first, so an interrupted generation is still recognised as ours.
        folder.mkdir(parents=True)
        atomic_write_text(folder / MARKER_NAME, f"{generator}\n")


def _write_manifest(out_base: Path, manifest: dict) -> dict:
    atomic_write_text(out_base / MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
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
              "frame_folders": len(unique_entries(entries)),
              "frames": sum(frames.get(n, 0) for n in names & written)}
    return {"videos": configured, **counts} if configured is not None else counts


# --- public API ------------------------------------------------------------------------------

def generate_dataset(dataset: str, out_base: Path, synthetic_cfg: SyntheticSettings | Mapping,
                     frame_size: tuple[int, int],
                     threads: int = 1, progress: bool = True) -> dict:
    """Generate the embedded ``dataset`` (phoenix | csl) under ``out_base``; return the manifest.

    ``synthetic_cfg`` is ``data.synthetic`` of params.yaml; ``frame_size`` is (H, W).
    """
    synthetic = SyntheticSettings.of(synthetic_cfg, "data.synthetic")
    spec = get_dataset(dataset)
    hooks = spec.synthetic()
    out_base = Path(out_base)
    root, qa_dir = spec.embedded_roots(out_base)
    _clear(out_base, root, qa_dir, f"qbslt generate_dataset {dataset}")
    seed, sizes = synthetic.seed, synthetic.sizes(dataset).to_dict()
    kinds = kind_probabilities(synthetic.questions.to_dict())
    plans = hooks.plan(seed, sizes, kinds, synthetic.inject_defects)

    grammar = hooks.grammar
    renderer = SignRenderer(frame_size, synthetic.video_settings(), seed, grammar.GLOSS_VOCAB, grammar.HOMONYMS)
    videos = [v for split, entries in plans.items() for v in _videos(spec, root, split, entries)]
    frames = _render_all(renderer, videos, threads, progress, desc=f"{dataset} videos")
    _make_empty_folders(spec, root, plans)
    hooks.write_files(root, qa_dir, plans, frames)

    written = {v.name for v in videos if v.write}
    counts = {split: _split_counts(entries, int(sizes[split]), frames, written) for split, entries in plans.items()}
    return _write_manifest(out_base, _manifest(
        dataset, out_base, root, qa_dir, seed, frame_size, counts, sum(c["frames"] for c in counts.values()),
        signers=int(sizes["signers"]), defects_injected=synthetic.inject_defects))


def render_settings(synthetic_cfg: SyntheticSettings | Mapping) -> dict:
    """The renderer settings of the embedded data: ``render`` with ``hard_video`` on top (the ways real
    video is hard; :func:`render_annotations`, the realtext profile's renderer, uses ``render`` alone)."""
    return SyntheticSettings.of(synthetic_cfg, "data.synthetic").video_settings()


def plan_samples(dataset: str, synthetic_cfg: SyntheticSettings | Mapping) -> dict[str, list[SynthSample]]:
    """{split: samples} of the rows the question join keeps from :func:`generate_dataset`'s files,
    in file order, without rendering anything (defect rows are drawn from streams of their own,
    so they never change the regular rows). Used by ``qbslt data-stats``."""
    synthetic = SyntheticSettings.of(synthetic_cfg, "data.synthetic")
    plans = get_dataset(dataset).synthetic().plan(synthetic.seed, synthetic.sizes(dataset).to_dict(),
                                                  kind_probabilities(synthetic.questions.to_dict()), False)
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
    spec = get_dataset(dataset)
    hooks = spec.synthetic()
    out_base = Path(out_base)
    root, qa_dir = spec.embedded_roots(out_base)
    for source in map(Path, [*qa_files.values(), *(corpus_files or {}).values()]):
        if any(source.resolve().is_relative_to(folder.resolve()) for folder in (root, qa_dir)):
            raise ForeignFilesError(f"{source}: an input file inside {out_base}'s generated folders, which this "
                                    f"generation replaces; copy it elsewhere first")
    _clear(out_base, root, qa_dir, f"qbslt render_annotations {dataset}")
    plans = {split: _entries_from_files(spec, split, Path(path), (corpus_files or {}).get(split), seed)
             for split, path in qa_files.items()}
    renderer = SignRenderer(frame_size, render_cfg, seed)
    videos = [v for split, entries in plans.items() for v in _videos(spec, root, split, entries)]
    frames = _render_all(renderer, videos, threads, progress, desc=f"{dataset} videos")
    hooks.write_video_list(root, plans)
    for split, path in qa_files.items():
        atomic_write_text(layout.qa_path(qa_dir, split), Path(path).read_text(encoding="utf-8"))

    written = {v.name for v in videos if v.write}
    counts = {split: _split_counts(entries, None, frames, written) for split, entries in plans.items()}
    return _write_manifest(out_base, _manifest(
        dataset, out_base, root, qa_dir, seed, frame_size, counts, sum(c["frames"] for c in counts.values()),
        profile=profile, source={split: str(path) for split, path in qa_files.items()}))


def _entries_from_files(spec: DatasetSpec, split: str, qa_path: Path, corpus_path: Path | None,
                        seed: int) -> list[Entry]:
    """Entries of existing QA rows: what is signed comes from the corpus row when there is one."""
    records = spec.read_qa(qa_path, expected_split=split)
    # Only a dataset whose release has corpus files (PHOENIX) reads them.
    corpus = ({r.name: r for r in spec.read_corpus(corpus_path)}
              if corpus_path and spec.read_corpus is not None else None)
    entries = []
    for record in records:
        qa = SynthSample(record.translation, record.gloss.split(), record.question, "given",
                         chars=record.translation if record.words is not None else None, words=record.words)
        signed, signer, video = qa, spec.synthetic().hashed_signer(record.name), "frames"
        if corpus is not None:
            row = corpus.get(record.name)
            if row is None:
                video = "missing"
            else:
                signed, signer = replace(qa, translation=row.translation, gloss=row.orth.split()), row.speaker
        else:
            signer = spec.signer_from_name(record.name) or signer
        entropy = (int(seed), stable_code(spec.name), stable_code(record.name))
        entries.append(Entry(record.name, signer, signed, qa, video, entropy))
    return entries
