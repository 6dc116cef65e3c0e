"""An isolated-sign dataset as SL-SLR's clips (``slslr.isolated_dataset``): the paper profile's source.

PHOENIX-2014T and CSL-Daily have no gloss time boundaries, so in the paper profile the clips come
from a dataset of isolated signs (WLASL, MS-ASL, CSL-500, AUTSL, ...), given as::

    slslr:
      isolated_dataset: {name: wlasl, root: data/paper/raw/wlasl, index: isolated.csv}

``index`` (relative to ``root``) is a CSV with a header and one row per video::

    video,gloss,signer
    videos/00335.mp4,book,118

``video`` is a video file (PyAV) or a folder of frame images, relative to ``root``. Each video is one
clip; the frames go into the usual frame store of dataset ``name``, split ``train``
(``data/<profile>/frames/<name>/``), so the features and keypoint rules read it as any other store,
and the clip index (:mod:`qbslt.slslr.clips` format, the sign spanning the whole clip) is split by
signer as the rendered clips are.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from qbslt.data.frames import VideoSource
from qbslt.slslr.clips import COLUMNS, ClipError, split_by_signer

INDEX_COLUMNS = ["video", "gloss", "signer"]


def read_isolated_index(root: Path, index: Path) -> pd.DataFrame:
    """The rows of ``index`` (video, gloss, signer), each checked; ClipError naming the file and line
    of the first bad row (wrong header, empty field, duplicate or missing video)."""
    root, index = Path(root), Path(index)
    try:
        with open(index, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except FileNotFoundError:
        raise ClipError(f"{index}: missing (slslr.isolated_dataset.index)") from None
    if not lines or [c.strip() for c in lines[0]] != INDEX_COLUMNS:
        raise ClipError(f"{index}:1: expected the header {','.join(INDEX_COLUMNS)}")
    rows, seen = [], {}
    for number, fields in enumerate(lines[1:], start=2):
        fields = [c.strip() for c in fields]
        if not fields or fields == [""]:
            continue
        if len(fields) != 3 or not all(fields):
            raise ClipError(f"{index}:{number}: expected video, gloss, signer (none empty): {fields}")
        video = fields[0]
        if video in seen:
            raise ClipError(f"{index}:{number}: video {video} is listed twice (first on line {seen[video]})")
        if not (root / video).exists():
            raise ClipError(f"{index}:{number}: video {video} not found under {root}")
        seen[video] = number
        rows.append(fields)
    if not rows:
        raise ClipError(f"{index}: no videos")
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def video_sources(root: Path, videos: pd.DataFrame) -> list[VideoSource]:
    """One frame-store source per row, named by its ``video`` path."""
    return [VideoSource(name=v, path=Path(root) / v) for v in videos["video"]]


def isolated_clip_index(name: str, videos: pd.DataFrame, frame_index: pd.DataFrame, test_signer_share: float,
                        source: Path) -> pd.DataFrame:
    """The clip index of an isolated-sign dataset: one clip per non-empty video (its frame-store rows,
    the sign from its first to its last frame), split by signer; ``frame_index``: the store's index."""
    clips = videos.merge(frame_index[["name", "offset", "length"]], left_on="video", right_on="name", validate="1:1")
    clips = clips[clips["length"] > 0].astype({"offset": int, "length": int})
    clips = clips.assign(sign_start=0, sign_end=clips["length"])
    if clips.empty:
        raise ClipError(f"{source}: every video is empty")
    return split_by_signer(name, clips, test_signer_share, source)[COLUMNS]


__all__ = ["INDEX_COLUMNS", "read_isolated_index", "video_sources", "isolated_clip_index"]
