"""Verification of downloaded files: sha256 in constant memory, size and checksum checks, and the
record of checksums taken on first download for files that publish none (``checksums.json``)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from qbslt.atomic import atomic_write_text
from qbslt.errors import DownloadError

log = logging.getLogger("qbslt.download")

CHECKSUMS_FILE = "checksums.json"
HASH_CHUNK = 1 << 20


class ChecksumMismatchError(DownloadError):
    """A finished download whose sha256 differs from the expected one."""

    def __init__(self, url: str, expected: str, actual: str, moved_to: Path):
        self.url, self.expected, self.actual, self.moved_to = url, expected, actual, moved_to
        super().__init__(f"{url}: sha256 mismatch: expected {expected}, got {actual}; "
                         f"the downloaded data was moved aside to {moved_to} and the next run starts afresh")


def sha256sum(path: Path | str, chunk_size: int = HASH_CHUNK) -> str:
    """Hex sha256 of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def file_matches(dest: Path, sha256: str | None, expected_bytes: int | None) -> bool:
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


def read_checksums(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DownloadError(f"{path}: not valid JSON ({err}); fix or delete it to record checksums again") from err
    if not isinstance(data, dict):
        raise DownloadError(f"{path}: expected a JSON object of recorded checksums")
    return data


def write_checksums(path: Path, records: dict) -> None:
    atomic_write_text(path, json.dumps(records, indent=2, sort_keys=True) + "\n")
