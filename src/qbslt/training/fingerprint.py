"""What a resumable training state was computed from, beside its settings: the content of every
input file and the code.

A checkpoint is found by a hash of the run's settings (``config_checkpoint_dir``), and resumes
only when its fingerprint matches the run's too: regenerated data, new stage-1 weights, other
tokenizers or an edited package start the run afresh (the log says which input changed), so no
model trained on old inputs is ever reported for new ones.

Large inputs (frame stores, the paper profile's tens of GB) are hashed once: a file's SHA-256 is
cached under ``$QBSLT_HASH_CACHE`` (default ``$XDG_CACHE_HOME/qbslt/file-hashes``), keyed by its
path, device, inode, size and modification time, so a rerun reads only the cache.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import qbslt
from qbslt.atomic import atomic_write_text

CACHE_VARIABLE = "QBSLT_HASH_CACHE"


def hash_cache_dir() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qbslt" / "file-hashes"


def file_digest(path: Path) -> str:
    """SHA-256 of ``path``'s content, from the cache when the file is unchanged since it was hashed."""
    path = Path(path).resolve()
    info = path.stat()
    key = hashlib.sha1(f"{path}\0{info.st_dev}\0{info.st_ino}\0{info.st_size}\0{info.st_mtime_ns}".encode()).hexdigest()
    cached = hash_cache_dir() / key
    try:
        return cached.read_text(encoding="ascii").strip()
    except OSError:
        pass
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    try:
        atomic_write_text(cached, digest + "\n")
    except OSError:  # a read-only home: hash again next time
        pass
    return digest


def path_digest(path: Path | None) -> str | None:
    """Digest of a file, or of a folder (every file in it: relative name and content); None for no path."""
    if path is None:
        return None
    path = Path(path)
    if path.is_file():
        return file_digest(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for member in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{member.relative_to(path).as_posix()}\0{file_digest(member)}\0".encode())
        return digest.hexdigest()
    return "missing"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The package's version and a hash of its source: every ``.py`` and ``.yaml`` file's content."""
    root = Path(qbslt.__file__).resolve().parent
    digest = hashlib.sha256()
    for member in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()):
        digest.update(f"{member.relative_to(root).as_posix()}\0".encode() + member.read_bytes() + b"\0")
    return f"{qbslt.__version__}+{digest.hexdigest()[:16]}"


def fingerprint(inputs: dict[str, Path | None]) -> dict[str, str | None]:
    """{"code": code_version(), name: digest of each input}."""
    return {"code": code_version(), **{name: path_digest(p) for name, p in sorted(inputs.items())}}


def changed_inputs(recorded: dict | None, current: dict) -> list[str]:
    """Names whose digest differs between a checkpoint's fingerprint and the run's (all: none recorded)."""
    if recorded is None:
        return ["no fingerprint recorded"]
    return sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
