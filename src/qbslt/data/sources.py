"""A prepared dataset's raw files, described by the manifest its raw step wrote.

Every profile's raw step (embedded generator, real download, or a user-provided tree) ends
by writing ``data/<profile>/raw/<dataset>/manifest.json`` with at least ``dataset``, ``root``
(the official release folder) and ``qa_dir`` (folder of ``{split}.txt`` QA files). Everything
downstream (frame extraction, question join) reads the raw data only through this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from qbslt.data import annotations, layout
from qbslt.data.frames import VideoSource
from qbslt.errors import DatasetMissingError

CSL_SIGNER = re.compile(r"_(P\d+)_")


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

    def qa_records(self, split: str) -> list[annotations.QARecord]:
        return annotations.read_qa(self.dataset, layout.qa_path(self.qa_dir, split), expected_split=split)

    def videos(self, split: str) -> dict[str, dict]:
        """{name: {"signer", "translation" (PHOENIX corpus, else None), "frames" (Path)}} of a split."""
        if self.dataset == "phoenix":
            rows = annotations.read_phoenix_corpus(layout.phoenix_corpus_path(self.root, split))
            return {r.name: {"signer": r.speaker, "translation": r.translation,
                             "frames": layout.phoenix_frames_dir(self.root, split, r.name)} for r in rows}
        splits = annotations.read_csl_split(layout.csl_split_path(self.root))
        out = {}
        for name, name_split in splits.items():
            if name_split == split:
                match = CSL_SIGNER.search(name)
                out[name] = {"signer": match.group(1) if match else "unknown", "translation": None,
                             "frames": layout.csl_frames_dir(self.root, name)}
        return out

    def video_sources(self, split: str) -> list[VideoSource]:
        """Frame sources of every video of a split, in a stable (sorted) order."""
        return [VideoSource(name, info["frames"]) for name, info in sorted(self.videos(split).items())]
