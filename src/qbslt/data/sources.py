"""A prepared dataset's raw files, described by the manifest its raw step wrote.

Every profile's raw step (embedded generator, real download, or a user-provided tree) ends
by writing ``data/<profile>/raw/<dataset>/manifest.json`` with at least ``dataset``, ``root``
(the official release folder) and ``qa_dir`` (folder of ``{split}.txt`` QA files). Everything
downstream (frame extraction, question join) reads the raw data only through this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qbslt.data import annotations, layout
from qbslt.data.datasets import DatasetSpec, get_dataset
from qbslt.data.frames import VideoSource
from qbslt.errors import DatasetMissingError


@dataclass(frozen=True)
class RawDataset:
    dataset: str
    root: Path
    qa_dir: Path

    @classmethod
    def from_manifest(cls, path: Path | str) -> "RawDataset":
        path = Path(path)
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetMissingError(f"{path}: manifest not found: run the raw-data step first") from None
        base = path.parent
        # Paths in a manifest are relative to the manifest's folder unless absolute.
        return cls(dataset=manifest["dataset"], root=base / manifest["root"],
                   qa_dir=base / manifest["qa_dir"])

    @property
    def spec(self) -> DatasetSpec:
        """The dataset's object: its layout, parsers and join checks."""
        return get_dataset(self.dataset)

    def qa_records(self, split: str) -> list[annotations.QARecord]:
        return self.spec.read_qa(layout.qa_path(self.qa_dir, split), expected_split=split)

    def videos(self, split: str) -> dict[str, dict]:
        """{name: {"signer", "translation" (PHOENIX corpus, else None), "frames" (Path)}} of a split."""
        return self.spec.videos(self.root, split)

    def video_sources(self, split: str) -> list[VideoSource]:
        """Frame sources of every video of a split, in a stable (sorted) order."""
        return [VideoSource(name, info["frames"]) for name, info in sorted(self.videos(split).items())]
