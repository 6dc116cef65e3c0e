"""The typed ``train`` block: what a training run reads of params.yaml (params.yaml's comments say what each key does).

:class:`TrainSettings` is the whole block as an SSL-SSAW run gets it (a stage-1 run's block has no
``stage2``); :class:`LoopSettings` is the part :func:`qbslt.training.loop.fit` reads, which Sigma
fills from its own keys; :class:`StageSettings` is one stage's optimisation, shared by SSL-SSAW's
two stages and Sigma's two phases.
"""

from __future__ import annotations

from dataclasses import dataclass

from qbslt.settings import Settings, absent_ok


@dataclass(frozen=True, kw_only=True)
class StageSettings(Settings):
    """One stage's optimisation (``train.stage1``, ``train.stage2``, Sigma's ``pretrain`` / ``finetune``)."""

    epochs: int  # the learning-rate schedule's length; the cap with extra_epochs; early stopping may end a run sooner
    batch_size: int  # the global batch, under DDP too
    optimizer: str
    lr: float
    weight_decay: float
    warmup_steps: int
    mask_prob: float | None = absent_ok()  # stage 1: the share of question tokens masked for L_M
    eval_every: int | None = absent_ok()  # dev evaluation every k epochs (absent: every epoch)
    patience: int | None = absent_ok()  # stop after P evaluations without a better dev score (absent: never)
    min_epochs: int | None = absent_ok()  # no early stop before this epoch (absent: 0)
    # an evaluation improves only when it beats the last improving one by more than this (absent: 0)
    min_delta: float | None = absent_ok()
    # the cosine learning rate decays over ``epochs`` to ``lr * min_lr_ratio`` (absent: 0); up to
    # ``extra_epochs`` (absent: 0) more at that floor run only while dev improves (early stopping)
    min_lr_ratio: float | None = absent_ok()
    extra_epochs: int | None = absent_ok()
    # stage 2: keep a backbone trained in stage 1 at its stage-1 weights and read its cached features
    # (the cached-feature recipe; absent: false)
    freeze_backbone: bool | None = absent_ok()

    @property
    def evaluation_period(self) -> int:
        return self.eval_every if self.eval_every is not None else 1

    @property
    def earliest_stop(self) -> int:
        return self.min_epochs or 0

    @property
    def improvement(self) -> float:
        return self.min_delta or 0.0

    @property
    def cap(self) -> int:
        """The most epochs a run trains: the schedule's, and the extra ones at its floor."""
        return self.epochs + (self.extra_epochs or 0)

    @property
    def lr_floor(self) -> float:
        return self.min_lr_ratio or 0.0


@dataclass(frozen=True, kw_only=True)
class AugmentSettings(Settings):
    """``train.augment``: training-time video augmentation (0 turns each off)."""

    temporal_scale: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0


@dataclass(frozen=True, kw_only=True)
class LoopSettings(Settings):
    """What the training loop reads besides a stage's optimisation."""

    precision: str = "fp32"  # fp32 | bf16 (autocast on a GPU)
    compile: bool = False  # torch.compile on a GPU
    channels_last: bool = False  # NHWC frames into the backbone on a GPU
    bucket_by_length: bool = False  # batches of similar lengths (params.yaml: true)
    workers: int = 0  # data-loader processes
    micro_batch_size: int | None = None  # gradient accumulation in passes of this size (None: one pass)
    grad_clip: float = 0.0  # max gradient norm (0: no clipping)
    checkpoint_seconds: float = 0.0  # last.pt at most this often (0: every epoch)


@dataclass(frozen=True, kw_only=True)
class TrainSettings(LoopSettings):
    """params.yaml's ``train`` block, as one variant resolves it."""

    device: str
    gpus: int
    deterministic: bool
    threads: int
    max_frames: int
    crop_size: int | None
    augment: AugmentSettings
    max_text_tokens: int
    stage1: StageSettings
    stage2: StageSettings | None = absent_ok()  # absent from a stage-1 run's block
