"""Raw-data step of the paper profile: locate or download a real dataset and its QA files,
then write the manifest every later step reads (see qbslt.data.sources)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qbslt.data import download
from qbslt.data.verify import sha256sum
from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import get_dataset
from qbslt.errors import ConfigError


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())


def fetch_dataset(dataset: str, sources: dict, out: Path, progress: bool = True) -> dict:
    """Make ``out/manifest.json`` for ``dataset`` from real sources; returns the manifest."""
    spec = get_dataset(dataset)
    if spec.fetch_root is None:
        raise ConfigError(f"dataset {dataset!r} has no real data to fetch (paper profile)")
    out.mkdir(parents=True, exist_ok=True)
    root = spec.fetch_root(sources, out, progress)
    qa_files = download.fetch_qa(sources, dataset, out / "qa", progress=progress)
    manifest = {"dataset": dataset, "profile": "paper", "root": _relative(root, out),
                "qa_dir": _relative(out / "qa", out),
                "qa_sha256": {split: sha256sum(path) for split, path in sorted(qa_files.items())}}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest
