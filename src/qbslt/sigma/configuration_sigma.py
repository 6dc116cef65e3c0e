"""``SigmaConfig`` (the model's hyper-parameters) and the checks of one Sigma variant's settings.

A variant's settings are the ``sigma:`` section of params.yaml with ``sigma.variants.<name>``
merged over it (:func:`qbslt.config.sigma_variant_config`)::

    model          SigmaConfig fields (sizes, early_fusion, temperature, ...)
    pretraining    bool: run the unified pre-training before the translation fine-tuning
    pretrain       optimiser settings of the pre-training (epochs, batch_size, lr, ...)
    finetune       optimiser settings of the downstream gloss-free translation, eval_every (dev selection)
    loss_weights   lambda of each pre-training objective: contrastive, vtm, lm
    levels         weights of the hierarchical alignment's levels: fine, global
    grad_clip      gradient-norm clip of both phases
    max_new_tokens decoding budget (beams: the translation runs' eval.num_beams)

:class:`SigmaSettings` is that block typed; :class:`SigmaJobSettings` what one Sigma job reads (every
variant, the ``sigma.data`` block, the decoding keys of ``eval``, and the ``train`` keys of the
machine). :func:`check_settings` refuses an inconsistent variant (e.g. pre-training on with every
objective weighted 0) with a one-line ConfigError naming the key; the schema has already
checked types and unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qbslt.errors import ConfigError
from qbslt.eval.settings import EvalSettings
from qbslt.model.configuration import ModelConfig
from qbslt.settings import Settings
from qbslt.training.settings import StageSettings

PRETRAINING_OBJECTIVES = ("contrastive", "vtm", "lm")
ALIGNMENT_LEVELS = ("fine", "global")


@dataclass
class SigmaConfig(ModelConfig):
    CONFIG_NAME = "sigma model config"

    # ---- skeleton encoder: joint-MLP per frame + Conv1D-BN-ReLU-MaxPool temporal blocks ----
    num_joints: int = 75                  # qbslt.data.keypoints.JOINTS (MediaPipe Holistic layout)
    temporal_blocks: int = 1              # each halves the frame axis (MaxPool 2)
    temporal_kernel: int = 3
    coordinate_frequencies: int = 0       # K: sin/cos of x, y at pi * 2^0..2^(K-1) beside the raw joint features

    # ---- sign-aware visual encoder (transformer over skeleton tokens) ----
    d_model: int = 64
    attention_heads: int = 4
    ffn_dim: int = 128
    dropout: float = 0.1
    encoder_layers: int = 2
    early_fusion: bool = True             # cross-attention to the text tokens in the first fusion_layers layers
    fusion_layers: int = 1

    # ---- text side (mBART: shared token table, text encoder, text decoder) ----
    text_encoder_layers: int = 1
    decoder_layers: int = 1
    max_positions: int = 160
    vocab_size: int = 1000
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int | None = None  # None => eos, as in qbslt.model

    # ---- objectives ----
    temperature: float = 0.07             # contrastive softmax temperature tau (fixed)
    label_smoothing: float = 0.1          # language modelling and translation CE

    def validate(self) -> None:
        bad = self.bad
        if not isinstance(self.coordinate_frequencies, int) or not 0 <= self.coordinate_frequencies <= 12:
            raise bad("coordinate_frequencies", f"must be an integer in [0, 12], got {self.coordinate_frequencies!r}")
        for key in ("num_joints", "temporal_kernel", "d_model", "attention_heads", "ffn_dim", "encoder_layers",
                    "text_encoder_layers", "decoder_layers", "max_positions", "vocab_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise bad(key, f"must be a positive integer, got {getattr(self, key)!r}")
        if self.temporal_kernel % 2 == 0:
            raise bad("temporal_kernel", f"must be odd ('same' padding), got {self.temporal_kernel}")
        if self.d_model % self.attention_heads:
            raise bad("attention_heads", f"d_model={self.d_model} is not divisible by {self.attention_heads}")
        if not 0 <= self.fusion_layers <= self.encoder_layers:
            raise bad("fusion_layers", f"must be in [0, encoder_layers={self.encoder_layers}], got {self.fusion_layers}")
        if self.early_fusion and self.fusion_layers == 0:
            raise bad("fusion_layers", "early_fusion needs at least one fusion layer")
        if not self.temperature > 0:
            raise bad("temperature", f"must be > 0, got {self.temperature}")

    @classmethod
    def from_params(cls, model: dict[str, Any], **token_fields: Any) -> "SigmaConfig":
        """The config of a ``sigma.model`` tree (a variant's, merged) plus the tokenizer's fields."""
        keys = ("temporal_blocks", "temporal_kernel", "coordinate_frequencies", "d_model", "attention_heads", "ffn_dim", "dropout",
                "encoder_layers", "early_fusion", "fusion_layers", "text_encoder_layers", "decoder_layers",
                "max_positions", "temperature", "label_smoothing")
        return cls(**{k: model[k] for k in keys}, **token_fields)


@dataclass(frozen=True, kw_only=True)
class SigmaSettings(Settings):
    """One Sigma variant's settings (the table above)."""

    model: dict[str, Any]  # SigmaConfig.from_params reads it
    pretraining: bool
    pretrain: StageSettings
    finetune: StageSettings
    loss_weights: dict[str, float]
    levels: dict[str, float]
    grad_clip: float
    max_new_tokens: int


@dataclass(frozen=True, kw_only=True)
class SigmaDataSettings(Settings):
    """``sigma.data``: the keypoint sequences' and texts' lengths."""

    max_frames: int
    max_text_tokens: int


@dataclass(frozen=True, kw_only=True)
class SigmaJobSettings(Settings):
    """What one Sigma job (every variant of one dataset and seed) reads."""

    variants: dict[str, SigmaSettings]
    data: SigmaDataSettings
    eval: EvalSettings  # num_beams, eval_beams_during_training, batch_size
    device: str
    threads: int
    deterministic: bool


def check_settings(settings: SigmaSettings | dict, where: str) -> SigmaConfig:
    """Refuse an inconsistent variant (``where``: its key path, e.g. ``sigma.variants.no_lm``);
    returns its model config (default token fields)."""
    settings = SigmaSettings.of(settings, where)
    weights, levels = settings.loss_weights, settings.levels
    if settings.pretraining:
        if not any(weights[k] > 0 for k in PRETRAINING_OBJECTIVES):
            raise ConfigError(f"{where}: pretraining is on but every objective of loss_weights "
                              f"({', '.join(PRETRAINING_OBJECTIVES)}) is 0; set pretraining: false instead")
        if settings.pretrain.epochs < 1:
            raise ConfigError(f"{where}: key 'pretrain.epochs': pretraining is on but epochs is 0; "
                              f"set pretraining: false instead")
        if weights["contrastive"] > 0 and not any(levels[k] > 0 for k in ALIGNMENT_LEVELS):
            raise ConfigError(f"{where}: key 'levels': the contrastive objective is on (loss_weights.contrastive > 0) "
                              f"but every alignment level ({', '.join(ALIGNMENT_LEVELS)}) is weighted 0")
    if settings.finetune.epochs < 1:
        raise ConfigError(f"{where}: key 'finetune.epochs': the downstream translation needs at least one epoch")
    try:
        return SigmaConfig.from_params(settings.model)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


__all__ = ["SigmaConfig", "SigmaSettings", "SigmaDataSettings", "SigmaJobSettings", "check_settings", "PRETRAINING_OBJECTIVES", "ALIGNMENT_LEVELS"]
