"""The typed ``data`` block: which datasets, at which size, stored how, and how the embedded and
realtext data are made (docs/configuration.md, docs/embedded-data.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qbslt.settings import Settings, absent_ok


@dataclass(frozen=True, kw_only=True)
class SplitSizes(Settings):
    """``data.synthetic.<dataset>``: signers and samples per split of one embedded dataset."""

    signers: int
    train: int
    dev: int
    test: int


@dataclass(frozen=True, kw_only=True)
class RenderSettings(Settings):
    """``data.synthetic.render``: the sign renderer (embedded and realtext video)."""

    frames_per_gloss: list[int]  # [min, max]
    transition_frames: list[int]  # [min, max]
    noise_std: float


@dataclass(frozen=True, kw_only=True)
class HardVideoSettings(Settings):
    """``data.synthetic.hard_video``: the ways real video is hard (embedded only; each absent: off)."""

    speed_jitter: float | None = absent_ok()
    coarticulation: float | None = absent_ok()
    drop_frames: float | None = absent_ok()
    occlusion: float | None = absent_ok()
    lighting: float | None = absent_ok()
    noise_std: float | None = absent_ok()


@dataclass(frozen=True, kw_only=True)
class QuestionMix(Settings):
    """``data.synthetic.questions``: the weight of each kind of question."""

    partial: float
    disambiguating: float
    unrelated: float
    yes_no: float


@dataclass(frozen=True, kw_only=True)
class SyntheticSettings(Settings):
    """``data.synthetic``: the embedded generator (and the realtext renderer's seed and ``render``)."""

    seed: int
    phoenix: SplitSizes
    csl: SplitSizes
    render: RenderSettings
    hard_video: HardVideoSettings | None = absent_ok()
    questions: QuestionMix
    inject_defects: bool  # the embedded raw files carry the defects the pipeline must survive

    def sizes(self, dataset: str) -> SplitSizes:
        return getattr(self, dataset)

    def video_settings(self) -> dict[str, Any]:
        """The embedded renderer's settings: ``render`` with ``hard_video`` on top."""
        return {**self.render.to_dict(), **(self.hard_video.to_dict() if self.hard_video else {})}


@dataclass(frozen=True, kw_only=True)
class FrameStoreSettings(Settings):
    """``data.frame_store``: how frames are stored (qbslt.data.frame_store)."""

    format: str  # raw | jpeg
    quality: int  # JPEG quality


@dataclass(frozen=True, kw_only=True)
class KeypointSettings(Settings):
    """``data.keypoints``: the keypoint extractor (qbslt.data.keypoints)."""

    extractor: str | None = absent_ok()  # auto | renderer | mediapipe (absent from the mediapipe step's block)
    min_detection_confidence: float
    min_tracking_confidence: float


@dataclass(frozen=True, kw_only=True)
class DataSettings(Settings):
    """params.yaml's ``data`` block."""

    datasets: list[str]
    frame_size: list[int]  # [H, W]
    prepare_threads: int
    frame_store: FrameStoreSettings
    keypoints: KeypointSettings
    synthetic: SyntheticSettings
    # download sources: URLs, checksums, local folders (qbslt.data.download, qbslt.data.realtext read them)
    sources: dict[str, Any]
