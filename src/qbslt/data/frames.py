"""Frame extraction into one compact store per dataset and split.

A store is two files:

* the frames, in the format of ``data.frame_store`` (``qbslt.data.frame_store``):
  ``<split>.npy``, uint8 array [N_frames, H, W, 3], every video's frames back to back, written
  with ``numpy.lib.format.open_memmap`` (so a 100 GB store never sits in memory) and read back
  memory-mapped (raw); or ``jpeg/<split>.jpgs``, the same frames JPEG-encoded in one indexed file
  (compressed);
* ``<split>.index.tsv``: one row per video (name, offset, length, source) into those frames.

Sources are frame folders (PNG/JPG, sorted by name) or video files (mp4, avi, ... decoded with
PyAV). Both are written to a temporary name and renamed at the end, so an interrupted run
leaves no half-written store behind. Decoding runs on a thread pool: PIL and PyAV release the
GIL while decoding.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from qbslt.atomic import atomic_paths
from qbslt.errors import FrameError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
INDEX_COLUMNS = ["name", "offset", "length", "source"]


@dataclass(frozen=True)
class VideoSource:
    """Where one video's frames come from: a frame folder or a video file (may be missing)."""

    name: str
    path: Path


def list_frame_files(folder: Path) -> list[Path]:
    """Sorted frame image files of ``folder`` ([] if the folder is missing)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _resize(image: Image.Image, size_hw: tuple[int, int]) -> np.ndarray:
    height, width = size_hw
    image = image.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def decode_image(path: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """One frame file → uint8 [H, W, 3]; FrameError naming the file if it cannot be decoded."""
    try:
        with Image.open(path) as image:
            return _resize(image, size_hw)
    except (OSError, ValueError, SyntaxError) as exc:
        raise FrameError(f"{path}: cannot decode frame: {exc}") from exc


def decode_video(path: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """All frames of a video file → uint8 [T, H, W, 3] (PyAV)."""
    import av  # local: only needed for video sources

    try:
        with av.open(str(path)) as container:
            frames = [_resize(frame.to_image(), size_hw) for frame in container.decode(video=0)]
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise FrameError(f"{path}: cannot decode video: {exc}") from exc
    if not frames:
        return np.zeros((0, *size_hw, 3), np.uint8)
    return np.stack(frames)


def count_frames(source: Path) -> int:
    """Number of frames without decoding images (videos: decoded once, as containers often lie)."""
    if source.is_dir() or not source.exists():
        return len(list_frame_files(source))
    import av

    try:
        with av.open(str(source)) as container:
            return sum(1 for _ in container.decode(video=0))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise FrameError(f"{source}: cannot decode video: {exc}") from exc


def read_frames(source: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """Frames of one source → uint8 [T, H, W, 3]; T = 0 for a missing or empty folder."""
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        return decode_video(source, size_hw)
    files = list_frame_files(source)
    if not files:
        return np.zeros((0, *size_hw, 3), np.uint8)
    return np.stack([decode_image(f, size_hw) for f in files])


def write_store(sources: Sequence[VideoSource], out_store: Path, out_index: Path, size_hw: tuple[int, int],
                threads: int = 1, progress: bool = True, desc: str = "frames",
                quality: int | None = None) -> pd.DataFrame:
    """Decode every source into the frame store ``out_store`` and write ``out_index``; returns the
    index table. The store's name gives its format: ``.npy`` raw, ``.jpgs`` compressed (JPEG at
    ``quality``, default ``frame_store.DEFAULT_QUALITY``)."""
    from qbslt.data.frame_store import DEFAULT_QUALITY, store_format, write_compressed

    out_store, out_index = Path(out_store), Path(out_index)
    fmt = store_format(out_store)
    size_hw = (int(size_hw[0]), int(size_hw[1]))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        lengths = list(pool.map(lambda s: count_frames(s.path), sources))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    with atomic_paths(out_store, out_index) as (tmp_store, tmp_index):
        if fmt == "raw":
            _write_raw(sources, lengths, offsets, tmp_store, size_hw, threads, progress, desc)
        else:
            write_compressed(sources, lengths, tmp_store, size_hw, DEFAULT_QUALITY if quality is None else quality,
                             threads, lambda videos: tqdm(videos, total=len(sources), desc=desc, unit="video",
                                                          disable=not progress))
        index = pd.DataFrame({"name": [s.name for s in sources], "offset": offsets[:-1],
                              "length": lengths, "source": [str(s.path) for s in sources]},
                             columns=INDEX_COLUMNS)
        index.to_csv(tmp_index, sep="\t", index=False)
    return index


def _write_raw(sources: Sequence[VideoSource], lengths: list[int], offsets: np.ndarray, out: Path,
               size_hw: tuple[int, int], threads: int, progress: bool, desc: str) -> None:
    store = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=(int(offsets[-1]), *size_hw, 3))

    def fill(i: int) -> None:
        frames = read_frames(sources[i].path, size_hw)
        if len(frames) != lengths[i]:
            raise FrameError(f"{sources[i].path}: frame count changed during extraction "
                             f"({lengths[i]} → {len(frames)})")
        store[offsets[i]:offsets[i + 1]] = frames

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(tqdm(pool.map(fill, range(len(sources))), total=len(sources), desc=desc,
                  unit="video", disable=not progress))
    store.flush()
    del store


def read_index(path: Path | str) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"name": str, "source": str}, keep_default_na=False)


def open_store(npy_path: Path | str) -> np.ndarray:
    """Memory-map a raw frame store: uint8 [N, H, W, 3] (either format, one interface:
    ``qbslt.data.frame_store.open_frame_store``)."""
    return np.load(npy_path, mmap_mode="r")
