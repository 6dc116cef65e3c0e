"""Node-local staging of the stores a training job reads (``cluster.stage_dir``, e.g. ``$SLURM_TMPDIR``).

On a cluster the frame stores live on a shared file system, and each training job's loader workers read
them at random. :func:`stage` copies a store once to the node's own disk and returns the copy's path, so
the random reads stay local. It only ever moves bytes: the run opens the copy, but its resume fingerprint
is taken from the shared file (a copy at a new path would be hashed again), and the results are the same.

A copy is made beside its final name and renamed into place, so a job killed while copying leaves no
half store; a store already staged by an earlier job on the node (same size and modification time) is
reused. When the folder is not there (its variable unset) or lacks the space, the job reads the shared
store and says why in one log line.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from qbslt.atomic import atomic_paths

log = logging.getLogger("qbslt")

# Space left free on the node-local disk beside a staged store (the job writes its checkpoints elsewhere).
FREE_MARGIN = 1.05


def stage_dir(setting: str | None) -> Path | None:
    """``cluster.stage_dir`` with its environment variables expanded, or None: not set, or it names a
    variable that is not set here (not on a cluster node)."""
    if not setting:
        return None
    expanded = os.path.expandvars(setting)
    if "$" in expanded:
        log.info("staging: %s is not set here; reading the shared stores", setting)
        return None
    return Path(expanded)


def stage(path: Path, folder: Path | None) -> Path:
    """The node-local copy of the store ``path`` in ``folder`` (made now, or reused), or ``path`` itself
    when ``folder`` is None, missing, or short of space."""
    path = Path(path)
    if folder is None:
        return path
    if not folder.is_dir():
        log.warning("staging: %s is not a folder; reading %s from the shared file system", folder, path)
        return path
    target = folder / "qbslt-stores" / path.resolve().as_posix().lstrip("/").replace("/", "__")
    source = path.stat()
    if target.is_file() and target.stat().st_size == source.st_size and \
            target.stat().st_mtime_ns == source.st_mtime_ns:
        return target
    free = shutil.disk_usage(folder).free
    if free < source.st_size * FREE_MARGIN:
        log.warning("staging: %s has %.1f GB free, %s needs %.1f GB; reading it from the shared file system",
                    folder, free / 1e9, path, source.st_size / 1e9)
        return path
    with atomic_paths(target) as (tmp,):
        shutil.copyfile(path, tmp)
        os.utime(tmp, ns=(source.st_atime_ns, source.st_mtime_ns))  # what the reuse check compares
    log.info("staging: %s -> %s (%.1f GB)", path, target, source.st_size / 1e9)
    return target
