"""Atomic outputs: every file the pipeline writes appears whole or not at all.

A writer fills a temporary file beside its target (same folder, so the rename cannot cross file
systems) and renames it onto the target only when it has finished; an error or an interruption
removes the temporary file and leaves the previous target, if any, untouched. Snakemake, DVC and
the resumable training all rely on this: a file that exists is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator


def temporary_path(path: Path) -> Path:
    """The temporary name a writer fills before the rename: hidden, per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[tuple[Path, ...]]:
    """Temporary paths beside each of ``paths`` (folders created); on success each is renamed onto
    its target, in order, on failure all are removed."""
    targets = [Path(p) for p in paths]
    temporaries = [temporary_path(t) for t in targets]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tuple(temporaries)
        for tmp, target in zip(temporaries, targets):
            os.replace(tmp, target)
    except BaseException:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_paths(path) as (tmp,):
        tmp.write_text(text, encoding="utf-8", newline="\n")


def atomic_write_json(path: str | os.PathLike, tree, indent: int | None = 2) -> None:
    """Write ``tree`` as strict JSON (RFC 8259: no NaN or Infinity, which strict parsers reject) to
    ``path`` atomically; a non-finite number is a ValueError naming the file, never a written ``NaN``."""
    try:
        text = json.dumps(tree, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc} (a missing value is written as null)") from None
    atomic_write_text(path, text + "\n")
