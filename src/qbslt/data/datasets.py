"""One object per dataset: everything that differs between PHOENIX-2014T-QA and CSL-Daily-QA.

Code asks a dataset's object (``get_dataset(name).eval_level``, ``spec.read_qa(path)``,
``spec.videos(root, split)``, ...) instead of comparing names, so another dataset is one more
object in :data:`DATASETS`. The objects hold what the official releases and this project's code
fix per dataset: the on-disk layout, the annotation parsers, the evaluation level, the join's
checks, the generator's hooks and the names shown in reports. What params.yaml sets per dataset
(generator split sizes, decoder start token, download sources) stays in params.yaml.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sized

from qbslt.data import annotations, download, layout
from qbslt.data.annotations import CorpusRecord, QARecord
from qbslt.errors import ConfigError

if TYPE_CHECKING:
    from qbslt.data.synth.plans import SyntheticHooks


@dataclass(frozen=True)
class VideoListFormat:
    """The release file that lists the videos (PHOENIX corpus csv, CSL-Daily split file)."""

    kind: str  # what ``qbslt check-annotations`` calls such a file
    matches: Callable[[str], bool]  # its first non-blank line -> is this such a file (and not a QA file)?
    read: Callable[[Path], Sized]  # its parsed rows (AnnotationError on a malformed line)


@dataclass(frozen=True)
class DatasetSpec:
    """What is fixed per dataset. Layout callables take the release root (``manifest.json``'s ``root``)."""

    name: str  # key in params.yaml, data paths and workflow wildcards
    title: str  # the paper's name of the dataset, in reports and captions
    eval_level: str  # "word" | "char": tokens of evaluation and of the embedded tokenizers
    # --- official layout
    release_dir: str  # the release folder under data/<profile>/raw/<dataset>/ of generated data
    frame_suffix: str  # frame file extension, which also picks the image format the generator writes
    frames_dir: Callable[[Path, str, str], Path]  # (root, split, name) -> folder of a video's frames
    frame_name: Callable[[int], str]  # 0-based frame index -> frame file name
    # --- annotations
    read_qa: Callable[..., list[QARecord]]  # (path, expected_split=None) -> QA rows
    videos: Callable[[Path, str], dict[str, dict]]  # (root, split) -> {name: {"signer", "translation", "frames"}}
    video_list: VideoListFormat
    read_corpus: Callable[[Path], list[CorpusRecord]] | None  # per-split corpus file, where the release has one
    corpus_name: str | None  # its file name, "{split}" in it, in a flat folder of real files
    signer_from_name: Callable[[str], str | None]  # the signer a video name gives, None where it gives none
    # --- pipeline
    check_translation: bool  # join: a QA translation must equal its video's corpus translation
    real_dir: str  # folder of the real annotations under the real-data folder (``qbslt data-stats --real``)
    fetch_root: Callable[[Mapping, Path, bool], Path] | None  # paper profile: (data.sources, raw dir, progress) -> root
    # Embedded generator: its hooks, loaded on first use (the grammars build their tables on import,
    # about a second no other step should pay); None: the dataset cannot be generated.
    load_synthetic: Callable[[], SyntheticHooks] | None

    def synthetic(self) -> SyntheticHooks:
        """The generator's hooks (grammar, planner, file writers); ConfigError where there are none."""
        if self.load_synthetic is None:
            raise ConfigError(f"dataset {self.name!r} has no embedded generator")
        return self.load_synthetic()

    def embedded_roots(self, base: Path | str) -> tuple[Path, Path]:
        """(release root, QA folder) of a generated dataset under ``base`` (``raw/<dataset>/``)."""
        return Path(base) / self.release_dir, Path(base) / "qa"


# --- PHOENIX-2014T-QA ----------------------------------------------------------------------------

def _phoenix_videos(root: Path, split: str) -> dict[str, dict]:
    rows = annotations.read_phoenix_corpus(layout.phoenix_corpus_path(root, split))
    return {r.name: {"signer": r.speaker, "translation": r.translation,
                     "frames": layout.phoenix_frames_dir(root, split, r.name)} for r in rows}


def _is_phoenix_corpus(first_line: str) -> bool:
    # A QA line holds '%'-separated fields; a corpus line (header or row) seven '|'-separated ones.
    return "%" not in first_line and len(first_line.split("|")) == len(annotations.PHOENIX_CORPUS_HEADER)


def _fetch_phoenix(sources: Mapping, raw_dir: Path, progress: bool) -> Path:
    return download.fetch_phoenix(sources, raw_dir, progress=progress)


@functools.cache
def _phoenix_synthetic() -> SyntheticHooks:
    from qbslt.data.synth import phoenix_grammar, plans

    return plans.SyntheticHooks(grammar=phoenix_grammar, plan=plans.plan_phoenix, write_files=plans.write_phoenix_files,
                                write_video_list=plans.write_phoenix_corpus, hashed_signer=plans.phoenix_hashed_signer)


PHOENIX = DatasetSpec(
    name="phoenix",
    title="PHOENIX-2014T-QA",
    eval_level="word",
    release_dir=layout.PHOENIX_TAR_PREFIX,
    frame_suffix=".png",
    frames_dir=layout.phoenix_frames_dir,
    frame_name=layout.phoenix_frame_name,
    read_qa=annotations.read_phoenix_qa,
    videos=_phoenix_videos,
    video_list=VideoListFormat("corpus", _is_phoenix_corpus, annotations.read_phoenix_corpus),
    read_corpus=annotations.read_phoenix_corpus,
    corpus_name=layout.PHOENIX_CORPUS_NAME,
    signer_from_name=lambda name: None,  # names are broadcast dates; the corpus gives the speaker
    check_translation=True,
    real_dir="phoenix-2014t-qa",
    fetch_root=_fetch_phoenix,
    load_synthetic=_phoenix_synthetic,
)


# --- CSL-Daily-QA --------------------------------------------------------------------------------

CSL_SIGNER = re.compile(r"_(P\d+)_")


def csl_signer(name: str) -> str | None:
    """The signer of a CSL-Daily video name (``S000001_P0003_T00`` -> ``P0003``)."""
    match = CSL_SIGNER.search(name)
    return match.group(1) if match else None


def _csl_frames_dir(root: Path, split: str, name: str) -> Path:
    return layout.csl_frames_dir(root, name)  # one folder for every split


def _read_csl_qa(path: Path, expected_split: str | None = None) -> list[QARecord]:
    return annotations.read_csl_qa(path)  # CSL rows carry no split to check


def _csl_videos(root: Path, split: str) -> dict[str, dict]:
    out = {}
    for name, name_split in annotations.read_csl_split(layout.csl_split_path(root)).items():
        if name_split == split:
            out[name] = {"signer": csl_signer(name) or "unknown", "translation": None,
                         "frames": layout.csl_frames_dir(root, name)}
    return out


def _fetch_csl(sources: Mapping, raw_dir: Path, progress: bool) -> Path:
    return download.require_csl(Path(sources["csl"]["root"]))  # on request only: placed by hand, never downloaded


@functools.cache
def _csl_synthetic() -> SyntheticHooks:
    from qbslt.data.synth import csl_grammar, plans

    return plans.SyntheticHooks(grammar=csl_grammar, plan=plans.plan_csl, write_files=plans.write_csl_files,
                                write_video_list=plans.write_csl_split_file, hashed_signer=plans.csl_hashed_signer)


CSL = DatasetSpec(
    name="csl",
    title="CSL-Daily-QA",
    eval_level="char",
    release_dir=layout.CSL_RELEASE_DIR,
    frame_suffix=".jpg",
    frames_dir=_csl_frames_dir,
    frame_name=layout.csl_frame_name,
    read_qa=_read_csl_qa,
    videos=_csl_videos,
    video_list=VideoListFormat("split", lambda first_line: len(first_line.split("|")) == 2, annotations.read_csl_split),
    read_corpus=None,
    corpus_name=None,
    signer_from_name=csl_signer,
    check_translation=False,  # the split file gives no translation to check against
    real_dir="csl-daily-qa",
    fetch_root=_fetch_csl,
    load_synthetic=_csl_synthetic,
)


# --- registry ------------------------------------------------------------------------------------

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (PHOENIX, CSL)}


def get_dataset(name: str) -> DatasetSpec:
    """The object of dataset ``name``; ConfigError naming it when there is none."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})") from None
