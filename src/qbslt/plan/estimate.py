"""``qbslt plan``: what a Snakemake target costs before it runs: jobs per rule, disk, GPU-hours.

The jobs come from a Snakemake dry run of the target (the source of truth): ``snakemake -n
--forceall TARGET --config profile=P`` in an empty working directory, so every job the target
implies from scratch is listed, with its rule and wildcards. Disk and GPU-hours are *estimates*
computed from those jobs, the resolved ``params.yaml`` and the measured or assumed constants
below (the one place they live, each with its source); every printed estimate is marked ``~``.

GPU-hours = FLOPs / (GPU throughput x MFU). FLOPs of a run = epochs x (training videos x FLOPs
per video + training frames x FLOPs per frame), the per-frame and per-video FLOPs of one
training step (forward + backward) as ``benchmarks/paper_scale.py --flops-only`` counts them
for the paper profile's model; stage 2 adds its dev evaluations (``eval_every``) and the final
dev and test evaluation, a forward pass counted as a third of a training step (beam-search
decoding beyond that is not counted).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from qbslt import config as qconfig
from qbslt.errors import QbsltError

# ---------------------------------------------------------------------------------------------
# Constants: measured or assumed, with their sources


@dataclass(frozen=True)
class DatasetFigures:
    """Videos per split and mean frames per video of a real dataset."""

    videos: dict[str, int]
    mean_frames: float
    source: str


DATASET_FIGURES = {
    "phoenix": DatasetFigures(
        videos={"train": 7096, "dev": 519, "test": 642}, mean_frames=116.0,
        source="PHOENIX-2014T-QA: videos per split counted in the QA files (../shared/data); "
               "116 frames a video assumed (the README's figure; the corpus files give no frame counts)"),
    "csl": DatasetFigures(
        videos={"train": 18401, "dev": 1077, "test": 1176}, mean_frames=125.2,
        source="CSL-Daily-QA: dev/test videos counted in the QA files, train assumed equal to CSL-Daily's "
               "official split (18,401; the QA train file was not available here); 125.2 frames a video "
               "measured on the dev/test QA files (num_frames column, 2,253 rows)"),
}

# Bytes per frame of the compressed (JPEG) frame store, by frame size (H, W) and JPEG quality.
# Measured with `python benchmarks/frame_store.py --sizes 256x256 210x260 --repeats 1` (windows of a
# real photograph, PIL 4:2:0; the sizes do not vary between runs). Other sizes: the 256x256 figure
# scaled by the frame area; other qualities: interpolated between the measured ones.
JPEG_BYTES_PER_FRAME = {
    (256, 256): {75: 11_775, 90: 20_017, 95: 29_030},
    (210, 260): {75: 10_342, 90: 17_457, 95: 25_220},
}
FRAME_STORE_BENCHMARK = "python benchmarks/frame_store.py --sizes 256x256 210x260 --repeats 1"

# FLOPs of one training step (forward + backward, batch of one video) of the paper profile's model
# at MEASURED_MODEL: (FLOPs per frame, FLOPs per video, parameters). Measured on a CPU (FLOP counts
# do not depend on the device) with torch.utils.flop_counter by FLOPS_BENCHMARK, for a trimmed
# mBART vocabulary of 3,000 tokens (assumed), 16 question and 24 translation tokens. Keys:
# ("pretrain", backbone, text_model, alignment): the stage-1 model, built from the stage-1 config as
# `qbslt pretrain` builds it; ("translation", backbone, text_model, alignment, fusion, inputs, ssl):
# stage 2. Each entry names the variant it was measured on. The mBERT text side is a random-init
# BERT of the model's width (1024), not mBERT's 768: its per-video FLOPs and parameters are
# somewhat overestimated.
FLOPS_BENCHMARK = ("python benchmarks/paper_scale.py --flops-only --frames 8 16 --objectives pretrain "
                   "--variant ssl_ssaw ssl_ssaw_t2v ssl_ssaw_v2t ssl_ssaw_shufflenet_mbert ssl_ssaw_shufflenet_mbart "
                   "ssl_ssaw_resnet_mbert; the same with --objectives translation --variant <the 14 variants>")
MEASURED_MODEL = {"d_model": 1024, "encoder_layers": 3, "decoder_layers": 3, "text_encoder_layers": 12,
                  "attention_heads": 16, "ffn_dim": 4096, "temporal_blocks": 2, "temporal_kernel": 5,
                  "contrastive_dim": 512, "freeze_backbone": False, "crop_size": 224}
# torch 2.14 flop_counter; it has no formula for LSTM recurrences (ssl_lstm: its LSTM is not counted).
FLOPS: dict[tuple, tuple[float, float, int]] = {
    # ssl_ssaw
    ("pretrain", "resnet18", "mbart", "vector"): (10.7334e9, 51.4095e9, 265_667_137),
    # ssl_ssaw_t2v
    ("pretrain", "resnet18", "mbart", "text_to_video"): (10.7342e9, 51.2539e9, 265_667_137),
    # ssl_ssaw_v2t
    ("pretrain", "resnet18", "mbart", "video_to_text"): (10.7342e9, 51.2521e9, 265_667_137),
    # ssl_ssaw_shufflenet_mbert
    ("pretrain", "shufflenet_v2_x1_0", "mbert", "vector"): (1.8052e9, 51.8813e9, 382_879_973),
    # ssl_ssaw_shufflenet_mbart
    ("pretrain", "shufflenet_v2_x1_0", "mbart", "vector"): (1.8052e9, 51.4095e9, 258_365_669),
    # ssl_ssaw_resnet_mbert
    ("pretrain", "resnet18", "mbert", "vector"): (10.7334e9, 51.8813e9, 390_181_441),
    # gfslt_vlp
    ("translation", "resnet18", "mbart", "vector", "concat", "sign", False): (10.7429e9, 6.7842e9, 265_667_137),
    # qb_concat
    ("translation", "resnet18", "mbart", "vector", "concat", "both", False): (10.7429e9, 11.0120e9, 265_667_137),
    # ssl_concat
    ("translation", "resnet18", "mbart", "vector", "concat", "both", True): (10.7429e9, 15.8175e9, 265_667_137),
    # qb_ssaw
    ("translation", "resnet18", "mbart", "vector", "ssaw", "both", False): (10.7618e9, 12.2230e9, 278_263_361),
    # ssl_ssaw
    ("translation", "resnet18", "mbart", "vector", "ssaw", "both", True): (10.7618e9, 17.0285e9, 278_263_361),
    # ssl_lstm
    ("translation", "resnet18", "mbart", "vector", "lstm", "both", True): (10.7429e9, 15.8175e9, 271_966_785),
    # ssl_tcn
    ("translation", "resnet18", "mbart", "vector", "tcn", "both", True): (10.7570e9, 16.7234e9, 275_107_393),
    # ssl_ssaw_t2v
    ("translation", "resnet18", "mbart", "text_to_video", "ssaw", "both", True): (10.7618e9, 17.0285e9, 278_263_361),
    # ssl_ssaw_v2t
    ("translation", "resnet18", "mbart", "video_to_text", "ssaw", "both", True): (10.7618e9, 17.0285e9, 278_263_361),
    # ssl_ssaw_shufflenet_mbert
    ("translation", "shufflenet_v2_x1_0", "mbert", "vector", "ssaw", "both", True): (1.8336e9, 17.1291e9, 395_476_197),
    # ssl_ssaw_shufflenet_mbart
    ("translation", "shufflenet_v2_x1_0", "mbart", "vector", "ssaw", "both", True): (1.8336e9, 17.0285e9, 270_961_893),
    # ssl_ssaw_resnet_mbert
    ("translation", "resnet18", "mbert", "vector", "ssaw", "both", True): (10.7618e9, 17.1291e9, 402_777_665),
    # question_only
    ("translation", "resnet18", "mbart", "vector", "ssaw", "question", True): (0.0000e9, 17.0286e9, 278_263_361),
    # sign_only
    ("translation", "resnet18", "mbart", "vector", "ssaw", "sign", False): (10.7618e9, 6.7841e9, 278_263_361),
}
PRETRAIN_KEYS = ("backbone", "text_model", "alignment")
TRANSLATION_KEYS = PRETRAIN_KEYS + ("fusion", "inputs", "ssl")

# Pretrained weights downloaded into the Hugging Face / torchvision caches (float32): parameter
# counts of the published checkpoints (approximate for the two text models).
PRETRAINED_PARAMS = {"mbart": 611_000_000, "mbert": 178_000_000, "resnet18": 11_689_512,
                     "shufflenet_v2_x1_0": 2_278_604}
# mbart-large-cc25 without its 250,027 x 1,024 token embedding, plus an assumed trimmed vocabulary of
# 3,000 tokens: the trimmed model `qbslt tokenizer` saves beside the tokenizer (model.trim_vocab).
TRIMMED_MBART_PARAMS = PRETRAINED_PARAMS["mbart"] - 250_027 * 1024 + 3_000 * 1024
# Optimizer states per parameter kept in the resumable checkpoint (last.pt).
OPTIMIZER_STATES = {"sgd": 1, "adamw": 2}  # SGD: momentum 0.9; AdamW: two moments
FEATURE_BYTES = 4  # frozen-backbone features are float32
WEIGHT_BYTES = 4  # weights are saved in float32 (bf16 autocast keeps float32 weights)

DEFAULT_GPU_TFLOPS = 989.0  # H100 / H200 SXM, dense bf16 (datasheet)
# Measured on one H200 (benchmarks/paper_scale.py --device cuda --throughput-steps 10, ssl_ssaw, bf16,
# a batch of 8 (stage 2) or 16 (stage 1) videos of 116 frames): 9.3 % and 9.0 % of 989 TFLOP/s.
DEFAULT_MFU = 0.09
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
# The dry run


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)


def parse_dry_run(text: str) -> list[Job]:
    """The jobs of ``snakemake -n`` output: each ``rule NAME:`` block and its ``wildcards:`` line.
    Checked against the run's own job-count table."""
    jobs: list[Job] = []
    stats: dict[str, int] = {}
    in_stats = False
    for line in text.splitlines():
        if m := re.match(r"^(?:local)?rule (\S+):$", line):
            jobs.append(Job(m[1]))
        elif (m := re.match(r"^\s+wildcards: (.*)$", line)) and jobs:
            jobs[-1].wildcards = dict(part.split("=", 1) for part in m[1].split(", "))
        elif line.startswith("Job stats:"):
            in_stats, stats = True, {}
        elif in_stats:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    in_stats = False
                else:
                    stats[parts[0]] = int(parts[1])
    counted = job_counts(jobs)
    if stats and counted != stats:
        raise QbsltError(f"snakemake dry run: {sum(counted.values())} job blocks parsed, but its job table "
                         f"says {stats}: output format not understood")
    return jobs


def job_counts(jobs: list[Job]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return counts


def dry_run(target: str, profile: str, params: Path, snakefile: Path) -> list[Job]:
    """Every job of ``target`` from scratch: a dry run in an empty folder holding only ``params``."""
    if not snakefile.is_file():
        raise QbsltError(f"{snakefile}: Snakefile not found (run `qbslt plan` in the repository, or pass --snakefile)")
    with tempfile.TemporaryDirectory(prefix="qbslt-plan-") as tmp:
        shutil.copyfile(params, Path(tmp) / "params.yaml")
        cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile.resolve()), "-d", tmp, "--cores", "1",
               "-n", "--forceall", target, "--config", f"profile={profile}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
        error = next((ln for ln in lines if "Error" in ln or "error" in ln), lines[-1] if lines else "")
        detail = [ln for ln in lines if ln.startswith(("target ", "Table ", "MissingRule", "No rule"))]
        raise QbsltError(f"snakemake dry run of {target!r} (profile {profile}) failed: "
                         f"{'; '.join(detail) or error}")
    return parse_dry_run(result.stdout + result.stderr)


# ---------------------------------------------------------------------------------------------
# Estimates of one target


@dataclass
class Figures:
    """Videos and total frames per split of one dataset, and where the numbers come from."""

    videos: dict[str, int]
    frames: dict[str, float]
    source: str


def dataset_figures(profile: str, dataset: str, data_dir: Path = Path("data")) -> Figures | None:
    """Counted in ``data/<profile>/examples`` when that exists, else the paper datasets' figures
    (:data:`DATASET_FIGURES`, paper profile only); None when unknown."""
    folder = Path(data_dir) / profile / "examples" / dataset
    if all((folder / f"{s}.tsv").is_file() for s in ("train", "dev", "test")):
        import pandas as pd

        videos, frames = {}, {}
        for split in ("train", "dev", "test"):
            table = pd.read_csv(folder / f"{split}.tsv", sep="\t", usecols=["num_frames"])
            videos[split], frames[split] = len(table), float(table["num_frames"].sum())
        return Figures(videos, frames, f"counted in {folder}")
    if profile == "paper" and dataset in DATASET_FIGURES:
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


class Planner:
    """Turns the jobs of a dry run into disk and GPU estimates for one resolved config."""

    def __init__(self, tree: dict, data_dir: Path = Path("data"), flops: dict | None = None):
        self.tree, self.profile = tree, tree["profile"]
        self.flops = FLOPS if flops is None else flops
        self.data_dir = Path(data_dir)
        datasets = tree["data"]["datasets"]
        self.variants = {(d, v): qconfig.variant_config(tree, v) for d in datasets
                         for v in qconfig.dataset_variants(tree, d)}
        self.stage1 = {}
        for (d, _), cfg in self.variants.items():
            self.stage1.setdefault((d, qconfig.stage1_key(cfg)), cfg)
        self.figures = {d: dataset_figures(self.profile, d, self.data_dir) for d in datasets}

    # -- runs --------------------------------------------------------------------------------

    def run_cost(self, job: Job) -> RunCost:
        d = job.wildcards["dataset"]
        if job.rule == "pretrain":
            cfg, objective, stage = self.stage1[(d, job.wildcards["key"])], "pretrain", "stage1"
        else:
            cfg, objective, stage = self.variants[(d, job.wildcards["variant"])], "translation", "stage2"
        figures = self.figures.get(d)
        if self.profile != "paper" and self.flops is FLOPS:
            return RunCost(None, None, f"the FLOP constants are the paper profile's model's, not {self.profile}'s")
        if self.flops is FLOPS and (mismatch := model_mismatch(cfg)):
            return RunCost(None, None, "model differs from the measured one (" + ", ".join(mismatch)
                           + "): --measure-flops")
        key = flop_key(objective, cfg["model"])
        if key not in self.flops:
            return RunCost(None, None, f"no FLOP figure for {key}: --measure-flops")
        per_frame, per_video, params = self.flops[key]
        if figures is None:
            return RunCost(None, params, f"{d}: frame counts unknown (run `snakemake prepare` first)")
        max_frames = cfg["train"]["max_frames"]

        def mean(split: str) -> float:
            return min(figures.frames[split] / figures.videos[split], max_frames) if figures.videos[split] else 0.0

        stage_cfg = cfg["train"][stage]
        flops = training_flops(figures.videos["train"], mean("train"), stage_cfg["epochs"], per_frame, per_video)
        if stage == "stage2":
            for split, n in (("dev", dev_evaluations(stage_cfg["epochs"], stage_cfg.get("eval_every", 1)) + 1),
                             ("test", 1)):
                flops += evaluation_flops(n, figures.videos[split], mean(split), per_frame, per_video)
        return RunCost(flops, params)

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
        if self.profile == "paper":
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
        for d in sorted({j.wildcards.get("dataset") for j in jobs if j.wildcards.get("dataset")}):
            if self.figures.get(d) is not None:
                notes.append(f"{d}: {self.figures[d].source}")
        return TargetPlan(target, job_counts(jobs), disk, {k: len(v) for k, v in stages.items()}, flops,
                          list(dict.fromkeys(notes)))

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


def measure_flops(tree: dict, jobs: list[Job], params_path: Path, profile: str,
                  benchmark: Path = Path("benchmarks/paper_scale.py"), frames: tuple[int, int] = (8, 16)) -> dict:
    """FLOP constants of the runs in ``jobs``, counted now by the paper-scale benchmark (a CPU
    minute or more per model and objective); keys as :data:`FLOPS`."""
    if not benchmark.is_file():
        raise QbsltError(f"{benchmark}: benchmark not found (run `qbslt plan` in the repository)")
    planner = Planner(tree, flops={})
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


# ---------------------------------------------------------------------------------------------
# Output


def _gb(value: float | str | None, estimate: bool) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    text = f"{value / 1e9:,.1f}" if value >= 1e8 else f"{value / 1e9:.2f}"
    return f"~{text}" if estimate else text


def _hours(flops: float | None, gpu_tflops: float, mfu: float) -> str:
    if flops is None:
        return "n/a"
    h = gpu_hours(flops, gpu_tflops, mfu)
    return "0" if h == 0 else f"~{h:,.0f}" if h >= 10 else f"~{h:,.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render(plans: list[TargetPlan], profile: str, params: Path, gpu_tflops: float, mfu: float) -> str:
    """Markdown: jobs per rule, disk (GB) and GPU-hours, one column per target; then the notes."""
    targets = [p.target for p in plans]
    out = [f"Plan for profile `{profile}` ({params}); `~` marks an estimate. Jobs: `snakemake -n --forceall "
           f"TARGET --config profile={profile}` from scratch.", "", "Jobs per rule:", ""]
    def row_of(rule: str) -> str:  # the per-table rules share one row
        return "tableN" if re.fullmatch(r"table\d+", rule) else rule

    rules = list(dict.fromkeys(row_of(r) for p in plans for r in p.counts))
    rows = [[f"`{r}`"] + [str(sum(n for rule, n in p.counts.items() if row_of(rule) == r)) for p in plans]
            for r in rules]
    rows.append(["**total**"] + [f"**{sum(p.counts.values())}**" for p in plans])
    out += _table(["rule"] + [f"`{t}`" for t in targets], rows)

    out += ["", "Disk, GB (10^9 bytes):", ""]
    labels = list(dict.fromkeys(k for p in plans for k in p.disk))
    rows = []
    for label in labels:
        estimate = label.startswith("~ ")
        rows.append([label.removeprefix("~ ")] + [_gb(p.disk.get(label, 0.0), estimate) if label in p.disk
                                                 else "0" for p in plans])
    totals = []
    for p in plans:
        values = [v for v in p.disk.values() if not isinstance(v, str)]
        totals.append("n/a" if None in values else _gb(sum(values), True))
    rows.append(["**total** (peak)"] + [f"**{t}**" for t in totals])
    out += _table(["item"] + [f"`{t}`" for t in targets], rows)

    out += ["", f"GPU-hours (estimate: FLOPs / ({gpu_tflops:g} TFLOP/s x MFU {mfu:g})):", ""]
    rows = [["stage-1 runs (`pretrain`)"] + [str(p.runs["stage 1"]) for p in plans],
            ["stage-1 GPU-hours"] + [_hours(p.flops["stage 1"], gpu_tflops, mfu) for p in plans],
            ["stage-2 runs (`train`, with dev/test evaluation)"] + [str(p.runs["stage 2"]) for p in plans],
            ["stage-2 GPU-hours"] + [_hours(p.flops["stage 2"], gpu_tflops, mfu) for p in plans]]
    total = []
    for p in plans:
        values = list(p.flops.values())
        total.append(f"**{_hours(None if None in values else sum(values), gpu_tflops, mfu)}**")
    rows.append(["**GPU-hours**"] + total)
    out += _table(["", *[f"`{t}`" for t in targets]], rows)

    notes = list(dict.fromkeys(n for p in plans for n in p.notes))
    out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    out.append(f"- FLOPs per frame and per video of one training step: {FLOPS_BENCHMARK} (paper profile's model, "
               f"see qbslt.plan.FLOPS); a forward pass counts as a third of a training step, beam search beyond "
               f"that is not counted; GPU-hours add up over GPUs (train.gpus does not change them).")
    out.append(f"- JPEG frame store: bytes per frame measured by {FRAME_STORE_BENCHMARK} on a real photograph; "
               f"PHOENIX and CSL frames may compress differently.")
    return "\n".join(out) + "\n"


def plan_targets(params: Path, profile: str | None, targets: list[str], snakefile: Path = Path("Snakefile"),
                 gpu_tflops: float = DEFAULT_GPU_TFLOPS, mfu: float = DEFAULT_MFU, measure: bool = False,
                 data_dir: Path = Path("data")) -> str:
    """The plan of ``targets`` (Snakemake targets or rule names) under ``profile``, as markdown."""
    if gpu_tflops <= 0 or not 0 < mfu <= 1:
        raise QbsltError(f"--gpu-tflops must be > 0 and --mfu in (0, 1] (got {gpu_tflops}, {mfu})")
    tree = qconfig.load(params, profile)
    profile = tree["profile"]
    runs = {t: dry_run(t, profile, Path(params), Path(snakefile)) for t in targets}
    flops = None
    if measure:
        if any(qconfig.variant_config(tree, v)["model"]["freeze_backbone"] for d in tree["data"]["datasets"]
               for v in qconfig.dataset_variants(tree, d)):
            raise QbsltError(f"--measure-flops counts models that train their backbone on frames (the paper "
                             f"profile); profile {profile} has frozen-backbone variants")
        flops = measure_flops(tree, [j for jobs in runs.values() for j in jobs], Path(params), profile)
    planner = Planner(tree, data_dir, flops)
    return render([planner.plan(t, jobs) for t, jobs in runs.items()], profile, Path(params), gpu_tflops, mfu)


__all__ = ["DATASET_FIGURES", "FLOPS", "JPEG_BYTES_PER_FRAME", "Job", "Planner", "TargetPlan", "dev_evaluations",
           "dry_run", "evaluation_flops", "gpu_hours", "jpeg_bytes_per_frame", "job_counts", "parse_dry_run",
           "plan_targets", "render", "store_bytes_per_frame", "training_flops"]
