"""Decoding of one video's frames: a frame folder (PNG/JPG, sorted by name) or a video file (mp4,
avi, ... decoded with PyAV), resized to the store's frame size. Writing, indexing and opening the
frame stores is :mod:`qbslt.data.frame_store`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from qbslt.errors import FrameError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


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
