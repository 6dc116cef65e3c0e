"""What the model configs share (:class:`ModelConfig`: checked when built, the dict / JSON round trip,
``save_pretrained`` / ``from_pretrained`` of ``config.json``), the frame backbones' feature sizes and
the pinning of Hugging Face Hub checkpoints (:func:`hub_kwargs`). Each method's own config is in its
package: ``qbslt.ssl_ssaw.configuration_ssl_ssaw`` (QBSLTConfig), ``qbslt.sigma.configuration_sigma``
(SigmaConfig).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from qbslt.atomic import atomic_write_text
from qbslt.errors import ConfigError

BACKBONES = {"resnet18": 512, "shufflenet_v2_x1_0": 1024}
# A Hugging Face Hub revision that pins: a full commit hash (a branch or tag name can move).
HUB_REVISION = re.compile(r"[0-9a-f]{40}")
# Each pretrained path and the revision that pins it when it is a hub id.
PRETRAINED_REVISIONS = {"mbart_path": "mbart_revision", "bert_path": "bert_revision"}


def hub_kwargs(path: str | Path | None, revision: str | None) -> dict[str, str]:
    """The keyword arguments that pin ``from_pretrained(path)``: ``{"revision": revision}`` for a Hub id,
    none for an existing local folder (a saved or vocabulary-trimmed checkpoint has no hub history, and
    its files are what they are) or without a revision (the hub's default branch). Every loading of
    ``mbart_path`` / ``bert_path`` (the models, the tokenizers, the trimmed mBART) goes through here."""
    if revision is None or path is None or Path(path).is_dir():
        return {}
    return {"revision": revision}


class ModelConfig:
    """What the model configs (QBSLTConfig, qbslt.sigma's SigmaConfig) share: checked when built
    (``validate``, its errors naming the key under ``CONFIG_NAME``), the decoder start token, and the
    dict / JSON round trip that refuses unknown keys. Subclasses are dataclasses with token-id fields."""

    CONFIG_NAME = "model config"
    CONFIG_FILE = "config.json"  # in a model folder (qbslt.model.pretrained)
    # The ``model_type`` key of ``config.json`` that Hugging Face's ``AutoConfig`` / ``AutoModel`` dispatch
    # on (registered in qbslt.ssl_ssaw.modeling_ssl_ssaw); None: the config writes none. A config.json written
    # before the key existed has none and still loads; a different one is refused.
    model_type: ClassVar[str | None] = None
    # Read by ``transformers.AutoModel.from_pretrained`` on every config it loads: this one has no
    # nested configs.
    sub_configs: ClassVar[dict[str, type]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        raise NotImplementedError

    def bad(self, key: str, msg: str) -> ConfigError:
        """The error of a bad value of ``key``."""
        return ConfigError.for_key(self.CONFIG_NAME, key, msg)

    @property
    def decoder_start_id(self) -> int:
        return self.eos_token_id if self.decoder_start_token_id is None else self.decoder_start_token_id

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.model_type is not None:
            data["model_type"] = self.model_type
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **hf_kwargs: Any):
        """The config of ``data`` (as ``to_dict`` writes it; ``model_type`` optional). ``hf_kwargs``: what
        ``transformers.AutoConfig`` passes: fields among them override ``data``; with
        ``return_unused_kwargs=True`` the result is ``(config, the other kwargs)``, else they are ignored."""
        data = dict(data)
        model_type = data.pop("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ConfigError(f"{cls.CONFIG_NAME}: model_type {model_type!r} is not {cls.model_type!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        return_unused = hf_kwargs.pop("return_unused_kwargs", False)
        data.update({k: hf_kwargs.pop(k) for k in list(hf_kwargs) if k in known})
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{cls.CONFIG_NAME}: unknown key '{unknown[0]}' (allowed: {', '.join(sorted(known))})")
        config = cls(**data)
        return (config, hf_kwargs) if return_unused else config

    def save_pretrained(self, folder: Path | str) -> None:
        """Write ``config.json`` into the model folder ``folder``."""
        atomic_write_text(Path(folder) / self.CONFIG_FILE, self.to_json() + "\n")

    @classmethod
    def from_pretrained(cls, folder: Path | str):
        """The config of the model folder ``folder``; a ConfigError naming the file when it is not one."""
        path = Path(folder) / cls.CONFIG_FILE
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a {cls.CONFIG_NAME} file ({type(exc).__name__}: {exc})") from None
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


@dataclass
class VideoConfig:
    """The keys the video embedding reads (2D CNN per frame + Conv1D-BN-ReLU-MaxPool temporal blocks).
    Every method's model config is one (SSL-SSAW's QBSLTConfig and SL-SLR's SLSLRConfig inherit these
    fields); the feature extraction builds this one."""

    backbone: str = "resnet18"
    backbone_pretrained: bool = True      # ImageNet weights via torchvision's ``weights=`` enum
    freeze_backbone: bool = True          # frozen => features precomputed once, no backbone in the model
    feature_dim: int = 512                # per-frame feature size: 512 resnet18, 1024 shufflenet_v2_x1_0
    temporal_blocks: int = 2              # each block halves the temporal length (MaxPool 2)
    temporal_kernel: int = 5              # Conv1d kernel ("same" padding)
    # Standardise each feature channel (BatchNorm without affine, valid frames only) before the
    # temporal blocks, so zero padding is the mean rather than a step (docs/model-choices.md).
    input_norm: bool = False
    d_model: int = 256
    # RGB + skeleton (variant ssl_ssaw_skeleton): a joint-MLP over the keypoints added to each frame's
    # features (qbslt.model.skeleton.SkeletonStream); False builds nothing, the model is the RGB one.
    skeleton: bool = False
    skeleton_hidden: int = 32

    def __post_init__(self) -> None:  # a method's config validates in ModelConfig.__post_init__ (first in its MRO)
        if self.backbone not in BACKBONES:
            raise ConfigError(f"video config: key 'backbone': {self.backbone!r} is not one of {', '.join(BACKBONES)}")

    def video(self) -> "VideoConfig":
        """The video-embedding keys alone (what :mod:`qbslt.model.video_embedding` is built from)."""
        return VideoConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(VideoConfig)})


__all__ = ["VideoConfig", "ModelConfig", "hub_kwargs", "HUB_REVISION", "PRETRAINED_REVISIONS", "BACKBONES"]
