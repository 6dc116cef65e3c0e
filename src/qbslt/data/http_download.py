"""Resumable, verified HTTP(S) and ``file://`` downloads.

:func:`download` fetches one URL into ``<dest>.part``, resumes an interrupted ``.part`` with a
``Range`` request, retries transient network errors, and checks size and sha256 (:mod:`.verify`)
*before* renaming the part to ``dest``. A part that fails its checksum is moved aside to
``<dest>.part.bad`` so the next run starts clean.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from tqdm import tqdm

from qbslt.data.verify import HASH_CHUNK, ChecksumMismatchError, file_matches
from qbslt.errors import DownloadError

log = logging.getLogger("qbslt.download")

RETRIES = 3  # attempts per download call, the first one included
RETRY_DELAY = 2.0  # seconds; the n-th retry waits n * RETRY_DELAY
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "qbslt-download/1.0 (+urllib)"


class _Transient(Exception):
    """A network failure worth retrying (the part file is kept and resumed)."""


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
                    while chunk := f.read(HASH_CHUNK):
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
    if file_matches(dest, sha256, expected_bytes):
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
