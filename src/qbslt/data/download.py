"""The paper profile's dataset downloads: real PHOENIX-2014T, the QA files and CSL-Daily.

:func:`fetch_phoenix`, :func:`fetch_qa` and :func:`require_csl` are the per-dataset entry points
used by the dataset objects (:mod:`qbslt.data.datasets`) and :mod:`qbslt.data.fetch`. They build on
:mod:`.http_download` (resumable, verified downloads), :mod:`.verify` (checksums) and
:mod:`.extract` (safe tar extraction).
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Iterable
from urllib.parse import urlsplit

from qbslt.data.extract import clean_member_name, extraction_marker, safe_extract
from qbslt.data.http_download import download
from qbslt.data.layout import (
    CSL_FRAME_DIR,
    PHOENIX_FRAME_DIR,
    PHOENIX_TAR_PREFIX,
    SPLITS,
    csl_split_path,
    phoenix_corpus_path,
    qa_path,
)
from qbslt.data.verify import CHECKSUMS_FILE, ChecksumMismatchError, read_checksums, sha256sum, write_checksums
from qbslt.errors import ConfigError, DatasetMissingError, DownloadError

log = logging.getLogger("qbslt.download")

CSL_REQUEST_URL = "http://home.ustc.edu.cn/~zhouh156/dataset/csl-daily/"


def phoenix_include(member: str, splits: Iterable[str] = SPLITS) -> bool:
    """Keep the corpus csv files and the ``fullFrame-210x260px/<split>/<name>/<frame>`` images.

    ``member`` is relative to :data:`PHOENIX_TAR_PREFIX` (e.g. ``annotations/manual/...``).
    """
    member = clean_member_name(member)
    splits = tuple(splits)
    corpus = {f"annotations/manual/PHOENIX-2014-T.{split}.corpus.csv" for split in splits}
    if member in corpus:
        return True
    frame_dir = PHOENIX_FRAME_DIR.strip("/") + "/"
    if not member.startswith(frame_dir):
        return False
    parts = member[len(frame_dir):].split("/")
    return len(parts) == 3 and parts[0] in splits and all(parts)


def _missing_corpus(root: Path) -> list[Path]:
    return [p for p in (phoenix_corpus_path(root, split) for split in SPLITS) if not p.is_file()]


def _archive_name(url: str, default: str) -> str:
    return PurePosixPath(urlsplit(url).path).name or default


def fetch_phoenix(sources_cfg: dict, raw_dir: Path, progress: bool = True) -> Path:
    """Return the PHOENIX-2014T root (the folder with ``annotations/`` and ``features/``).

    With ``sources_cfg["phoenix"]["root"]`` set, that folder is checked for the corpus files and
    returned (no download). Otherwise the official tarball is downloaded into ``raw_dir`` (resumable,
    size and sha256 checked) and its corpus files and 210x260 frames are extracted there; a later run
    that finds the extraction marker and the corpus files skips both steps.
    """
    cfg = sources_cfg["phoenix"]
    if cfg.get("root"):
        return _configured_phoenix_root(Path(cfg["root"]))
    raw_dir = Path(raw_dir)
    root = raw_dir / PHOENIX_TAR_PREFIX
    tar_path = raw_dir / _archive_name(cfg["url"], "phoenix-2014-T.tar.gz")
    if extraction_marker(tar_path, raw_dir).is_file() and not _missing_corpus(root):
        log.info("PHOENIX-2014T already extracted at %s", root)
        return root
    log.info("downloading PHOENIX-2014T (%s bytes) from %s to %s", cfg.get("bytes"), cfg["url"], tar_path)
    download(cfg["url"], tar_path, sha256=cfg.get("sha256") or None, expected_bytes=cfg.get("bytes") or None,
             progress=progress)
    safe_extract(tar_path, raw_dir, PHOENIX_TAR_PREFIX, phoenix_include, progress=progress)
    missing = _missing_corpus(root)
    if missing:
        raise DownloadError(f"{tar_path}: extraction did not produce {', '.join(map(str, missing))}; "
                            f"is this the PHOENIX-2014-T v3 release (prefix {PHOENIX_TAR_PREFIX}/)?")
    log.info("PHOENIX-2014T ready at %s; the archive %s is no longer needed and may be deleted", root, tar_path)
    return root


def _configured_phoenix_root(root: Path) -> Path:
    """Check a user-provided PHOENIX root; DatasetMissingError naming what is missing."""
    missing = _missing_corpus(root)
    if missing:
        raise DatasetMissingError(
            f"PHOENIX-2014T corpus file(s) not found under data.sources.phoenix.root = {root}: "
            f"{', '.join(str(p) for p in missing)}. Point it at the folder holding annotations/ and "
            f"features/ (PHOENIX-2014-T-release-v3/PHOENIX-2014-T in the official tarball), "
            f"or set it to null to download the tarball.")
    log.info("using PHOENIX-2014T at %s (data.sources.phoenix.root)", root)
    return root


def fetch_qa(sources_cfg: dict, dataset: str, out_dir: Path, progress: bool = True) -> dict[str, Path]:
    """Download the QA files ``{split}.txt`` of ``dataset`` into ``out_dir``; returns ``{split: path}``.

    Each file is checked against its pinned sha256. A file with ``sha256: null`` has its checksum
    recorded in ``out_dir/checksums.json`` on first download (with a warning) and verified against
    that record on later runs; a mismatch means the upstream file changed and raises DownloadError.
    """
    qa = sources_cfg["qa"]
    if dataset not in qa:
        raise ConfigError(f"data.sources.qa.{dataset}: no QA sources configured for dataset {dataset!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in SPLITS:
        entry = qa[dataset][split]
        url = qa["url"].format(commit=qa["commit"], path=entry["path"])
        dest = qa_path(out_dir, split)
        if entry.get("sha256"):
            download(url, dest, sha256=entry["sha256"], progress=progress)
        else:
            _fetch_recorded(url, dest, out_dir / CHECKSUMS_FILE, progress)
        files[split] = dest
    return files


def _fetch_recorded(url: str, dest: Path, record_path: Path, progress: bool) -> None:
    """Download a file without a published checksum: verify against, or write, the local record."""
    records = read_checksums(record_path)
    record = records.get(dest.name)
    if isinstance(record, dict) and record.get("url") == url and record.get("sha256"):
        try:
            download(url, dest, sha256=record["sha256"], progress=progress)
        except ChecksumMismatchError as err:
            raise DownloadError(
                f"{url}: the recorded checksum changed: {record_path} recorded sha256 {err.expected} on first "
                f"download, the file now has {err.actual}. The upstream file is no longer the one first "
                f"used; check it, then delete its entry in {record_path} to accept the new version."
            ) from err
        log.info("%s: verified against the checksum recorded on first download (%s)", dest.name, record_path)
        return
    if record is not None:
        log.warning("%s: recorded checksum in %s is for another URL (%s); recording again",
                    dest.name, record_path, record.get("url") if isinstance(record, dict) else record)
    download(url, dest, progress=progress)
    digest = sha256sum(dest)
    records[dest.name] = {"url": url, "sha256": digest}
    write_checksums(record_path, records)
    log.warning("%s has no published sha256: RECORDED sha256 %s in %s on first download; "
                "later runs verify the file against it", url, digest, record_path)


def require_csl(root: Path) -> Path:
    """Return the CSL-Daily root, or raise DatasetMissingError explaining how to obtain and place it."""
    root = Path(root)
    frames = root / CSL_FRAME_DIR
    split = csl_split_path(root)
    missing = [str(p) for p in (root, frames, split)
               if not (p.is_file() if p == split else p.is_dir())]
    if missing:
        raise DatasetMissingError(
            f"CSL-Daily not found at {root} (data.sources.csl.root): missing {missing[0]}. "
            f"CSL-Daily cannot be downloaded automatically: request it with the form at {CSL_REQUEST_URL}, "
            f"then place the frames as {frames}/<name>/000000.jpg, 000001.jpg, ... and the split file as "
            f"{split} (or set data.sources.csl.root in params.yaml to the folder holding sentence/ and "
            f"sentence_label/).")
    return root
