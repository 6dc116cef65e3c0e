"""Raw-data step of the realtext profile: the real PHOENIX-2014T-QA texts, video rendered from glosses.

The texts (QA files and the corpus files that give each video's speaker and gloss sequence) are
read from ``data.sources.realtext.local_dir`` when that folder exists, each file verified against
its pinned sha256; otherwise they are downloaded from the pinned GBT-code commit
(``data.sources.qa``) with the same checks. Each sample's video is then rendered from its real
gloss sequence by the embedded profile's sign renderer
(:func:`qbslt.data.synth.generate.render_annotations`), in the official layout, so frame
extraction, the question join, features and training run unchanged. The video carries the
glosses' information and no more.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

from qbslt.atomic import atomic_write_text
from qbslt.data import download, http_download
from qbslt.data.layout import PHOENIX_CORPUS_NAME, SPLITS, qa_path
from qbslt.data.settings import SyntheticSettings
from qbslt.data.synth.generate import render_annotations
from qbslt.data.verify import sha256sum
from qbslt.errors import DownloadError

log = logging.getLogger(__name__)
DATASETS = ("phoenix",)  # CSL-Daily-QA has no public train split
CORPUS_NAME = PHOENIX_CORPUS_NAME  # the release's names, also in the flat folder of real files


def _local_files(local_dir: Path, sources: dict) -> tuple[dict[str, Path], dict[str, Path]]:
    """QA and corpus files of ``local_dir``, each checked against its pinned sha256."""
    qa = {split: qa_path(local_dir, split) for split in SPLITS}
    corpus = {split: local_dir / CORPUS_NAME.format(split=split) for split in SPLITS}
    pinned = {**{p: sources["qa"]["phoenix"][s]["sha256"] for s, p in qa.items()},
              **{p: sources["realtext"]["corpus"][s]["sha256"] for s, p in corpus.items()}}
    for path, sha256 in pinned.items():
        if not path.is_file():
            raise DownloadError(f"{path}: missing from data.sources.realtext.local_dir ({local_dir}); "
                                         f"restore it, or set local_dir to null to download the texts")
        actual = sha256sum(path)
        if sha256 and actual != sha256:
            raise DownloadError(f"{path}: sha256 {actual} is not the pinned {sha256} "
                                         f"(data.sources); the file is not the published one")
    return qa, corpus


def _downloaded_files(sources: dict, out: Path, progress: bool) -> tuple[dict[str, Path], dict[str, Path]]:
    """QA files (pinned, checksummed) and corpus files of the pinned GBT-code commit, under ``out``."""
    qa = download.fetch_qa(sources, "phoenix", out / "qa", progress=progress)
    spec = sources["qa"]
    corpus = {}
    for split in SPLITS:
        entry = sources["realtext"]["corpus"][split]
        url = spec["url"].format(commit=spec["commit"], path=entry["path"])
        corpus[split] = http_download.download(url, out / "corpus" / CORPUS_NAME.format(split=split),
                                          sha256=entry["sha256"], progress=progress)
    return qa, corpus


def locate_texts(sources: dict, download_dir: Path, progress: bool = True) -> tuple[dict[str, Path], dict[str, Path]]:
    """({split: QA file}, {split: corpus file}) of the real PHOENIX-2014T-QA texts."""
    local = sources["realtext"]["local_dir"]
    if local and Path(local).is_dir():
        log.info("realtext: using the texts in %s (data.sources.realtext.local_dir)", local)
        return _local_files(Path(local), sources)
    log.info("realtext: %s not found; downloading the texts from the pinned GBT-code commit", local)
    return _downloaded_files(sources, download_dir, progress)


def _first_rows(path: Path, n: int, dest: Path) -> Path:
    """The first ``n`` lines of a QA file, written to ``dest`` (``data.sources.realtext.subset``)."""
    lines = path.read_text(encoding="utf-8").splitlines()[:n]
    atomic_write_text(dest, "\n".join(lines))  # like the real files: no newline after the last line
    return dest


def prepare_realtext(dataset: str, data_cfg: Mapping, out: Path, threads: int = 1, progress: bool = True) -> dict:
    """Write ``out/manifest.json`` and the rendered dataset of the realtext profile; returns the manifest.

    ``data_cfg`` is the ``data`` tree of params.yaml (``sources``, ``synthetic.render``,
    ``synthetic.seed``, ``frame_size``).
    """
    if dataset not in DATASETS:
        raise ValueError(f"realtext has no dataset {dataset!r}: only {', '.join(DATASETS)} (CSL-Daily-QA has no "
                         f"public train split)")
    out = Path(out)
    qa, corpus = locate_texts(data_cfg["sources"], out / "download", progress)
    subset = data_cfg["sources"]["realtext"]["subset"]
    if subset:
        qa = {split: _first_rows(path, int(subset[split]), out / "subset" / path.name) for split, path in qa.items()}
    synthetic = SyntheticSettings.of(data_cfg["synthetic"], "data.synthetic")
    return render_annotations(dataset, qa, out, tuple(data_cfg["frame_size"]), synthetic.render.to_dict(),
                              synthetic.seed, corpus_files=corpus, threads=threads, progress=progress,
                              profile="realtext")
