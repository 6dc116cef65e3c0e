"""Disk and GPU-hours of the jobs of a Snakemake target (:mod:`qbslt.plan.dry_run`): *estimates*
computed from those jobs, the resolved ``params.yaml`` and the measured or assumed figures
(:mod:`qbslt.plan.figures`: ``reports/plan_figures.yaml``, each with its source); every printed
estimate is marked ``~``.

GPU-hours = FLOPs / (GPU throughput x MFU). FLOPs of a run = epochs x (training videos x FLOPs
per video + training frames x FLOPs per frame), the per-frame and per-video FLOPs of one
training step (forward + backward) as ``benchmarks/paper_scale.py --flops-only`` counts them
for the paper profile's model; stage 2 adds its dev evaluations (``eval_every``) and the final
dev and test evaluation, a forward pass counted as a third of a training step (beam-search
decoding beyond that is not counted).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from qbslt.errors import QbsltError
from qbslt.config import stage1_key as qconfig_stage1_key
from qbslt.experiment import Experiment
from qbslt.plan.dry_run import Job, job_counts
from qbslt.plan.figures import (BACKBONE_FLOPS, DATASET_FIGURES, DEFAULT_GPU_TFLOPS, DEFAULT_MFU, FLOPS, GPU_MEMORY, JPEG_BYTES_PER_FRAME,
                                MEASURED_MODEL, PRETRAIN_KEYS, PRETRAINED_PARAMS, SLURM_MARGINS, TRANSLATION_KEYS,
                                TRIMMED_MBART_PARAMS)
from qbslt.profiles import Profile
from qbslt.training.settings import TrainSettings

# Facts of this code, not measurements. Optimizer states per parameter kept in the resumable
# checkpoint (last.pt).
OPTIMIZER_STATES = {"sgd": 1, "adamw": 2}  # SGD: momentum 0.9; AdamW: two moments
FEATURE_BYTES = 4  # frozen-backbone features are float32
WEIGHT_BYTES = 4  # weights are saved in float32 (bf16 autocast keeps float32 weights)
TRAINED_RULES = ("pretrain", "train")

# ---------------------------------------------------------------------------------------------
# Arithmetic (pure functions)


def training_flops(videos: int, mean_frames: float, epochs: int, per_frame: float, per_video: float) -> float:
    """FLOPs of ``epochs`` passes over ``videos`` videos of ``mean_frames`` frames."""
    return epochs * videos * (per_video + per_frame * mean_frames)


def evaluation_flops(evaluations: int, videos: int, mean_frames: float, per_frame: float, per_video: float) -> float:
    """FLOPs of ``evaluations`` forward passes over a split: a third of a training step each."""
    return evaluations * videos * (per_video + per_frame * mean_frames) / 3


def dev_evaluations(epochs: int, eval_every: int) -> int:
    """How often stage 2 decodes dev while training: every ``eval_every`` epochs and after the last."""
    return epochs // eval_every + (1 if epochs % eval_every else 0)


def gpu_hours(flops: float, gpu_tflops: float, mfu: float) -> float:
    return flops / (gpu_tflops * 1e12 * mfu) / 3600


def jpeg_bytes_per_frame(frame_size: tuple[int, int], quality: int) -> float:
    """Bytes per frame of the JPEG store (:data:`JPEG_BYTES_PER_FRAME`; scaled or interpolated)."""
    h, w = frame_size
    by_quality = JPEG_BYTES_PER_FRAME.get((h, w))
    scale = 1.0
    if by_quality is None:
        by_quality, scale = JPEG_BYTES_PER_FRAME[(256, 256)], h * w / (256 * 256)
    qualities = sorted(by_quality)
    q = min(max(quality, qualities[0]), qualities[-1])
    lower = max(x for x in qualities if x <= q)
    upper = min(x for x in qualities if x >= q)
    if lower == upper:
        return by_quality[q] * scale
    t = (q - lower) / (upper - lower)
    return (by_quality[lower] + t * (by_quality[upper] - by_quality[lower])) * scale


def store_bytes_per_frame(store: dict, frame_size: tuple[int, int]) -> float:
    """Bytes per frame of ``data.frame_store``: raw H x W x 3; jpeg the measured figure."""
    h, w = frame_size
    return h * w * 3 if store["format"] == "raw" else jpeg_bytes_per_frame((h, w), store["quality"])


# ---------------------------------------------------------------------------------------------
# Estimates of one target


@dataclass
class Figures:
    """Videos and total frames per split of one dataset, and where the numbers come from."""

    videos: dict[str, int]
    frames: dict[str, float]
    source: str


def dataset_figures(profile: Profile, dataset: str, data_dir: Path = Path("data")) -> Figures | None:
    """Counted in ``data/<profile>/examples`` when that exists, else the paper datasets' figures
    (:data:`DATASET_FIGURES`, the profile of the paper's data only); None when unknown."""
    folder = Path(data_dir) / profile.name / "examples" / dataset
    if all((folder / f"{s}.tsv").is_file() for s in ("train", "dev", "test")):
        import pandas as pd

        videos, frames = {}, {}
        for split in ("train", "dev", "test"):
            table = pd.read_csv(folder / f"{split}.tsv", sep="\t", usecols=["num_frames"])
            videos[split], frames[split] = len(table), float(table["num_frames"].sum())
        return Figures(videos, frames, f"counted in {folder}")
    if profile.paper_data and dataset in DATASET_FIGURES:
        f = DATASET_FIGURES[dataset]
        return Figures(dict(f.videos), {s: n * f.mean_frames for s, n in f.videos.items()}, f.source)
    return None


def flop_key(objective: str, model_cfg: dict) -> tuple:
    keys = PRETRAIN_KEYS if objective == "pretrain" else TRANSLATION_KEYS
    return (objective, *(model_cfg[k] for k in keys))


def model_mismatch(run_cfg: dict) -> list[str]:
    """Model-size keys of a run config that differ from the model the FLOP constants were measured on."""
    values = {**run_cfg["model"], "crop_size": run_cfg["train"]["crop_size"]}
    return [f"{k}: {values.get(k)} (measured: {v})" for k, v in MEASURED_MODEL.items() if values.get(k) != v]


@dataclass
class RunCost:
    flops: float | None
    params: int | None
    why_not: str | None = None


@dataclass
class TargetPlan:
    target: str
    counts: dict[str, int]
    disk: dict[str, float | str | None]  # row -> bytes (float), a note (str) or None (unknown: n/a)
    runs: dict[str, int]  # "stage 1" / "stage 2" -> runs
    flops: dict[str, float | None]  # "stage 1" / "stage 2" -> FLOPs (None: not estimated)
    notes: list[str]
    # The cached-feature recipe (stage 2 on the stage-1 backbone's features, cached once per split):
    # "feature caching" / "stage 2" -> FLOPs; empty where no stage-2 run trains its backbone.
    cached: dict[str, float | None] = field(default_factory=dict)


class Planner:
    """Turns the jobs of a dry run into disk and GPU estimates for one resolved config."""

    def __init__(self, experiment: Experiment, data_dir: Path = Path("data"), flops: dict | None = None):
        self.tree, self.profile = experiment.tree, experiment.profile
        self.flops = FLOPS if flops is None else flops
        self.data_dir = Path(data_dir)
        self.experiment = experiment
        self.variants = experiment.variants
        # (dataset, stage-1 key) -> the config of the first variant that shares that stage 1
        self.stage1 = {(d, key): self.variants[(d, experiment.stage1_variant(d, key))]
                       for (d, key) in experiment.stage1}
        self.figures = {d: dataset_figures(self.profile, d, self.data_dir) for d in experiment.datasets}

    # -- runs --------------------------------------------------------------------------------

    def trains_backbone(self, job: Job) -> bool:
        """A stage-2 run whose model trains its frame backbone on frames (what feature caching would freeze)."""
        model = self._run_config(job)["model"]
        return job.rule == "train" and not model["freeze_backbone"] and model["inputs"] != "question" and \
            model["sign_input"] == "video"

    def run_cost(self, job: Job, cached: bool | None = None) -> RunCost:
        """FLOPs and parameters of a run; ``cached``: a stage-2 run of the cached-feature recipe (its
        backbone frozen at the stage-1 weights and its features read from the cache: the backbone's
        per-frame training cost left out); None: as the run's ``train.stage2.freeze_backbone`` says."""
        d = job.wildcards["dataset"]
        if cached is None:
            cached = job.rule == "train" and self.experiment.reads_stage1_features(d, job.wildcards["variant"])
        if job.rule == "pretrain":
            cfg, objective, stage = self.stage1[(d, job.wildcards["key"])], "pretrain", "stage1"
        else:
            cfg, objective, stage = self.variants[(d, job.wildcards["variant"])], "translation", "stage2"
        figures = self.figures.get(d)
        if not self.profile.paper_data and self.flops is FLOPS:
            return RunCost(None, None, f"the FLOP constants are the paper profile's model's, not {self.profile}'s")
        if self.flops is FLOPS and (mismatch := model_mismatch(cfg)):
            return RunCost(None, None, "model differs from the measured one (" + ", ".join(mismatch)
                           + "): --measure-flops")
        key = flop_key(objective, cfg["model"])
        if key not in self.flops:
            return RunCost(None, None, f"no FLOP figure for {key}: --measure-flops")
        per_frame, per_video, params = self.flops[key]
        if cached and self.trains_backbone(job):
            per_frame = max(0.0, per_frame - BACKBONE_FLOPS[cfg["model"]["backbone"]][1])
        if figures is None:
            return RunCost(None, params, f"{d}: frame counts unknown (run `snakemake prepare` first)")
        train = TrainSettings.from_dict(cfg["train"], "train")
        max_frames = train.max_frames

        def mean(split: str) -> float:
            return min(figures.frames[split] / figures.videos[split], max_frames) if figures.videos[split] else 0.0

        stage_settings = train.stage1 if stage == "stage1" else train.stage2
        flops = training_flops(figures.videos["train"], mean("train"), stage_settings.cap, per_frame, per_video)
        if stage == "stage2":
            for split, n in (("dev", dev_evaluations(stage_settings.cap, stage_settings.evaluation_period) + 1),
                             ("test", 1)):
                flops += evaluation_flops(n, figures.videos[split], mean(split), per_frame, per_video)
        return RunCost(flops, params)

    # -- one job's cluster request --------------------------------------------------------------

    def job_resources(self, job: Job, gpu_tflops: float = DEFAULT_GPU_TFLOPS, mfu: float = DEFAULT_MFU
                      ) -> dict[str, int] | None:
        """What a training job (pretrain, train) asks SLURM for, from the plan: ``runtime`` (minutes: its
        GPU-hours over ``train.gpus`` GPUs x the runtime margin, at least ``min_runtime``, capped at
        ``cluster.time_limit_minutes``),
        ``attempts`` (how many such limits the estimate needs; each attempt resumes from the last one's
        saved state) and ``gpu_mem_mb`` (the measured peak of one pass x the memory margin). None where
        the plan's figures do not apply (other profiles, another model size, no GPU)."""
        cost = self.run_cost(job)
        train = TrainSettings.from_dict(self._run_config(job)["train"], "train")
        stage = train.stage1 if job.rule == "pretrain" else train.stage2
        gpus = train.gpus
        if cost.flops is None or gpus < 1:
            return None
        hours = gpu_hours(cost.flops, gpu_tflops, mfu) / gpus * SLURM_MARGINS["runtime"]
        minutes = max(int(SLURM_MARGINS["min_runtime"]), math.ceil(hours * 60))
        limit = self.tree["cluster"]["time_limit_minutes"]
        attempts = 1 if limit is None else math.ceil(minutes / limit)
        objective = "pretrain" if job.rule == "pretrain" else "translation"
        fixed, per_frame = GPU_MEMORY[(objective, train.precision)]
        videos = train.micro_batch_size or math.ceil(stage.batch_size / gpus)
        peak = (fixed + per_frame * videos * train.max_frames) * SLURM_MARGINS["gpu_memory"]
        return {"runtime": minutes if limit is None else min(minutes, limit), "attempts": attempts,
                "gpu_mem_mb": math.ceil(peak * 1024)}

    def _run_config(self, job: Job) -> dict:
        d = job.wildcards["dataset"]
        return self.stage1[(d, job.wildcards["key"])] if job.rule == "pretrain" else \
            self.variants[(d, job.wildcards["variant"])]

    # -- one target --------------------------------------------------------------------------

    def plan(self, target: str, jobs: list[Job]) -> TargetPlan:
        tree, notes = self.tree, []
        data = tree["data"]
        disk: dict[str, float | str | None] = {}
        fetched = {j.wildcards["dataset"] for j in jobs if j.rule == "fetch_real"}
        phoenix = data["sources"].get("phoenix", {})
        if "phoenix" in fetched and not phoenix.get("root"):
            disk["download: PHOENIX-2014T tarball (data.sources.phoenix.bytes)"] = float(phoenix["bytes"])
            disk["~ PHOENIX-2014T frames extracted from it (about the tarball's size; the tarball may then go)"] = \
                float(phoenix["bytes"])
        elif "phoenix" in fetched:
            disk["PHOENIX-2014T at data.sources.phoenix.root (already there)"] = 0.0
        if "csl" in fetched:
            disk["CSL-Daily at data.sources.csl.root (on request, placed by you; not counted)"] = "yours"

        runs = [j for j in jobs if j.rule in TRAINED_RULES]
        costs = {id(j): self.run_cost(j) for j in runs}
        if self.profile.paper_data:
            needed = set()
            for j in runs:
                cfg = (self.stage1[(j.wildcards["dataset"], j.wildcards["key"])] if j.rule == "pretrain"
                       else self.variants[(j.wildcards["dataset"], j.wildcards["variant"])])
                needed |= {cfg["model"]["text_model"], "mbart"}
                if cfg["model"]["backbone_pretrained"]:
                    needed.add(cfg["model"]["backbone"])
            if needed:
                disk["~ pretrained weights: mBART-cc25, mBERT, ImageNet CNNs as used (Hugging Face / torchvision "
                     "caches)"] = float(sum(PRETRAINED_PARAMS[n] for n in needed) * WEIGHT_BYTES)

        store, size = data["frame_store"], tuple(data["frame_size"])
        label = f"{store['format']}, {size[0]}x{size[1]}" + (f", quality {store['quality']}"
                                                             if store["format"] == "jpeg" else "")
        disk[f"~ frame stores ({label})"] = self._frames_bytes(
            [j for j in jobs if j.rule == "extract_frames"], store_bytes_per_frame(store, size))
        keypoints = [j for j in jobs if j.rule == "keypoints"]
        if keypoints:
            from qbslt.data.keypoints import BYTES_PER_FRAME

            disk["~ keypoint stores (float32 [frames, 75, 3] and mask)"] = self._frames_bytes(keypoints, BYTES_PER_FRAME)
        features = [j for j in jobs if j.rule == "features"]
        if features:
            from qbslt.model.configuration import BACKBONES

            total: float | None = 0.0
            for j in features:
                n = self._frames_bytes([j], BACKBONES[j.wildcards["backbone"]] * FEATURE_BYTES)
                total = None if total is None or n is None else total + n
            disk["~ frozen-backbone features (float32)"] = total
        trimmed = [j for j in jobs if j.rule == "tokenizer" and j.wildcards.get("text_model") == "mbart"]
        if trimmed and tree["model"]["trim_vocab"] and tree["model"]["mbart_path"]:
            disk["~ trimmed mBART saved beside the tokenizers"] = float(
                len(trimmed) * TRIMMED_MBART_PARAMS * WEIGHT_BYTES)
        if runs:
            params = [costs[id(j)].params for j in runs]
            known = None not in params
            disk["~ models (stage 1 and 2 weights, float32)"] = (
                float(sum(params) * WEIGHT_BYTES) if known else None)
            if known:
                ckpt = 0.0
                for j, p in zip(runs, params):
                    stage = "stage1" if j.rule == "pretrain" else "stage2"
                    cfg = (self.stage1[(j.wildcards["dataset"], j.wildcards["key"])] if j.rule == "pretrain"
                           else self.variants[(j.wildcards["dataset"], j.wildcards["variant"])])
                    states = OPTIMIZER_STATES[cfg["train"][stage]["optimizer"]]
                    ckpt += p * WEIGHT_BYTES * (1 + states + (1 if stage == "stage2" else 0))  # last.pt (+ best)
                disk["~ resumable checkpoints (checkpoints/; deletable once a run is done)"] = ckpt
            else:
                disk["~ resumable checkpoints (checkpoints/; deletable once a run is done)"] = None

        stages = {"stage 1": [j for j in runs if j.rule == "pretrain"],
                  "stage 2": [j for j in runs if j.rule == "train"]}
        flops: dict[str, float | None] = {}
        for name, stage_jobs in stages.items():
            values = [costs[id(j)].flops for j in stage_jobs]
            flops[name] = None if None in values else float(sum(values))
            notes += sorted({costs[id(j)].why_not for j in stage_jobs if costs[id(j)].why_not})
        cached = self._cached_recipe(stages["stage 2"])
        if any(self.experiment.reads_stage1_features(j.wildcards["dataset"], j.wildcards["variant"])
               for j in stages["stage 2"]):
            notes.append("train.stage2.freeze_backbone is on: stage 2 is costed on the stage-1 backbones' cached "
                         "features (the cached-feature recipe), without the caching itself (rule stage1_features)")
        if any(self.variants[(j.wildcards["dataset"], j.wildcards["variant"])]["train"]["stage2"].get("patience")
               for j in stages["stage 2"]):
            notes.append("stage 2 is costed at its cap (train.stage2.epochs + extra_epochs): early stopping "
                         "(patience) ends most runs sooner, so its figures are upper bounds")
        for d in sorted({j.wildcards.get("dataset") for j in jobs if j.wildcards.get("dataset")}):
            if self.figures.get(d) is not None:
                notes.append(f"{d}: {self.figures[d].source}")
        return TargetPlan(target, job_counts(jobs), disk, {k: len(v) for k, v in stages.items()}, flops,
                          list(dict.fromkeys(notes)), cached)

    def _cached_recipe(self, stage2: list[Job]) -> dict[str, float | None]:
        """FLOPs of the cached-feature recipe's stage 2 (every run; those that train their backbone on
        cached features instead) and of caching the features: one forward pass of each stage-1 backbone
        they start from (dataset, stage-1 run, seed) over every frame of every split."""
        trained = [j for j in stage2 if self.trains_backbone(j)]
        if not trained or not self.profile.paper_data:
            return {}
        values = [self.run_cost(j, cached=True).flops for j in stage2]
        caches = {(j.wildcards["dataset"], qconfig_stage1_key(self.variants[(j.wildcards["dataset"],
                                                                              j.wildcards["variant"])]),
                   j.wildcards["seed"]) for j in trained}
        caching: float | None = 0.0
        for dataset, key, _ in caches:
            figures, cfg = self.figures.get(dataset), self.stage1[(dataset, key)]
            if figures is None:
                caching = None
                break
            frames = sum(min(figures.frames[s] / figures.videos[s], cfg["train"]["max_frames"]) * figures.videos[s]
                         for s in ("train", "dev", "test") if figures.videos[s])
            caching += frames * BACKBONE_FLOPS[cfg["model"]["backbone"]][0]
        return {"feature caching": caching, "stage 2": None if None in values else float(sum(values))}

    def _frames_bytes(self, jobs: list[Job], bytes_per_frame: float) -> float | None:
        total = 0.0
        for j in jobs:
            figures = self.figures.get(j.wildcards["dataset"])
            if figures is None:
                return None
            total += figures.frames[j.wildcards["split"]] * bytes_per_frame
        return total


# ---------------------------------------------------------------------------------------------
# --measure-flops: the benchmark, run now on the configured model


def measure_flops(experiment: Experiment, jobs: list[Job], params_path: Path,
                  benchmark: Path = Path("benchmarks/paper_scale.py"), frames: tuple[int, int] = (8, 16)) -> dict:
    """FLOP constants of the runs in ``jobs``, counted now by the paper-scale benchmark (a CPU
    minute or more per model and objective); keys as :data:`FLOPS`."""
    if not benchmark.is_file():
        raise QbsltError(f"{benchmark}: benchmark not found (run `qbslt plan` in the repository)")
    planner, profile = Planner(experiment, flops={}), experiment.profile.name
    wanted: dict[str, dict[tuple, str]] = {"pretrain": {}, "translation": {}}
    for j in jobs:
        d = j.wildcards.get("dataset")
        if j.rule == "pretrain":
            cfg = planner.stage1[(d, j.wildcards["key"])]
            name = next(v for (dd, v), c in planner.variants.items() if dd == d and c is cfg)
            wanted["pretrain"].setdefault(flop_key("pretrain", cfg["model"]), name)
        elif j.rule == "train":
            cfg = planner.variants[(d, j.wildcards["variant"])]
            wanted["translation"].setdefault(flop_key("translation", cfg["model"]), j.wildcards["variant"])
    measured: dict[tuple, tuple[float, float, int]] = {}
    for objective, by_key in wanted.items():
        if not by_key:
            continue
        with tempfile.TemporaryDirectory(prefix="qbslt-flops-") as tmp:
            out = Path(tmp) / "flops.json"
            cmd = [sys.executable, str(benchmark), "--flops-only", "--params", str(params_path), "--profile", profile,
                   "--objectives", objective, "--frames", *map(str, frames), "--variant",
                   *sorted(set(by_key.values())), "--json", str(out)]
            print(f"measuring FLOPs: {' '.join(cmd[1:])}", file=sys.stderr)
            subprocess.run(cmd, check=True, stdout=sys.stderr)
            rows = json.loads(out.read_text())["rows"]
        for row in rows:
            keys = PRETRAIN_KEYS if objective == "pretrain" else TRANSLATION_KEYS
            measured[(objective, *(row[k] for k in keys))] = (row["flops_per_frame"], row["flops_per_video"],
                                                              row["params"])
    return measured


