"""Isolated-sign clips: each gloss of the training videos, cut at the renderer's gloss boundaries.

The sign renderer writes ``segments.tsv`` beside every video's frames (gloss, start, end: frames
``start <= t < end`` of the stored video; :func:`qbslt.data.synth.generate.write_segments`). A clip is
one such segment plus ``clip_margin`` frames of context on each side (the transition and the edge of
the neighbouring sign, as the rest frames around an isolated sign), clipped to the video.

Clip index (``data/<profile>/clips/<dataset>/clips.tsv``), one row per clip::

    name  gloss  signer  offset  length  sign_start  sign_end  split

``offset``/``length``: rows of the split's frame, feature and keypoint stores (all follow the frame
index, :mod:`qbslt.data.frames`); ``sign_start``/``sign_end``: the sign inside the clip (clip frame
numbers, end exclusive); ``split``: ``train`` | ``test`` of the recognition task.

Signer split (:func:`signer_split`): the signers of the dataset (from its object,
:meth:`qbslt.data.datasets.DatasetSpec.videos`) ordered by a hash of (dataset, signer); the first
``max(1, round(share * n))`` are the test signers, the others the training signers. Only glosses seen in
both splits are kept (a test class without training clips cannot be recognised by any protocol).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from qbslt.atomic import atomic_paths
from qbslt.data.datasets import get_dataset
from qbslt.data.frame_store import read_index
from qbslt.data.synth.render import SEGMENTS_NAME, stable_code
from qbslt.errors import QbsltError

COLUMNS = ["name", "gloss", "signer", "offset", "length", "sign_start", "sign_end", "split"]


class ClipError(QbsltError):
    """A segment file or clip index that is missing or malformed (the message names the file)."""


def read_segments(path: Path, video_length: int) -> list[tuple[str, int, int]]:
    """[(gloss, start, end)] of one video's ``segments.tsv``; ClipError naming the file when it is
    missing, malformed or does not fit the video's ``video_length`` frames."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ClipError(f"{path}: missing: the raw data was not written by a renderer that records gloss "
                        f"segments (regenerate it)") from None
    if not lines or lines[0].split("\t") != ["gloss", "start", "end"]:
        raise ClipError(f"{path}:1: expected the header 'gloss<TAB>start<TAB>end'")
    segments, previous_end = [], 0
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        try:
            gloss, start, end = parts[0], int(parts[1]), int(parts[2])
        except (IndexError, ValueError):
            raise ClipError(f"{path}:{number}: expected gloss, start, end (integers): {line!r}") from None
        if len(parts) != 3 or not gloss or not previous_end <= start < end <= video_length:
            raise ClipError(f"{path}:{number}: segment {line!r} does not fit in order into a video of "
                            f"{video_length} frames")
        segments.append((gloss, start, end))
        previous_end = end
    return segments


def signer_split(dataset: str, signers, share: float) -> tuple[list[str], list[str]]:
    """(training signers, test signers): the ``max(1, round(share * n))`` first by hash of (dataset,
    signer) are held out for testing; at least one signer stays for training."""
    ordered = sorted(set(signers), key=lambda s: (stable_code(f"slslr:{dataset}:{s}"), s))
    if len(ordered) < 2:
        raise ClipError(f"dataset {dataset}: {len(ordered)} signer(s); a split by signer needs at least two")
    n_test = min(len(ordered) - 1, max(1, round(share * len(ordered))))
    return sorted(ordered[n_test:]), sorted(ordered[:n_test])


def build_clip_index(dataset: str, manifest: Path, index_path: Path, margin: int, test_signer_share: float,
                     split: str = "train") -> pd.DataFrame:
    """The clip index of the videos of ``split`` (the frame index ``index_path``) of a rendered dataset."""
    manifest = Path(manifest)
    root = manifest.parent / json.loads(manifest.read_text(encoding="utf-8"))["root"]
    videos = get_dataset(dataset).videos(root, split)
    rows = []
    for name, offset, length, source in read_index(index_path)[["name", "offset", "length", "source"]].itertuples(
            index=False):
        if not length:
            continue
        if name not in videos:
            raise ClipError(f"{index_path}: video {name} is not in the {dataset} {split} release files under {root}")
        for gloss, start, end in read_segments(Path(source) / SEGMENTS_NAME, int(length)):
            first, last = max(0, start - margin), min(int(length), end + margin)
            rows.append((name, gloss, str(videos[name]["signer"]), int(offset) + first, last - first,
                         start - first, end - first))
    clips = pd.DataFrame(rows, columns=COLUMNS[:-1])
    if clips.empty:
        raise ClipError(f"{index_path}: no gloss segments in any video")
    return split_by_signer(dataset, clips, test_signer_share, index_path)


def split_by_signer(dataset: str, clips: pd.DataFrame, test_signer_share: float, source: Path) -> pd.DataFrame:
    """``clips`` (every column but ``split``) with the recognition split by signer (:func:`signer_split`),
    keeping only the glosses signed in both splits; ClipError naming ``source`` when none is."""
    train_signers, test_signers = signer_split(dataset, clips["signer"], test_signer_share)
    clips = clips.assign(split=np.where(clips["signer"].isin(test_signers), "test", "train"))
    both = set(clips.loc[clips["split"] == "train", "gloss"]) & set(clips.loc[clips["split"] == "test", "gloss"])
    if not both:
        raise ClipError(f"{source}: no gloss is signed by both the training signers {train_signers} and the "
                        f"test signers {test_signers}")
    return clips[clips["gloss"].isin(both)].reset_index(drop=True)


def write_clip_index(clips: pd.DataFrame, out: Path, summary_path: Path) -> dict:
    """``clips.tsv`` and its summary (classes, signers and clips per split), atomically."""
    summary = {"clips": {s: int((clips["split"] == s).sum()) for s in ("train", "test")},
               "classes": int(clips["gloss"].nunique()),
               "signers": {s: sorted(clips.loc[clips["split"] == s, "signer"].unique().tolist())
                           for s in ("train", "test")},
               "frames_per_clip": {"mean": round(float(clips["length"].mean()), 2), "max": int(clips["length"].max())}}
    with atomic_paths(out, summary_path) as (tmp_clips, tmp_summary):
        clips[COLUMNS].to_csv(tmp_clips, sep="\t", index=False)
        tmp_summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def read_clip_index(path: Path) -> pd.DataFrame:
    try:
        clips = pd.read_csv(path, sep="\t", dtype={"name": str, "gloss": str, "signer": str}, keep_default_na=False)
    except FileNotFoundError:
        raise ClipError(f"{path}: missing (rerun the slslr_clips step)") from None
    if list(clips.columns) != COLUMNS:
        raise ClipError(f"{path}: columns {list(clips.columns)}, expected {COLUMNS}")
    return clips


@dataclass
class ClipSet:
    """Padded clips of one dataset: features float32 [N, L, F], mask bool [N, L], informative weights
    float32 [N, L], labels int64 [N] (index into ``classes``), split str [N], sign bool [N, L] (the
    renderer's sign frames, for tests and analysis only: no method reads it), signer str [N] (for the
    signer-probe diagnostic only)."""

    features: np.ndarray
    mask: np.ndarray
    weights: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    sign: np.ndarray
    signer: np.ndarray
    classes: list[str]

    def take(self, rows: np.ndarray) -> "ClipSet":
        """The clips at ``rows`` (indices or a boolean mask over the clips); the same classes."""
        return ClipSet(**{f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name != "classes"},
                       classes=self.classes)

    def subset(self, split: str) -> "ClipSet":
        return self.take(self.split == split)

    def __len__(self) -> int:
        return len(self.labels)


def load_clips(clips: pd.DataFrame, features: np.ndarray, points: np.ndarray, point_mask: np.ndarray,
               informative_cfg: dict) -> ClipSet:
    """Gather every clip of ``clips`` from the feature store ``features`` [frames, F] and the keypoint
    store (``points`` [frames, 75, 3], ``point_mask`` [frames, 75]), padded to the longest clip."""
    from qbslt.slslr.informative import informative_weights

    n, longest = len(clips), int(clips["length"].max())
    out = np.zeros((n, longest, features.shape[1]), np.float32)
    mask, weights, sign = (np.zeros((n, longest), bool), np.zeros((n, longest), np.float32),
                           np.zeros((n, longest), bool))
    for i, (offset, length, s0, s1) in enumerate(clips[["offset", "length", "sign_start", "sign_end"]].itertuples(
            index=False)):
        rows = slice(int(offset), int(offset) + int(length))
        out[i, :length] = features[rows]
        mask[i, :length] = True
        weights[i, :length] = informative_weights(points[rows], point_mask[rows], **informative_cfg)
        sign[i, s0:s1] = True
    classes = sorted(clips["gloss"].unique())
    lookup = {g: k for k, g in enumerate(classes)}
    labels = np.array([lookup[g] for g in clips["gloss"]], np.int64)
    return ClipSet(out, mask, weights, labels, clips["split"].to_numpy(str), sign, clips["signer"].to_numpy(str),
                   classes)
