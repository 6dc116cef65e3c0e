"""Safe extraction of (very large) tar archives: one streaming pass, only the wanted members, and no
member may escape the destination (absolute names, ``..`` components, links leading outside)."""

from __future__ import annotations

import json
import logging
import posixpath
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Callable

from tqdm import tqdm

from qbslt.atomic import atomic_write_text
from qbslt.errors import DownloadError

log = logging.getLogger("qbslt.download")


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
    if member.islnk() and not (dest / clean_member_name(member.linkname)).exists():
        log.warning("skipping hard link %s: its target %s was not extracted", member.name, member.linkname)
        return False
    tar.extract(member, dest, filter="data")
    return True


def clean_member_name(name: str) -> str:
    """Member name with ``\\`` as ``/`` and no leading ``./``."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _is_absolute(name: str) -> bool:
    return name.startswith("/") or bool(re.match(r"^[A-Za-z]:", name))


def _check_member(tar_path: Path, member: tarfile.TarInfo) -> None:
    """Raise :class:`DownloadError` for a member that could write outside the destination."""
    name = clean_member_name(member.name)
    if _is_absolute(name):
        raise DownloadError(f"{tar_path}: refusing unsafe member {member.name!r}: absolute path")
    if ".." in PurePosixPath(name).parts:
        raise DownloadError(f"{tar_path}: refusing unsafe member {member.name!r}: '..' in its path")
    if member.issym() or member.islnk():
        target = clean_member_name(member.linkname)
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if _is_absolute(target) or resolved == ".." or resolved.startswith("../"):
            raise DownloadError(f"{tar_path}: refusing unsafe member {member.name!r}: "
                                f"link to {member.linkname!r} points outside the destination")


def _relative_to_prefix(name: str, prefix: str) -> str | None:
    """``name`` relative to ``prefix``, or None when it is not strictly under it."""
    name = clean_member_name(name).rstrip("/")
    if not prefix:
        return name
    if name.startswith(prefix + "/"):
        return name[len(prefix) + 1:]
    return None
