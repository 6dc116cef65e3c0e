"""Raw-data step of the paper profile: locate or download a real dataset and its QA files,
then write the manifest every later step reads (see qbslt.data.sources)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qbslt.data import download
from qbslt.data.annotations import atomic_write_text


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())


def fetch_dataset(dataset: str, sources: dict, out: Path, progress: bool = True) -> dict:
    """Make ``out/manifest.json`` for ``dataset`` from real sources; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    if dataset == "phoenix":
        root = download.fetch_phoenix(sources, out, progress=progress)
    elif dataset == "csl":
        root = download.require_csl(Path(sources["csl"]["root"]))
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    qa_files = download.fetch_qa(sources, dataset, out / "qa", progress=progress)
    manifest = {"dataset": dataset, "profile": "paper", "root": _relative(root, out),
                "qa_dir": _relative(out / "qa", out),
                "qa_sha256": {split: download.sha256sum(path) for split, path in sorted(qa_files.items())}}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest
