"""Where the official releases keep their files. One place, used by generator, loaders and rules.
Which of these paths a dataset uses is on its object in :mod:`qbslt.data.datasets`.

``phoenix root`` is the folder holding ``annotations/`` and ``features/`` of PHOENIX-2014-T
(``PHOENIX-2014-T-release-v3/PHOENIX-2014-T`` inside the official tarball).
``csl root`` is the CSL-Daily folder holding ``sentence/`` and ``sentence_label/``.
QA files sit in one folder per dataset as ``{split}.txt`` (GBT-code ``DatasetFile/dialogue_*``).
"""

from __future__ import annotations

from pathlib import Path

PHOENIX_TAR_PREFIX = "PHOENIX-2014-T-release-v3/PHOENIX-2014-T"
PHOENIX_FRAME_DIR = "features/fullFrame-210x260px"
PHOENIX_CORPUS_NAME = "PHOENIX-2014-T.{split}.corpus.csv"
CSL_RELEASE_DIR = "CSL-Daily"
CSL_FRAME_DIR = "sentence/frames_512x512"
SPLITS = ("train", "dev", "test")


def phoenix_corpus_path(root: Path | str, split: str) -> Path:
    return Path(root) / "annotations" / "manual" / PHOENIX_CORPUS_NAME.format(split=split)


def phoenix_frames_dir(root: Path | str, split: str, name: str) -> Path:
    return Path(root) / PHOENIX_FRAME_DIR / split / name


def phoenix_frame_name(index: int) -> str:
    """Frame file name of the 0-based frame ``index`` (images0001.png, ...)."""
    return f"images{index + 1:04d}.png"


def csl_frames_dir(root: Path | str, name: str) -> Path:
    return Path(root) / CSL_FRAME_DIR / name


def csl_frame_name(index: int) -> str:
    return f"{index:06d}.jpg"


def csl_split_path(root: Path | str) -> Path:
    return Path(root) / "sentence_label" / "split_1.txt"


def qa_path(qa_dir: Path | str, split: str) -> Path:
    return Path(qa_dir) / f"{split}.txt"

