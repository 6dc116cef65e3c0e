"""Downloads and archive extraction for the paper profile (real PHOENIX-2014T, QA files, CSL-Daily).

* :func:`download` fetches one URL (``http(s)://`` or ``file://``) into ``<dest>.part``, resumes an
  interrupted ``.part`` with a ``Range`` request, retries transient network errors, and checks size and
  sha256 *before* renaming the part to ``dest``. A part that fails its checksum is moved aside to
  ``<dest>.part.bad`` so the next run starts clean.
* :func:`safe_extract` streams a (43 GB) tarball once, keeps only the members under a prefix that an
  ``include`` predicate accepts, and refuses absolute paths, ``..`` components and links leaving the
  destination.
* :func:`fetch_phoenix`, :func:`fetch_qa` and :func:`require_csl` are the per-dataset entry points used
  by :mod:`qbslt.data.fetch`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import posixpath
import re
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable
from urllib.parse import urlsplit

from tqdm import tqdm

from qbslt.data.annotations import atomic_write_text
from qbslt.data.layout import (
    CSL_FRAME_DIR,
    PHOENIX_FRAME_DIR,
    PHOENIX_TAR_PREFIX,
    SPLITS,
    csl_split_path,
    phoenix_corpus_path,
    qa_path,
)
from qbslt.errors import ConfigError, DatasetMissingError, DownloadError

log = logging.getLogger("qbslt.download")

CSL_REQUEST_URL = "http://home.ustc.edu.cn/~zhouh156/dataset/csl-daily/"
CHECKSUMS_FILE = "checksums.json"
RETRIES = 3  # attempts per download call, the first one included
RETRY_DELAY = 2.0  # seconds; the n-th retry waits n * RETRY_DELAY
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "qbslt-download/1.0 (+urllib)"
_HASH_CHUNK = 1 << 20


class ChecksumMismatchError(DownloadError):
    """A finished download whose sha256 differs from the expected one."""

    def __init__(self, url: str, expected: str, actual: str, moved_to: Path):
        self.url, self.expected, self.actual, self.moved_to = url, expected, actual, moved_to
        super().__init__(f"{url}: sha256 mismatch: expected {expected}, got {actual}; "
                         f"the downloaded data was moved aside to {moved_to} and the next run starts afresh")


class _Transient(Exception):
    """A network failure worth retrying (the part file is kept and resumed)."""


# --------------------------------------------------------------------------------------------------
# checksums


def sha256sum(path: Path | str, chunk_size: int = _HASH_CHUNK) -> str:
    """Hex sha256 of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def part_path(dest: Path) -> Path:
    """The temporary file a download of ``dest`` writes into (``<dest>.part``)."""
    dest = Path(dest)
    return dest.with_suffix(dest.suffix + ".part")


class _PartFile:
    """The ``.part`` file of a download plus a running sha256 of its bytes (no re-read at the end)."""

    def __init__(self, path: Path):
        self.path = path
        self.hasher = hashlib.sha256()
        self.size = 0

    def disk_size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def sync(self) -> int:
        """Make the running hash cover exactly the bytes on disk; returns that size."""
        on_disk = self.disk_size()
        if on_disk != self.size:
            self.hasher, self.size = hashlib.sha256(), 0
            if on_disk:
                with open(self.path, "rb") as f:
                    while chunk := f.read(_HASH_CHUNK):
                        self.add(chunk)
        return self.size

    def reset(self) -> None:
        """Drop the part: the next bytes start a new file."""
        self.path.unlink(missing_ok=True)
        self.hasher, self.size = hashlib.sha256(), 0

    def add(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()

    def move_aside(self) -> Path:
        """Rename the part to ``<part>.bad`` (replacing an older one) and forget it."""
        bad = self.path.with_name(self.path.name + ".bad")
        os.replace(self.path, bad)
        self.hasher, self.size = hashlib.sha256(), 0
        return bad


# --------------------------------------------------------------------------------------------------
# download


def download(url: str, dest: Path, sha256: str | None = None, expected_bytes: int | None = None,
             progress: bool = True, chunk_size: int = 1 << 20, timeout: float = 60,
             attempts: int | None = None) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified) and return ``dest``.

    Bytes go to ``<dest>.part``; an existing part is resumed with ``Range: bytes=<size>-`` (a 200 answer
    restarts from zero; 416 with a part of ``expected_bytes`` counts as complete). Transient network
    errors are retried, each retry resuming from the part, up to ``attempts`` tries in all (default
    :data:`RETRIES`); after the last one the part is kept for the next run to resume. Size (if
    ``expected_bytes``) and sha256 (if given) are checked before the part is atomically renamed to
    ``dest``; a checksum mismatch moves the part to ``<dest>.part.bad`` and raises
    :class:`ChecksumMismatchError`. An existing ``dest`` that passes the checks is returned at once,
    with no network access. ``file://`` URLs are copied (no resume).
    """
    dest = Path(dest)
    sha256 = sha256.lower() if sha256 else None
    if _existing_ok(dest, sha256, expected_bytes):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _PartFile(part_path(dest))
    with tqdm(total=expected_bytes, initial=part.disk_size(), unit="B", unit_scale=True, unit_divisor=1024,
              desc=dest.name, disable=not progress) as bar:
        if urlsplit(url).scheme == "file":
            _copy_local(url, part, bar, chunk_size, timeout)
        else:
            _fetch_http(url, part, bar, expected_bytes, chunk_size, timeout, attempts or RETRIES)
    _verify(url, part, sha256, expected_bytes)
    os.replace(part.path, dest)
    log.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, dest, part.size, part.hexdigest())
    return dest


def _existing_ok(dest: Path, sha256: str | None, expected_bytes: int | None) -> bool:
    """True when ``dest`` exists and passes the size / checksum checks (nothing to download)."""
    if not dest.is_file():
        return False
    size = dest.stat().st_size
    if expected_bytes is not None and size != expected_bytes:
        log.warning("%s exists but has %d bytes instead of %d: downloading it again", dest, size, expected_bytes)
        return False
    if sha256 is not None:
        actual = sha256sum(dest)
        if actual != sha256:
            log.warning("%s exists but its sha256 is %s, not %s: downloading it again", dest, actual, sha256)
            return False
    log.debug("%s already present and verified", dest)
    return True


def _verify(url: str, part: _PartFile, sha256: str | None, expected_bytes: int | None) -> None:
    """Check size and checksum of a finished part; a bad part is moved aside before raising."""
    if expected_bytes is not None and part.size != expected_bytes:
        size = part.size
        bad = part.move_aside()
        raise DownloadError(f"{url}: got {size} bytes, expected {expected_bytes}; "
                            f"the download was moved aside to {bad} and the next run starts afresh")
    actual = part.hexdigest()
    if sha256 is not None and actual != sha256:
        bad = part.move_aside()
        raise ChecksumMismatchError(url, sha256, actual, bad)


def _copy_local(url: str, part: _PartFile, bar: tqdm, chunk_size: int, timeout: float) -> None:
    """Copy a ``file://`` URL into the part from byte zero."""
    part.reset()
    _set_bar(bar, 0)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length and bar.total is None:
                bar.total = int(length)
            _stream(resp, part, bar, chunk_size, append=False)
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: cannot read: {getattr(err, 'reason', err)}") from err


def _fetch_http(url: str, part: _PartFile, bar: tqdm, expected_bytes: int | None, chunk_size: int,
                timeout: float, attempts: int) -> None:
    """Run :func:`_http_attempt` until the part is complete, retrying transient failures."""
    for attempt in range(1, attempts + 1):
        try:
            _http_attempt(url, part, bar, expected_bytes, chunk_size, timeout)
            return
        except _Transient as err:
            if attempt >= attempts:
                raise DownloadError(
                    f"{url}: download failed after {attempt} attempt(s): {err}; {part.disk_size()} bytes are "
                    f"kept in {part.path} and the next run resumes from there"
                ) from err
            log.warning("%s: %s; attempt %d of %d resumes from byte %d", url, err, attempt + 1, attempts,
                        part.sync())
            time.sleep(RETRY_DELAY * attempt)


def _http_attempt(url: str, part: _PartFile, bar: tqdm, expected_bytes: int | None, chunk_size: int,
                  timeout: float) -> None:
    """One HTTP request: resume or (re)start the part; raises :class:`_Transient` to ask for a retry."""
    offset = part.sync()
    if expected_bytes is not None and offset > expected_bytes:
        log.warning("%s has %d bytes, more than the expected %d: starting again", part.path, offset, expected_bytes)
        part.reset()
        offset = 0
    _set_bar(bar, offset)
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        log.info("resuming %s at byte %d", url, offset)
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        _http_error(url, err, part, offset, expected_bytes)
        return  # a 416 on a complete part
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
        raise _Transient(f"cannot connect: {getattr(err, 'reason', err)}") from err
    with resp:
        append = _resume_accepted(url, resp, part, offset)
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if bar.total is None and length is not None:
            bar.total = part.size + length
        received = _stream(resp, part, bar, chunk_size, append)
    if length is not None and received < length:
        raise _Transient(f"connection closed after {received} of {length} bytes")


def _http_error(url: str, err: urllib.error.HTTPError, part: _PartFile, offset: int,
                expected_bytes: int | None) -> None:
    """Handle an HTTP error status: return if a 416 means 'already complete', else raise."""
    with err:
        if err.code == 416 and offset:
            total = _range_total(err.headers.get("Content-Range"))
            if offset == expected_bytes or (expected_bytes is None and offset == total):
                log.info("%s: the part already holds all %d bytes", url, offset)
                return
            part.reset()
            raise _Transient(f"server refused to resume at byte {offset} (HTTP 416); starting again") from err
        if err.code in RETRY_STATUS:
            raise _Transient(f"HTTP {err.code} {err.reason}") from err
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err


def _resume_accepted(url: str, resp, part: _PartFile, offset: int) -> bool:
    """True to append to the part (a 206 starting at ``offset``); False to rewrite it from zero."""
    if not offset:
        return False
    if resp.status != 206:
        log.warning("%s: server ignored the Range request (HTTP %s); starting from zero", url, resp.status)
        return False
    start = _range_start(resp.headers.get("Content-Range"))
    if start != offset:
        part.reset()
        raise _Transient(f"server resumed at byte {start} instead of {offset}; starting again")
    return True


def _range_start(header: str | None) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-", header or "")
    return int(m.group(1)) if m else None


def _range_total(header: str | None) -> int | None:
    m = re.search(r"/(\d+)\s*$", header or "")
    return int(m.group(1)) if m else None


def _stream(resp, part: _PartFile, bar: tqdm, chunk_size: int, append: bool) -> int:
    """Copy the response body into the part (appending or from zero); returns bytes received."""
    if not append:
        part.reset()
        _set_bar(bar, 0)
    received = 0
    with open(part.path, "ab" if append else "wb") as f:
        while True:
            try:
                chunk = resp.read(chunk_size)
            except (http.client.HTTPException, ConnectionError, TimeoutError) as err:
                raise _Transient(f"read failed after {received} bytes: {err!r}") from err
            if not chunk:
                return received
            f.write(chunk)
            part.add(chunk)
            received += len(chunk)
            bar.update(len(chunk))


def _set_bar(bar: tqdm, position: int) -> None:
    bar.n = position
    bar.refresh()


# --------------------------------------------------------------------------------------------------
# extraction


def extraction_marker(tar_path: Path, dest: Path) -> Path:
    """The file :func:`safe_extract` writes into ``dest`` once ``tar_path`` is fully extracted."""
    return Path(dest) / f".extracted-{Path(tar_path).name}.ok"


def safe_extract(tar_path: Path, dest: Path, prefix: str, include: Callable[[str], bool] | None = None,
                 progress: bool = True) -> int:
    """Extract the members of ``tar_path`` under ``prefix`` that ``include`` accepts into ``dest``.

    The archive is read once as a stream (``r|*``), so it may be far larger than memory; members keep
    their full names (``dest/<prefix>/...``). ``include`` receives the name relative to ``prefix``.
    Any member with an absolute name, a ``..`` component, or a link leading outside ``dest`` makes the
    whole extraction fail with :class:`DownloadError`; extraction also uses tarfile's ``"data"`` filter.
    On success ``dest/.extracted-<tarname>.ok`` records the count; a later call finds it, does not
    open the archive and returns the recorded count. Returns the number of files (and links) extracted.
    """
    tar_path, dest = Path(tar_path), Path(dest)
    marker = extraction_marker(tar_path, dest)
    if marker.is_file():
        count = _marker_count(marker)
        log.info("%s already extracted into %s (%s); skipping", tar_path.name, dest, marker.name)
        return count
    if not hasattr(tarfile, "data_filter"):
        raise DownloadError("safe extraction needs tarfile's 'data' filter (Python >= 3.11.4)")
    prefix = prefix.strip("/")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        count = _extract_stream(tar_path, dest, prefix, include, progress)
    except (tarfile.TarError, EOFError, OSError) as err:
        if isinstance(err, tarfile.FilterError):
            raise DownloadError(f"{tar_path}: refusing unsafe member {err.tarinfo.name!r}: {err}") from err
        raise DownloadError(f"{tar_path}: cannot extract: {err}") from err
    atomic_write_text(marker, json.dumps({"archive": tar_path.name, "prefix": prefix, "files": count}) + "\n")
    log.info("extracted %d files from %s into %s", count, tar_path.name, dest)
    return count


def _marker_count(marker: Path) -> int:
    """The file count recorded in an extraction marker (0 when unreadable)."""
    try:
        return int(json.loads(marker.read_text(encoding="utf-8")).get("files", 0))
    except (ValueError, AttributeError):
        return 0


def _extract_stream(tar_path: Path, dest: Path, prefix: str, include: Callable[[str], bool] | None,
                    progress: bool) -> int:
    """The streaming loop of :func:`safe_extract` (errors are translated by the caller)."""
    count = 0
    with open(tar_path, "rb") as raw, \
            tarfile.open(fileobj=raw, mode="r|*") as tar, \
            tqdm(total=tar_path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
                 desc=f"extract {tar_path.name}", disable=not progress) as bar:
        while (member := tar.next()) is not None:
            # A streamed TarFile remembers every member it has seen; forget them so that an archive
            # with millions of frames runs in constant memory (we never look members up by name).
            tar.members.clear()
            _check_member(tar_path, member)
            rel = _relative_to_prefix(member.name, prefix)
            if rel is not None and not member.isdir() and (include is None or include(rel)):
                if _extract_member(tar, member, dest):
                    count += 1
            bar.update(raw.tell() - bar.n)
    return count


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> bool:
    """Extract one accepted member; a hard link to a file that was not extracted is skipped."""
    if member.islnk() and not (dest / _clean(member.linkname)).exists():
        log.warning("skipping hard link %s: its target %s was not extracted", member.name, member.linkname)
        return False
    tar.extract(member, dest, filter="data")
    return True


def _clean(name: str) -> str:
    """Member name with ``\\`` as ``/`` and no leading ``./``."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _is_absolute(name: str) -> bool:
    return name.startswith("/") or bool(re.match(r"^[A-Za-z]:", name))


def _check_member(tar_path: Path, member: tarfile.TarInfo) -> None:
    """Raise :class:`DownloadError` for a member that could write outside the destination."""
    name = _clean(member.name)
    if _is_absolute(name):
        raise DownloadError(f"{tar_path}: refusing unsafe member {member.name!r}: absolute path")
    if ".." in PurePosixPath(name).parts:
        raise DownloadError(f"{tar_path}: refusing unsafe member {member.name!r}: '..' in its path")
    if member.issym() or member.islnk():
        target = _clean(member.linkname)
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if _is_absolute(target) or resolved == ".." or resolved.startswith("../"):
            raise DownloadError(f"{tar_path}: refusing unsafe member {member.name!r}: "
                                f"link to {member.linkname!r} points outside the destination")


def _relative_to_prefix(name: str, prefix: str) -> str | None:
    """``name`` relative to ``prefix``, or None when it is not strictly under it."""
    name = _clean(name).rstrip("/")
    if not prefix:
        return name
    if name.startswith(prefix + "/"):
        return name[len(prefix) + 1:]
    return None


def phoenix_include(member: str, splits: Iterable[str] = SPLITS) -> bool:
    """Keep the corpus csv files and the ``fullFrame-210x260px/<split>/<name>/<frame>`` images.

    ``member`` is relative to :data:`PHOENIX_TAR_PREFIX` (e.g. ``annotations/manual/...``).
    """
    member = _clean(member)
    splits = tuple(splits)
    corpus = {f"annotations/manual/PHOENIX-2014-T.{split}.corpus.csv" for split in splits}
    if member in corpus:
        return True
    frame_dir = PHOENIX_FRAME_DIR.strip("/") + "/"
    if not member.startswith(frame_dir):
        return False
    parts = member[len(frame_dir):].split("/")
    return len(parts) == 3 and parts[0] in splits and all(parts)


# --------------------------------------------------------------------------------------------------
# datasets


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


def _read_checksums(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DownloadError(f"{path}: not valid JSON ({err}); fix or delete it to record checksums again") from err
    if not isinstance(data, dict):
        raise DownloadError(f"{path}: expected a JSON object of recorded checksums")
    return data


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
    records = _read_checksums(record_path)
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
    atomic_write_text(record_path, json.dumps(records, indent=2, sort_keys=True) + "\n")
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
