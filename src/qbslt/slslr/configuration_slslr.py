"""The ``slslr`` section of params.yaml, built and checked at DAG time (``workflow/rules/slslr.smk``).

The schema checks each key's type; here the cross-key rules a schema cannot say, each failing with a
ConfigError naming the key, so a wrong method line fails at ``snakemake -n``:

* a method without pre-training (``objective: none``) has ``augment: none`` and ``weighting: false``; a
  pre-trained one has an augmentation;
* ``augment.sign``: ``rest_drop + rest_repeat <= 1`` (they are shares of the resting frames);
* a variant's ``stage0`` names a pre-trained method, and its temporal module (``model.backbone``,
  ``d_model``, ``temporal_blocks``, ``temporal_kernel``, frozen backbone) is the one SL-SLR trains;
* clips: ``slslr.isolated_dataset`` when set (:mod:`qbslt.slslr.isolated`; the paper profile's source),
  else the renderer's gloss boundaries in the rendered profiles; the paper profile without one has no
  clips and no Table 10.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from qbslt.data.datasets import DATASETS
from qbslt.errors import ConfigError
from qbslt.model.configuration import BACKBONES, ModelConfig, VideoConfig
from qbslt.profiles import Profile
from qbslt.settings import Settings

ENCODER_MODEL_KEYS = ("backbone", "d_model", "temporal_blocks", "temporal_kernel", "input_norm")
CLIP_KEYS = ("isolated_dataset", "clip_margin", "test_signer_share")
RUN_EXCLUDED_KEYS = CLIP_KEYS + ("seeds",)  # read by the workflow, not by a run


@dataclass(frozen=True, kw_only=True)
class MethodSettings(Settings):
    """One ``slslr.methods`` line: Table 10's row."""

    objective: str  # free_negative | infonce | none
    augment: str  # sign | generic | none
    weighting: bool  # informative-frame weighting


@dataclass(frozen=True, kw_only=True)
class HeadSettings(Settings):
    """``slslr.encoder``: the projector and predictor sizes."""

    projector_dim: int
    predictor_dim: int


@dataclass(frozen=True, kw_only=True)
class PretrainSettings(Settings):
    """``slslr.pretrain``."""

    epochs: int
    lr: float
    weight_decay: float
    ema: float  # the target encoder's moving-average rate (free_negative)
    temperature: float  # InfoNCE's (infonce)


@dataclass(frozen=True, kw_only=True)
class ProbeSettings(Settings):
    """``slslr.probe``: the linear probe's optimisation."""

    epochs: int
    lr: float
    weight_decay: float


@dataclass(frozen=True, kw_only=True)
class FinetuneSettings(Settings):
    """``slslr.finetune``: the semi-supervised protocols."""

    label_shares: list[float]
    epochs: int
    lr: float
    weight_decay: float


@dataclass(frozen=True, kw_only=True)
class SlslrSettings(Settings):
    """The ``slslr`` section as a run reads it (without ``RUN_EXCLUDED_KEYS``)."""

    batch_size: int
    encoder: HeadSettings
    informative: dict[str, float]  # floor, motion (qbslt.slslr.informative)
    augment: dict[str, dict[str, float]]  # sign | generic: that augmentation's strengths
    pretrain: PretrainSettings
    probe: ProbeSettings
    finetune: FinetuneSettings
    methods: dict[str, MethodSettings]


@dataclass(frozen=True, kw_only=True)
class SlslrJobSettings(Settings):
    """What one SL-SLR job (every method and protocol of one seed) reads."""

    slslr: SlslrSettings
    encoder: dict  # the temporal module's model keys (encoder_model)
    threads: int


@dataclass(frozen=True, kw_only=True)
class ClipSettings(Settings):
    """What the clip-index step reads of ``slslr`` (``CLIP_KEYS``)."""

    isolated_dataset: dict | None
    clip_margin: int
    test_signer_share: float


def slslr_seeds(tree: dict) -> list[int]:
    """The seeds Table 10 averages over: ``slslr.seeds``, or ``experiment.seeds`` when null. A stage-0
    variant starts from the encoder of its own seed, so those must include every experiment seed."""
    seeds = tree["slslr"]["seeds"]
    if seeds is None:
        return list(tree["experiment"]["seeds"])
    return list(seeds)


def method_configs(tree: dict) -> dict[str, dict]:
    """{method: its line} of ``slslr.methods``, each checked (ConfigError naming the key)."""
    cfg = tree["slslr"]
    sign = cfg["augment"]["sign"]
    if sign["rest_drop"] + sign["rest_repeat"] > 1:
        raise ConfigError(f"slslr.augment.sign: rest_drop + rest_repeat = {sign['rest_drop'] + sign['rest_repeat']} "
                          f"> 1 (both are shares of the resting frames)")
    methods = {}
    for name, spec in cfg["methods"].items():
        key = f"slslr.methods.{name}"
        if spec["objective"] == "none" and (spec["augment"] != "none" or spec["weighting"]):
            raise ConfigError(f"{key}: objective none (no pre-training) takes augment: none and weighting: false")
        if spec["objective"] != "none" and spec["augment"] == "none":
            raise ConfigError(f"{key}.augment: pre-training ({spec['objective']}) needs two augmented views "
                              f"(sign | generic)")
        methods[name] = dict(spec)
    return methods


def clip_source(tree: dict) -> str | None:
    """``isolated`` (``slslr.isolated_dataset`` set), ``renderer`` (rendered profiles), or None: no
    isolated-sign clips in this profile (Table 10 skipped)."""
    if tree["slslr"]["isolated_dataset"] is not None:
        return "isolated"
    if Profile.named(tree["profile"]).rendered_video:
        return "renderer"
    return None


def clip_datasets(tree: dict) -> list[str]:
    """The datasets SL-SLR pre-trains and evaluates on: the isolated-sign dataset alone, or every
    rendered dataset (``data.datasets``), or none."""
    source = clip_source(tree)
    if source == "isolated":
        name = tree["slslr"]["isolated_dataset"]["name"]
        if name in DATASETS:
            raise ConfigError(f"slslr.isolated_dataset.name: {name!r} is a translation dataset's name "
                              f"(qbslt.data.datasets); give the isolated-sign dataset a name of its own")
        return [name]
    return list(tree["data"]["datasets"]) if source == "renderer" else []


def encoder_model(tree: dict) -> dict:
    """The ``model`` keys the SL-SLR encoder is built from (SSL-SSAW's temporal module). It trains over
    frame features of a frozen ``model.backbone``: the translation runs' own (rendered clips), or
    computed for the isolated-sign dataset alone (the paper profile trains its backbone)."""
    if clip_source(tree) == "renderer" and not tree["model"]["freeze_backbone"]:
        raise ConfigError("model.freeze_backbone: SL-SLR trains over precomputed frame features (a frozen backbone)")
    return {k: tree["model"][k] for k in ENCODER_MODEL_KEYS}


def encoder_config(encoder: dict) -> VideoConfig:
    """The video config of :func:`encoder_model`'s keys (what the temporal module reads)."""
    return VideoConfig(backbone=encoder["backbone"], feature_dim=BACKBONES[encoder["backbone"]],
                       d_model=encoder["d_model"], temporal_blocks=encoder["temporal_blocks"],
                       temporal_kernel=encoder["temporal_kernel"], input_norm=encoder["input_norm"])


OBJECTIVES = ("free_negative", "infonce", "none")


@dataclass
class SLSLRConfig(ModelConfig, VideoConfig):
    """The SL-SLR model (:class:`qbslt.slslr.modeling_slslr.SLSLRModel`): its clip encoder (the video
    embedding's temporal module: :class:`VideoConfig`'s fields, read from frozen features) and its
    pre-training heads."""

    CONFIG_NAME = "sl-slr model config"
    model_type: ClassVar[str] = "slslr"

    projector_dim: int = 128
    predictor_dim: int = 64
    objective: str = "free_negative"

    def validate(self) -> None:
        if self.backbone not in BACKBONES:
            raise self.bad("backbone", f"{self.backbone!r} is not one of {', '.join(BACKBONES)}")
        if self.objective not in OBJECTIVES:
            raise self.bad("objective", f"{self.objective!r} is not one of {', '.join(OBJECTIVES)}")
        for key in ("feature_dim", "d_model", "projector_dim", "predictor_dim"):
            if getattr(self, key) < 1:
                raise self.bad(key, f"must be at least 1, got {getattr(self, key)}")

    @classmethod
    def of(cls, video: VideoConfig, projector_dim: int, predictor_dim: int, objective: str) -> "SLSLRConfig":
        """The config of an encoder of ``video``'s keys with these heads."""
        return cls(**{f.name: getattr(video, f.name) for f in fields(VideoConfig)},
                   projector_dim=projector_dim, predictor_dim=predictor_dim, objective=objective)


def stage0_methods(tree: dict, variants: dict[tuple[str, str], dict]) -> dict[tuple[str, str], str]:
    """{(dataset, variant): SL-SLR method} of the stage-0 variants among ``variants`` (dataset, name) -> config;
    ConfigError when a stage-0 variant cannot start from that method's encoder."""
    methods, out = tree["slslr"]["methods"], {}
    for (dataset, name), variant in variants.items():
        method = variant.get("stage0")
        if method is None:
            continue
        key = f"experiment.variants.{name}.stage0"
        if clip_source(tree) is None:
            raise ConfigError(f"{key}: profile {tree['profile']} has no isolated-sign clips (slslr.isolated_dataset "
                              f"is null), so there is no SL-SLR encoder; leave {name} out of experiment.datasets")
        if dataset not in clip_datasets(tree):
            raise ConfigError(f"{key}: SL-SLR pre-trains on {clip_datasets(tree)}, not on {dataset}: stage 0 starts "
                              f"from the encoder of the same dataset; leave {name} out of experiment.datasets.{dataset}")
        missing = sorted(set(tree["experiment"]["seeds"]) - set(slslr_seeds(tree)))
        if missing:
            raise ConfigError(f"slslr.seeds: experiment.{name} starts from the SL-SLR encoder of its own seed, "
                              f"but seeds {missing} of experiment.seeds are not among slslr.seeds")
        if methods[method]["objective"] == "none":
            raise ConfigError(f"{key}: method {method} is not pre-trained (objective none)")
        for k in ENCODER_MODEL_KEYS + ("freeze_backbone",):
            if variant["model"][k] != tree["model"][k]:
                raise ConfigError(f"experiment.variants.{name}.model.{k}: a stage-0 variant keeps the temporal "
                                  f"module SL-SLR pre-trains (model.{k} = {tree['model'][k]!r})")
        out[(dataset, name)] = method
    return out
