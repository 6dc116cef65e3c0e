"""Downloads of the real data (paper profile): resumable, verified, safely extracted.

* :func:`download` streams a URL into ``<dest>.part`` and resumes an interrupted transfer with
  an HTTP ``Range`` request; the size and sha256 are checked before the file is renamed into
  place, so ``dest`` exists only when it is complete and correct.
* :func:`safe_extract` streams a tarball once (``r|*``: a 43 GB archive is never seeked), keeps
  only members under the expected prefix that ``include`` selects, uses tarfile's ``data``
  filter, and rejects absolute paths, ``..`` components and links that leave the target.
* :func:`fetch_phoenix`, :func:`fetch_qa`, :func:`require_csl`: the three real sources.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Callable

from tqdm import tqdm

from qbslt.data import layout
from qbslt.data.annotations import atomic_write_text
from qbslt.errors import DatasetMissingError, DownloadError

log = logging.getLogger("qbslt.download")
CSL_REQUEST_URL = "http://home.ustc.edu.cn/~zhouh156/dataset/csl-daily/"
RETRIES = 3


def sha256sum(path: Path | str, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _verify(path: Path, url: str, sha256: str | None, expected_bytes: int | None) -> None:
    size = path.stat().st_size
    if expected_bytes is not None and size != expected_bytes:
        raise DownloadError(f"{url}: got {size} bytes, expected {expected_bytes}")
    if sha256 is not None:
        actual = sha256sum(path)
        if actual != sha256:
            bad = path.with_name(path.name + ".bad")
            os.replace(path, bad)
            raise DownloadError(f"{url}: checksum mismatch: expected sha256 {sha256}, got {actual} "
                                f"(kept as {bad}; the next run downloads again)")


def _open(url: str, offset: int, timeout: float):
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    return urllib.request.urlopen(request, timeout=timeout)


def _transfer(url: str, part: Path, expected_bytes: int | None, progress: bool, chunk_size: int,
              timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (restarting when the server ignores Range)."""
    offset = part.stat().st_size if part.exists() else 0
    if expected_bytes is not None and offset == expected_bytes:
        return
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and expected_bytes is not None and offset >= expected_bytes:
            return
        raise
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:  # the server sent the whole file: start over
            log.info("%s: server ignored the Range request, downloading from the start", url)
            offset = 0
        total = expected_bytes
        length = response.headers.get("Content-Length")
        if total is None and length is not None:
            total = offset + int(length)
        with open(part, "ab" if offset else "wb") as f, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, desc=Path(url).name,
                disable=not progress) as bar:
            for chunk in iter(lambda: response.read(chunk_size), b""):
                f.write(chunk)
                bar.update(len(chunk))
        if length is not None and part.stat().st_size < offset + int(length):
            raise DownloadError(f"{url}: connection closed after {part.stat().st_size} bytes")


def download(url: str, dest: Path | str, sha256: str | None = None, expected_bytes: int | None = None,
             progress: bool = True, chunk_size: int = 1 << 20, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified). An existing valid ``dest`` is kept."""
    dest = Path(dest)
    if dest.exists():
        if sha256 is None or sha256sum(dest) == sha256:
            return dest
        log.warning("%s does not match its checksum: downloading again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part(dest)
    for attempt in range(1, RETRIES + 1):
        try:
            _transfer(url, part, expected_bytes, progress, chunk_size, timeout)
            break
        except (urllib.error.URLError, OSError, DownloadError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            if attempt == RETRIES:
                raise DownloadError(f"{url}: download failed after {RETRIES} attempts: {exc} "
                                    f"({part} kept: the next run resumes)") from exc
            log.warning("%s: %s; resuming (attempt %d of %d)", url, exc, attempt + 1, RETRIES)
            time.sleep(min(2 ** attempt, 10))
    _verify(part, url, sha256, expected_bytes)
    os.replace(part, dest)
    return dest


def _check_member(member: tarfile.TarInfo, tar_path: Path) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise DownloadError(f"{tar_path}: unsafe member path {member.name!r} (absolute or '..')")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        resolved = target if member.islnk() else path.parent / target
        if target.is_absolute() or ".." in PurePosixPath(os.path.normpath(str(resolved))).parts:
            raise DownloadError(f"{tar_path}: link {member.name!r} -> {member.linkname!r} points outside the archive")


def safe_extract(tar_path: Path | str, dest: Path | str, prefix: str, include: Callable[[str], bool] | None = None,
                 progress: bool = True) -> int:
    """Extract the members under ``prefix`` that ``include(relative name)`` keeps; returns the count."""
    tar_path, dest = Path(tar_path), Path(dest)
    marker = dest / f".extracted-{tar_path.name}.ok"
    if marker.exists():
        return int(marker.read_text() or 0)
    dest.mkdir(parents=True, exist_ok=True)
    prefix = prefix.strip("/") + "/"
    count = 0
    with tarfile.open(tar_path, "r|*") as archive, tqdm(desc=f"extract {tar_path.name}", unit=" files",
                                                         disable=not progress) as bar:
        for member in archive:
            _check_member(member, tar_path)
            if not member.name.startswith(prefix):
                continue
            if include is not None and not include(member.name[len(prefix):]):
                continue
            archive.extract(member, dest, filter="data")
            count += member.isfile()
            bar.update(1)
    atomic_write_text(marker, str(count))
    return count


def phoenix_include(member: str, splits=layout.SPLITS) -> bool:
    """Keep the corpus files and the 210x260 frames of the given splits, nothing else."""
    if member.startswith("annotations/manual/"):
        return member.endswith(tuple(f".{s}.corpus.csv" for s in splits))
    frames = layout.PHOENIX_FRAME_DIR + "/"
    return member.startswith(tuple(f"{frames}{s}/" for s in splits))


def _require(path: Path, what: str, hint: str) -> None:
    if not path.exists():
        raise DatasetMissingError(f"{path}: {what} not found. {hint}")


def fetch_phoenix(sources: dict, raw_dir: Path, progress: bool = True) -> Path:
    """The PHOENIX-2014-T root (folder with annotations/ and features/): given, or downloaded."""
    cfg = sources["phoenix"]
    if cfg["root"]:
        root = Path(cfg["root"])
        hint = ("data.sources.phoenix.root must be the folder holding annotations/ and features/ "
                f"(inside the tarball: {layout.PHOENIX_TAR_PREFIX}); set it to null to download.")
        for split in layout.SPLITS:
            _require(layout.phoenix_corpus_path(root, split), "PHOENIX-2014T corpus file", hint)
        return root
    tarball = download(cfg["url"], raw_dir / Path(cfg["url"]).name, cfg["sha256"], cfg["bytes"], progress)
    safe_extract(tarball, raw_dir, layout.PHOENIX_TAR_PREFIX, phoenix_include, progress)
    return raw_dir / layout.PHOENIX_TAR_PREFIX


def fetch_qa(sources: dict, dataset: str, out_dir: Path, progress: bool = True) -> dict[str, Path]:
    """Download the QA files of ``dataset``; unknown checksums are recorded on first download."""
    qa = sources["qa"]
    record_path = out_dir / "checksums.json"
    recorded = json.loads(record_path.read_text()) if record_path.exists() else {}
    paths = {}
    for split in layout.SPLITS:
        entry = qa[dataset][split]
        url = qa["url"].format(commit=qa["commit"], path=entry["path"])
        pinned = entry["sha256"] or recorded.get(split)
        dest = layout.qa_path(out_dir, split)
        try:
            download(url, dest, pinned, progress=progress)
        except DownloadError as exc:
            if entry["sha256"] is None and pinned is not None:
                raise DownloadError(f"{exc} — the checksum recorded on first download in {record_path} "
                                    "changed: the file upstream is not the one used before") from None
            raise
        if pinned is None:
            recorded[split] = sha256sum(dest)
            atomic_write_text(record_path, json.dumps(recorded, indent=2, sort_keys=True) + "\n")
            log.warning("%s has no published checksum: recorded sha256 %s in %s (verified on later runs)",
                        url, recorded[split], record_path)
        paths[split] = dest
    return paths


def require_csl(root: Path) -> Path:
    """``root`` if it holds CSL-Daily; else instructions, since it can only be requested by hand."""
    hint = (f"CSL-Daily is distributed on request only: ask for it at {CSL_REQUEST_URL}, then place it so that "
            f"frames are at {root}/{layout.CSL_FRAME_DIR}/<name>/000000.jpg ... and the split file at "
            f"{layout.csl_split_path(root)} (or set data.sources.csl.root in params.yaml).")
    _require(root, "CSL-Daily folder", hint)
    _require(layout.csl_split_path(root), "CSL-Daily split file", hint)
    _require(root / layout.CSL_FRAME_DIR, "CSL-Daily frames folder", hint)
    return root
