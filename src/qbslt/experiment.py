"""The experiment plan: ``params.yaml`` and a profile, resolved once into what runs.

:class:`Experiment` is the one place the matrix is built: which variants run on which dataset
with which seeds, which stage-1 runs they share, the Sigma variants and the SL-SLR methods, and
the list of training-level :class:`Job` s. The Snakemake rules (``workflow/rules/*.smk``), ``qbslt
plan`` and ``qbslt validate-params`` all read it, so what the DAG rejects, validation rejects.

A job's settings travel to its command as one JSON string (:mod:`qbslt.settings`), which the command
reads into its typed form (:meth:`typed_settings`: ``RunSettings``, ``SigmaJobSettings``,
``SlslrJobSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qbslt import config as qconfig
from qbslt.data import frame_store, keypoints
from qbslt.data.settings import DataSettings
from qbslt.errors import ConfigError
from qbslt.profiles import Profile
from qbslt.settings import encode_settings
from qbslt.sigma.configuration_sigma import SigmaJobSettings
from qbslt.sigma.configuration_sigma import check_settings as check_sigma_settings
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig
from qbslt.ssl_ssaw.settings import RunSettings
from qbslt.slslr import configuration_slslr as slslr_config

# The kinds of training-level job, as the rules that run them are named.
JOB_KINDS = ("pretrain", "train", "reference", "sigma", "slslr_run")
# model keys the tokenizer job reads
TOKENIZER_KEYS = ("mbart_path", "bert_path", "mbart_revision", "bert_revision", "trim_vocab", "subword_vocab_size")
# eval keys a Sigma run reads
SIGMA_EVAL_KEYS = ("num_beams", "eval_beams_during_training", "batch_size")


@dataclass(frozen=True)
class Job:
    """One training-level job: ``kind`` is its rule; ``name`` the variant (train), stage-1 key
    (pretrain) or reference system (reference), None for sigma and slslr_run (all of theirs)."""

    kind: str
    dataset: str | None
    name: str | None
    seed: int

    @property
    def wildcards(self) -> dict[str, str]:
        """The job's wildcards as its rule names them (what ``snakemake -n`` prints)."""
        named = {"pretrain": "key", "train": "variant", "reference": "system"}.get(self.kind)
        out = {"dataset": self.dataset} if self.dataset is not None else {}
        if named:
            out[named] = self.name
        if self.kind != "reference":
            out["seed"] = str(self.seed)
        return out


@dataclass(frozen=True)
class Trees:
    """A profile's folders: every profile writes its own (dvc.yaml names them by ``${profile}`` too)."""

    data: str
    results: str
    models: str
    checkpoints: str

    @classmethod
    def of(cls, profile: str) -> "Trees":
        return cls(f"data/{profile}", f"results/{profile}", f"models/{profile}", f"checkpoints/{profile}")


SPLITS = ("train", "dev", "test")
# What each training-level job writes, as its rule declares it: ``{dataset}`` ... are the rule's
# wildcards, ``<results>`` / ``<models>`` the profile's trees (:meth:`Experiment.output_patterns`).
# Sigma's and SL-SLR's jobs write one file per variant / encoder: their lists are built there.
OUTPUT_PATTERNS = {
    "pretrain": {"model": "<models>/{dataset}/stage1/{key}/seed{seed}/model.safetensors",
                 "summary": "<models>/{dataset}/stage1/{key}/seed{seed}/stage1.json"},
    "train": {"metrics": "<results>/metrics/{dataset}/{variant}/seed{seed}.json",
              "predictions": "<results>/predictions/{dataset}/{variant}/seed{seed}.tsv",
              # from the decoding pass that scores dev (the claims page's overlap terciles)
              "dev_predictions": "<results>/predictions/{dataset}/{variant}/seed{seed}.dev.tsv",
              "ssaw": "<results>/ssaw/{dataset}/{variant}/seed{seed}.json",
              "model": "<models>/{dataset}/{variant}/seed{seed}"},
    "reference": {"metrics": "<results>/metrics/{dataset}/{system}/seed0.json",
                  "predictions": "<results>/predictions/{dataset}/{system}/seed0.tsv",
                  "dev_predictions": "<results>/predictions/{dataset}/{system}/seed0.dev.tsv"},
}
# The outputs that are folders (Snakemake's ``directory()``).
DIRECTORY_OUTPUTS = {("train", "model")}
# An SL-SLR encoder: slslr_run writes it, a stage-0 variant's stage 1 starts from it.
SLSLR_ENCODER = "<models>/slslr/{dataset}/{method}/seed{seed}/encoder.safetensors"
# The cached-feature recipe (train.stage2.freeze_backbone): a stage-1 run's trained backbone's features.
STAGE1_FEATURES = "<data>/features/{dataset}/stage1/{key}/seed{seed}/{split}.npy"


@dataclass(frozen=True)
class SlslrPlan:
    """SL-SLR's part of the experiment: its methods (checked), where its clips come from (None: no
    clips in this profile, so no SL-SLR jobs), the datasets it pre-trains on, its encoder's model keys,
    its seeds, and the stage-0 variants: (dataset, variant) -> the method whose encoder they start from."""

    methods: dict[str, dict]
    source: str | None
    datasets: list[str]
    encoder: dict | None
    seeds: list[int]
    stage0: dict[tuple[str, str], str]


class Experiment:
    """params.yaml resolved for one profile: the matrix, the jobs and each job's settings."""

    def __init__(self, tree: dict, source: str = "params.yaml"):
        """``tree``: params.yaml resolved for one profile (:func:`qbslt.config.resolve`)."""
        self.check(tree, source)
        self.tree = tree
        self.profile = Profile.named(tree["profile"])
        self.datasets: list[str] = list(tree["data"]["datasets"])
        self.seeds: list[int] = list(tree["experiment"]["seeds"])
        self.references: list[str] = list(qconfig.REFERENCE_SYSTEMS)
        # (dataset, variant) -> resolved variant config (model, train, eval[, stage0])
        self.variants: dict[tuple[str, str], dict] = {
            (d, v): qconfig.variant_config(tree, v) for d in self.datasets for v in qconfig.dataset_variants(tree, d)}
        # (dataset, stage-1 key) -> stage-1 config; variants that agree on it share the run
        self.stage1: dict[tuple[str, str], dict] = {}
        for (d, _), cfg in self.variants.items():
            self.stage1.setdefault((d, qconfig.stage1_key(cfg)), qconfig.stage1_config(cfg))
        self.run_seeds: dict[tuple[str, str], list[int]] = {
            key: qconfig.variant_seeds(tree, key[1]) for key in self.variants}
        # dataset -> the variants and reference systems run on it
        self.matrix: dict[str, set[str]] = qconfig.run_matrix(tree)
        self.sigma_variants: dict[str, dict] = {
            v: qconfig.sigma_variant_config(tree, v) for v in qconfig.sigma_run_variants(tree)}
        source = slslr_config.clip_source(tree)
        self.slslr = SlslrPlan(
            methods=slslr_config.method_configs(tree), source=source, datasets=slslr_config.clip_datasets(tree),
            encoder=slslr_config.encoder_model(tree) if source else None, seeds=slslr_config.slslr_seeds(tree),
            stage0=slslr_config.stage0_methods(tree, self.variants))
        # data.frame_store and data.keypoints with their defaults; the keypoint extractor resolved
        self.frame_store = tree["data"].get(
            "frame_store", {"format": "raw", "quality": frame_store.DEFAULT_QUALITY})
        self.keypoints = {**keypoints.DEFAULTS, **tree["data"].get("keypoints", {})}
        self.keypoint_extractor = keypoints.resolve_extractor(self.keypoints["extractor"], self.profile.name)
        self.trees = Trees.of(self.profile.name)
        # (dataset, stage-1 key) -> SL-SLR method: a stage-0 variant's stage 1 is its own run (the
        # stage-1 config carries its stage0 key), so one method per run
        self._stage0_by_run = {(d, self.stage1_key(d, v)): m for (d, v), m in self.slslr.stage0.items()}
        self._jobs = tuple(self._plan_jobs())
        self._planned = frozenset(self._jobs)

    @staticmethod
    def check(tree: dict, source: str = "params.yaml") -> None:
        """Each method's own checks of a resolved tree: the data block, every variant's SSL-SSAW model
        config and typed settings, and every Sigma variant's settings are built, so an inconsistent one fails naming its key. (Under
        Snakemake, :func:`qbslt.config.resolve_layers` runs it to name the config layer at fault.)"""
        DataSettings.from_dict(tree["data"], f"{source}: data")
        for name in tree["experiment"]["variants"]:
            try:
                resolved = qconfig.variant_config(tree, name)
                QBSLTConfig.from_params(resolved["model"])
                RunSettings.from_dict(resolved, "--cfg")  # the typed form its jobs will read
            except ConfigError as exc:
                raise ConfigError(f"{source}: experiment.variants.{name}: {exc}") from None
        for name in tree["sigma"]["variants"]:
            try:
                check_sigma_settings(qconfig.sigma_variant_config(tree, name), f"sigma.variants.{name}")
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, params: Path | str = "params.yaml", profile: str | None = None) -> "Experiment":
        """Read, validate and resolve ``params`` (:func:`qbslt.config.load`), then build the plan: every
        check the DAG makes is made here (``qbslt validate-params`` is this call)."""
        return cls(qconfig.load(params, profile, check=cls.check), str(params))

    # -- the matrix ----------------------------------------------------------------------------

    def stage1_key(self, dataset: str, variant: str) -> str:
        return qconfig.stage1_key(self.variants[(dataset, variant)])

    def stage1_variant(self, dataset: str, key: str) -> str:
        """The first variant (in params.yaml's order) whose stage 1 is run ``key``."""
        return next(v for (d, v) in self.variants if d == dataset and self.stage1_key(d, v) == key)

    def stage0_method(self, dataset: str, key: str) -> str | None:
        """The SL-SLR method whose encoder stage-1 run ``key`` starts from (None: from scratch)."""
        return self._stage0_by_run.get((dataset, key))

    def jobs(self) -> list[Job]:
        """Every training-level job of the experiment, in a fixed order."""
        return list(self._jobs)

    def _plan_jobs(self) -> list[Job]:
        out = [Job("pretrain", d, key, s) for (d, key) in self.stage1
               for s in sorted({s for (dd, v), seeds in self.run_seeds.items()
                                if dd == d and self.stage1_key(dd, v) == key for s in seeds})]
        out += [Job("train", d, v, s) for (d, v), seeds in self.run_seeds.items() for s in seeds]
        out += [Job("reference", d, r, 0) for d in self.datasets for r in self.references]
        if self.sigma_variants:
            out += [Job("sigma", d, None, s) for d in self.datasets for s in self.seeds]
        if self.slslr.source is not None:
            out += [Job("slslr_run", None, None, s) for s in self.slslr.seeds]
        return out

    def job(self, kind: str, dataset: str | None = None, name: str | None = None, seed: int | str = 0) -> Job:
        """The planned job of these wildcards; ConfigError when the experiment does not plan it."""
        wanted = Job(kind, dataset, name, int(seed))
        if wanted not in self._planned:
            raise ConfigError(f"no {kind} job {wanted.wildcards} in the experiment of profile {self.profile}")
        return wanted

    # -- each job's files ----------------------------------------------------------------------

    def _tree(self, pattern: str) -> str:
        return (pattern.replace("<data>", self.trees.data).replace("<results>", self.trees.results)
                .replace("<models>", self.trees.models))

    def frame_store_path(self, dataset: str, split: str) -> str:
        """The frame store of one dataset and split, in the format of ``data.frame_store``."""
        return f"{self.trees.data}/frames/{dataset}/{frame_store.store_name(split, self.frame_store['format'])}"

    def video_path(self, dataset: str, model: dict, split: str) -> str:
        """What a run reads as video: a frozen backbone's precomputed features, else the frame store."""
        if model["freeze_backbone"]:
            return f"{self.trees.data}/features/{dataset}/{model['backbone']}/{split}.npy"
        return self.frame_store_path(dataset, split)

    def reads_stage1_features(self, dataset: str, variant: str) -> bool:
        """The cached-feature recipe (``train.stage2.freeze_backbone``): stage 2 of this variant keeps the
        backbone its stage 1 trained and reads that backbone's cached features instead of the frames.
        Without a trained backbone (``model.freeze_backbone``) or video input, the setting changes nothing."""
        cfg = self.variants[(dataset, variant)]
        model = cfg["model"]
        return bool(cfg["train"]["stage2"].get("freeze_backbone")) and not model["freeze_backbone"] \
            and model["sign_input"] == "video"

    def stage1_features_pattern(self) -> str:
        """What rule stage1_features writes (with its wildcards dataset, key, seed, split)."""
        return self._tree(STAGE1_FEATURES)

    def slslr_encoder(self, dataset: str, method: str, seed: int | str) -> str:
        return self._tree(SLSLR_ENCODER).format(dataset=dataset, method=method, seed=seed)

    def output_patterns(self, kind: str) -> dict[str, str | list[str]]:
        """The outputs of a ``kind`` job as its rule declares them (with the rule's wildcards)."""
        results = self.trees.results
        if kind == "sigma":
            return {"metrics": [f"{results}/sigma/metrics/{{dataset}}/{v}/seed{{seed}}.json" for v in self.sigma_variants],
                    "predictions": [f"{results}/sigma/predictions/{{dataset}}/{v}/seed{{seed}}.tsv"
                                    for v in self.sigma_variants]}
        if kind == "slslr_run":
            return {"run": f"{results}/slslr/seed{{seed}}.json",
                    "encoders": [self._tree(SLSLR_ENCODER).replace("{dataset}", d).replace("{method}", m)
                                 for d, m in self.stage0_encoders()]}
        if kind not in OUTPUT_PATTERNS:
            raise ConfigError(f"unknown job kind {kind!r} (known: {', '.join(JOB_KINDS)})")
        return {name: self._tree(pattern) for name, pattern in OUTPUT_PATTERNS[kind].items()}

    def stage0_encoders(self) -> list[tuple[str, str]]:
        """(dataset, method) of every SL-SLR encoder a stage-0 variant starts from."""
        return sorted({(d, m) for (d, _), m in self.slslr.stage0.items()})

    def outputs(self, job: Job) -> dict[str, str | list[str]]:
        """What ``job`` writes."""
        return _format(self.output_patterns(job.kind), job.wildcards)

    def inputs(self, job: Job) -> dict[str, str | list[str]]:
        """What ``job`` reads (its rule's inputs)."""
        data, d = self.trees.data, job.dataset

        def per_split(pattern: str, splits: tuple[str, ...] = SPLITS) -> list[str]:
            return [f"{data}/" + pattern.format(d=d, split=split) for split in splits]

        if job.kind in ("pretrain", "train"):
            model = (self.stage1[(d, job.name)] if job.kind == "pretrain" else self.variants[(d, job.name)])["model"]
            splits = ("train",) if job.kind == "pretrain" else SPLITS
            if job.kind == "train" and self.reads_stage1_features(d, job.name):
                key = self.stage1_key(d, job.name)
                video = [self.stage1_features_pattern().format(dataset=d, key=key, seed=job.seed, split=split)
                         for split in splits]
            else:
                video = [self.video_path(d, model, split) for split in splits]
            out: dict[str, str | list[str]] = {
                "examples": per_split("examples/{d}/{split}.tsv", splits),
                "video": video,
                "decoder_tokenizer": f"{data}/tokenizers/{d}/mbart",
                "text_tokenizer": f"{data}/tokenizers/{d}/{model['text_model']}"}
            if job.kind == "pretrain":
                method = self.stage0_method(d, job.name)
                out["stage0"] = [] if method is None else self.slslr_encoder(d, method, job.seed)
            else:
                key = self.stage1_key(d, job.name)
                out["stage1"] = self.outputs(Job("pretrain", d, key, job.seed))["model"]
                out["keypoints"] = per_split("keypoints/{d}/{split}.npy") if model["skeleton"] else []
            return out
        if job.kind == "reference":
            return {"examples": per_split("examples/{d}/{split}.tsv")}
        if job.kind == "sigma":
            return {"examples": per_split("examples/{d}/{split}.tsv"),
                    "keypoints": per_split("keypoints/{d}/{split}.npy"),
                    "masks": per_split("keypoints/{d}/{split}.mask.npy"),
                    "index": per_split("frames/{d}/{split}.index.tsv"),
                    "tokenizer": f"{data}/tokenizers/{d}/mbart"}
        if job.kind == "slslr_run":
            datasets = self.slslr.datasets
            return {"clips": [f"{data}/clips/{x}/clips.tsv" for x in datasets],
                    "features": [f"{data}/features/{x}/{self.tree['model']['backbone']}/train.npy" for x in datasets],
                    "keypoints": [f"{data}/keypoints/{x}/train.npy" for x in datasets],
                    "keypoint_masks": [f"{data}/keypoints/{x}/train.mask.npy" for x in datasets],
                    "keypoint_meta": [f"{data}/keypoints/{x}/train.json" for x in datasets]}
        raise ConfigError(f"unknown job kind {job.kind!r} (known: {', '.join(JOB_KINDS)})")

    # -- each job's settings -------------------------------------------------------------------

    def settings(self, job: Job) -> dict:
        """What ``job``'s command reads: exactly this, so that a change of anything else does not rerun it."""
        tree = self.tree
        if job.kind == "pretrain":
            return self.stage1[(job.dataset, job.name)]
        if job.kind == "train":
            return self.variants[(job.dataset, job.name)]
        if job.kind == "reference":
            return {}
        if job.kind == "sigma":
            return {"variants": self.sigma_variants, "data": tree["sigma"]["data"],
                    "eval": {k: tree["eval"][k] for k in SIGMA_EVAL_KEYS},
                    "device": tree["train"]["device"], "threads": tree["train"]["threads"],
                    "deterministic": tree["train"]["deterministic"]}
        if job.kind == "slslr_run":
            return {"slslr": {k: v for k, v in tree["slslr"].items() if k not in slslr_config.RUN_EXCLUDED_KEYS},
                    "encoder": self.slslr.encoder, "threads": tree["train"]["threads"]}
        raise ConfigError(f"unknown job kind {job.kind!r} (known: {', '.join(JOB_KINDS)})")

    def typed_settings(self, job: Job):
        """:meth:`settings` in the typed form ``job``'s command reads them (None: a reference job reads none)."""
        types = {"pretrain": RunSettings, "train": RunSettings, "sigma": SigmaJobSettings,
                 "slslr_run": slslr_config.SlslrJobSettings}
        return types[job.kind].from_dict(self.settings(job), "--cfg") if job.kind in types else None

    def step_settings(self, step: str) -> dict:
        """What a data or tokenizer step's command reads (``step``: its rule's name)."""
        data, model = self.tree["data"], self.tree["model"]
        steps = {
            "generate_embedded": lambda: {k: data[k] for k in ("synthetic", "frame_size")},
            "realtext_data": lambda: {k: data[k] for k in ("sources", "synthetic", "frame_size")},
            "fetch_real": lambda: data["sources"],
            "keypoints": lambda: ({k: v for k, v in self.keypoints.items() if k != "extractor"}
                                  if self.keypoint_extractor == "mediapipe" else {}),
            "slslr_clips": lambda: {k: self.tree["slslr"][k] for k in slslr_config.CLIP_KEYS},
            "tokenizer": lambda: {k: model[k] for k in TOKENIZER_KEYS},
            "features": lambda: {"backbone_pretrained": model["backbone_pretrained"]},
        }
        if step not in steps:
            raise ConfigError(f"unknown step {step!r} (known: {', '.join(steps)})")
        return steps[step]()

    def encoded(self, job_or_step: Job | str) -> str:
        """:meth:`settings` (a job) or :meth:`step_settings` (a step's name), encoded for ``--cfg``."""
        if isinstance(job_or_step, Job):
            return encode_settings(self.settings(job_or_step))
        return encode_settings(self.step_settings(job_or_step))


def _format(patterns: dict[str, str | list[str]], wildcards: dict[str, str]) -> dict[str, str | list[str]]:
    return {name: [p.format(**wildcards) for p in value] if isinstance(value, list) else value.format(**wildcards)
            for name, value in patterns.items()}
