"""GPU-cost levers of the paper profile's training step, one measured row each.

Each row is one configuration of the stage-2 training step (``overrides.paper`` of params.yaml, the
``ssl_ssaw`` variant: ImageNet-sized ResNet-18 trained on 224x224 crops, mBART-large-sized
encoder/decoder, random init, synthetic frames; nothing is downloaded), or of what surrounds it
(beam-search decoding, JPEG decoding). ``fit_step`` is the step as ``qbslt.training.loop.fit`` runs
it; every lever row changes one thing of it:

* ``fit_step``: the paper's optimizer from params (SGD, momentum 0.9), deterministic algorithms
  (``warn_only``, as ``seed_everything`` sets them), the loss read back every step (fit's
  finiteness check), gradient clipping, the cosine schedule, the batch uploaded from pinned
  memory with ``non_blocking``, bf16 autocast on CUDA;
* ``baseline_step``: the bare step of ``benchmarks/paper_scale.py`` (forward, backward, AdamW; the
  batch already on the device; no clipping, no determinism);
* ``deterministic_off``, ``channels_last`` (the backbone), ``compiled`` (``torch.compile``; its
  compile time apart), ``frozen_early_stages`` (ResNet conv1, bn1, layer1, layer2 frozen, their
  BatchNorms in eval mode), ``cached_features_b8`` / ``_b64`` (frozen backbone: the model fed
  precomputed 512-d features, batch 8 and 64; extracting them once is not counted), ``shufflenet``
  (backbone shufflenet_v2_x1_0);
* ``decode_fp32_b8`` / ``decode_bf16_b64``: ``model.generate`` (beam search, eval.num_beams and
  eval.max_new_tokens, as the final evaluation decodes) in fp32 with batch 8 against bf16 autocast
  with batch 64: seconds per example;
* ``nvjpeg_per_batch``: a training batch of JPEG frames (q90, data.frame_size) decoded by
  ``torchvision.io.decode_jpeg`` on the GPU (one call per batch) against the CPU (one thread);
  on a CPU only the CPU decode.

Every row: s/step (mean of ``--steps`` timed steps after ``--warmup`` untimed ones, the first of
which is counted by ``FlopCounterMode``; CUDA synchronised), frames/s, TFLOP/s, MFU of
``--peak-tflops``, peak GiB (``torch.cuda.max_memory_allocated``, reset per row; null on a CPU), the
speed-up per video against its reference row (``fit_step`` for the training rows) and the
projected GPU-hours of the whole paper matrix: the plan's GPU-hours (``qbslt plan``'s total, read
from docs/measurements.yaml's ``paper.cost``, or ``--plan-gpu-hours``) times the row's seconds per
video over ``fit_step``'s (the stage-2 ratio applied to the whole matrix, stage 1 and evaluation
included: an approximation). The plan's hours are a FLOP estimate at the 9 % MFU of paper_scale's
bare step; taking them as ``fit_step``'s is an assumption that ``baseline_step``'s speed-up row
lets one check. A row that fails (a CUDA-only lever on a CPU, an out-of-memory) is written with
``"error"`` and the script goes on.

Rows are appended to ``--out`` as JSON lines, each flushed as soon as it is measured (a run cut
short by a time limit keeps the rows done), and printed. On a lent GPU (expected at most 8 min on
one H100; ``compiled`` runs last, as its compilation is the slowest part):

    python benchmarks/gpu_levers.py --out $OUT/gpu_levers.jsonl

The rows go into docs/measurements.yaml with the date and the device, as every measured figure.
A CPU check of the script itself (a tiny model, one warm-up and one timed step per row, seconds):

    python benchmarks/gpu_levers.py --tiny --device cpu --out /tmp/gpu_levers.jsonl
    python benchmarks/gpu_levers.py --rows fit_step channels_last      # only these rows
"""

import argparse
import contextlib
import datetime
import functools
import gc
import importlib.util
import json
import math
import platform
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch
from torch.utils.flop_counter import FlopCounterMode

from qbslt import config
from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
from qbslt.training.loop import autocast, make_optimizer, to_device
from qbslt.ssl_ssaw.run import model_config

GIB = 2**30
REPO = Path(__file__).resolve().parents[1]
OBJECTIVE = "translation"  # stage 2: 200 epochs of the paper's schedule, most of the matrix's GPU-hours
VARIANT = "ssl_ssaw"
# --tiny: the smallest model that still builds every part (the real ResNet-18 / ShuffleNet on
# 32x32 frames, the smallest both reduce to 1x1), so that the whole script runs in seconds on a CPU.
TINY_MODEL = {"d_model": 32, "encoder_layers": 1, "decoder_layers": 1, "text_encoder_layers": 1,
              "attention_heads": 2, "ffn_dim": 64, "contrastive_dim": 32, "max_positions": 64}
TINY_SIZES = {"batch_size": 2, "frames": 4, "crop": 32, "frame_size": (32, 32), "question_tokens": 4,
              "text_tokens": 6, "vocab": 64, "max_new_tokens": 4}
# The early ResNet stages the frozen_early_stages row freezes: the high-resolution ones, whose
# activations and backward dominate the backbone's cost.
EARLY_STAGES = ("conv1", "bn1", "layer1", "layer2")


@functools.cache
def paper_scale():
    """benchmarks/paper_scale.py as a module (the stand-in vocabulary, synthetic batch and bare
    training step are its; loaded by path: benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("paper_scale", Path(__file__).with_name("paper_scale.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def plan_gpu_hours_from(measurements: Path) -> tuple[float | None, str]:
    """(GPU-hours of the whole paper matrix, where they come from): the ``all`` row of the
    ``paper.cost`` entry (``qbslt plan``'s totals; running the plan needs a Snakemake dry run, not
    cheap). (None, why) when the file or the row is not there."""
    try:
        entry = config.read_yaml(measurements)["paper.cost"]
        match = re.search(r"^\|\s*`all`[^|]*\|\s*[\d,]+\s*\|\s*~?\s*([\d,.]+)\s*\|", entry["value"], re.MULTILINE)
        if match is None:
            return None, f"{measurements}: no `all` row in paper.cost"
        return float(match.group(1).replace(",", "")), f"{measurements.name} paper.cost, {entry.get('date')}"
    except (OSError, KeyError, TypeError, ValueError) as exc:
        return None, f"{measurements}: {one_line(exc)}"


@dataclass
class Setting:
    """What every row shares: device, sizes, the paper profile's config, the timing counts."""

    device: torch.device
    tiny: bool
    cfg: dict  # the variant's resolved config (paper profile)
    jpeg_quality: int  # data.frame_store.quality
    batch_size: int  # videos per training step (train.stage2.batch_size)
    frames: int  # frames per video
    crop: int
    frame_size: tuple[int, int]  # JPEG frames of the frame store
    question_tokens: int
    text_tokens: int
    vocab: int
    num_beams: int
    max_new_tokens: int
    steps: int
    warmup: int
    decode_steps: int
    peak_tflops: float
    plan_gpu_hours: float | None
    plan_source: str
    compile_backend: str
    model_overrides: dict = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def precision(self) -> str:
        """fit's precision here: train.precision (bf16) is autocast on CUDA only (loop.autocast)."""
        return self.cfg["train"]["precision"] if self.cuda else "fp32"

    @property
    def precision_name(self) -> str:
        return "bf16 autocast" if self.precision == "bf16" else self.precision

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def build_model(self, **model_changes) -> QBSLTModel:
        """The paper-size model (random init, seed 0) on the device, in train mode; ``model_changes``
        override the variant's model keys (a lever's change)."""
        cfg = {**self.cfg, "model": {**self.cfg["model"], **model_changes}}
        vocab = paper_scale().StandInVocabulary(self.vocab)
        model_cfg = model_config(cfg, vocab, vocab, mbart_path=None, bert_path=None, mbart_revision=None, bert_revision=None,
                                 backbone_pretrained=False,
                                 **self.model_overrides)
        torch.manual_seed(0)
        return QBSLTModel(model_cfg).to(self.device).train()

    def batch(self, batch_size: int | None = None, features: int | None = None) -> dict:
        """A synthetic CPU batch (pinned on CUDA, as fit's loader pins it): uint8 frames, or
        ``features``-d float features (frozen backbone); colour factors when the profile augments colour."""
        batch_size = batch_size or self.batch_size
        batch = paper_scale().synthetic_batch(batch_size, self.frames, self.crop, self.question_tokens,
                                              self.text_tokens, self.vocab, torch.device("cpu"))
        generator = torch.Generator().manual_seed(1)
        if features:
            batch["video"] = torch.randn(batch_size, self.frames, features, generator=generator)
        elif any(self.cfg["train"]["augment"][k] for k in ("brightness", "contrast", "saturation")):
            batch["video_colour"] = 0.8 + 0.4 * torch.rand(batch_size, 3, generator=generator)
        return {k: v.pin_memory() for k, v in batch.items()} if self.cuda else batch


@dataclass
class Workload:
    """One row's unit of work, ready to run: a training step, a ``generate`` call or a JPEG batch."""

    step: Callable[[], object]
    videos: int  # videos (examples) per step
    frames: int  # frames per step
    description: str
    reference: str | None = None  # the row the speed-up is taken against
    reference_s_per_video: float | None = None  # or the reference's own time, measured with the row
    projects_matrix: bool = False  # a training step: its time scales the plan's GPU-hours
    count_flops: bool = True
    timed_steps: int | None = None  # default: --steps
    warmup: int | None = None  # default: --warmup
    flop_step: Callable[[], object] | None = None  # compiled: FLOPs of the same step, uncompiled
    deterministic: bool = False
    details: dict = field(default_factory=dict)
    after_timing: Callable[[object], dict] | None = None  # details from the last step's result


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool):
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` (as ``seed_everything``) for the
    row only: the setting is global, and the next row must start from PyTorch's default."""
    before = torch.are_deterministic_algorithms_enabled()
    before_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn_only)


# --- the training steps ------------------------------------------------------------------------

def fit_step(s: Setting, *, deterministic: bool = True, channels_last: bool = False, compiled: bool = False,
             freeze_early: bool = False, features: bool = False, backbone: str | None = None,
             batch_size: int | None = None, description: str = "") -> Workload:
    """The step of ``fit`` with one lever changed: zero_grad, upload from pinned memory, autocast
    forward, backward, the loss read back (fit's finiteness check, a sync per step), gradient
    clipping, optimizer and scheduler step."""
    from transformers import get_cosine_schedule_with_warmup

    changes = {}
    if backbone:
        changes["backbone"] = backbone
    if features:
        changes["freeze_backbone"] = True  # the model then holds no backbone and takes features
    model = s.build_model(**changes)
    stage = s.cfg["train"]["stage2"]
    details = {"objective": OBJECTIVE, "precision": s.precision_name, "optimizer": stage["optimizer"]}
    if channels_last:
        model.video_embedding.backbone.net.to(memory_format=torch.channels_last)
    if freeze_early:
        net = model.video_embedding.backbone.net
        for name in EARLY_STAGES:
            getattr(net, name).requires_grad_(False)
            # fit's model.train() every epoch would undo this; a real lever would override train().
            getattr(net, name).eval()
        details["frozen"] = list(EARLY_STAGES)
    optimizer = make_optimizer(model, stage)  # after freezing: it takes the trainable parameters only
    scheduler = get_cosine_schedule_with_warmup(optimizer, stage["warmup_steps"], 10_000)
    grad_clip = s.cfg["train"]["grad_clip"]
    forward, after_timing = model, None
    if compiled:
        from torch._dynamo.utils import counters

        counters.clear()  # graph breaks of this row only: each one splits the compiled step
        forward = torch.compile(model, backend=s.compile_backend)
        details["compile_backend"] = s.compile_backend

        def after_timing(_) -> dict:
            return {"graph_breaks": sum(counters["graph_break"].values())}

    batch_size = batch_size or s.batch_size
    cpu_batch = s.batch(batch_size, features=model.config.feature_dim if features else None)

    def make_step(run: Callable) -> Callable[[], None]:
        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            batch = to_device(cpu_batch, s.device)
            with autocast(s.device, s.cfg["train"]["precision"]):
                out = run(batch, OBJECTIVE)
            out["loss"].backward()
            for value in out.values():
                if value.dim() == 0 and not math.isfinite(float(value.detach())):
                    raise FloatingPointError("non-finite loss")
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            scheduler.step()
        return step

    return Workload(step=make_step(forward), videos=batch_size, frames=batch_size * s.frames,
                    description=description, reference="fit_step", projects_matrix=True,
                    flop_step=make_step(model) if compiled else None, deterministic=deterministic, details=details,
                    after_timing=after_timing)


def baseline_step(s: Setting) -> Workload:
    model = s.build_model()
    batch = to_device(s.batch(), s.device)
    precision = "bf16" if s.cuda else "fp32"  # paper_scale's CPU bf16 is emulated: fp32 there, as fit
    step, _ = paper_scale().training_step(model, batch, OBJECTIVE, precision, s.device)
    return Workload(step=step, videos=s.batch_size, frames=s.batch_size * s.frames, reference="fit_step",
                    projects_matrix=True,
                    details={"objective": OBJECTIVE, "precision": precision, "optimizer": "adamw"},
                    description="benchmarks/paper_scale.py's bare step: forward, backward, AdamW; batch on the device")


def frozen_early_stages(s: Setting) -> Workload:
    return fit_step(s, freeze_early=True, description="fit_step, ResNet conv1/bn1/layer1/layer2 frozen "
                                                      "(requires_grad False, eval-mode BatchNorm): changes the model")


# --- decoding ----------------------------------------------------------------------------------

def decode(s: Setting, batch_size: int, bf16: bool, description: str) -> Workload:
    """``model.generate`` on a batch, as the evaluation decodes (beam search); bf16: autocast."""
    model = s.build_model()
    batch = s.batch(batch_size)

    def step():
        with torch.autocast(s.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            return model.generate(to_device(batch, s.device), num_beams=s.num_beams, max_new_tokens=s.max_new_tokens)

    def generated(sequences) -> dict:
        # A random-init model may stop early or run to the budget: the time means little without this.
        return {"generated_tokens_mean": float(np.mean([len(seq) for seq in sequences]))}

    return Workload(step=step, videos=batch_size, frames=batch_size * s.frames, description=description,
                    reference="decode_fp32_b8" if bf16 else None, after_timing=generated,
                    timed_steps=s.decode_steps, warmup=1,  # one generate call is seconds: the FLOP-counted call warms
                    details={"precision": "bf16 autocast" if bf16 else "fp32", "num_beams": s.num_beams,
                             "max_new_tokens": s.max_new_tokens})


# --- JPEG decoding -----------------------------------------------------------------------------

def photo_like_frames(count: int, size_hw: tuple[int, int]) -> tuple[list[np.ndarray], str]:
    """``count`` distinct uint8 frames [H, W, 3]: windows of matplotlib's sample photograph (as
    benchmarks/frame_store.py; JPEG decoding speed depends on the content), else smooth synthetic images."""
    from PIL import Image

    h, w = size_hw
    rng = np.random.default_rng(0)
    try:
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            photo = Image.open(f).convert("RGB")
        scale = 1.15 * max(h / photo.height, w / photo.width)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
        frames = []
        for _ in range(count):
            x, y = rng.integers(0, photo.width - w + 1), rng.integers(0, photo.height - h + 1)
            frames.append(np.asarray(photo.crop((x, y, x + w, y + h))))
        return frames, "grace_hopper.jpg windows"
    except (ImportError, OSError, ValueError):
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        frames = []
        for _ in range(count):
            phase = rng.uniform(0, 6.28, 3)
            image = np.stack([np.sin(6 * xx + 4 * yy + p) for p in phase], -1) * 100 + 128
            frames.append((image + rng.normal(0, 4, image.shape)).clip(0, 255).astype(np.uint8))
        return frames, "synthetic smooth images"


def nvjpeg_per_batch(s: Setting) -> Workload:
    """A training batch of JPEG frames (q90) decoded in one ``decode_jpeg`` call: on the GPU
    (nvJPEG), against the CPU decode of the same list timed in this row; on a CPU, the CPU decode only."""
    from torchvision.io import ImageReadMode, decode_jpeg

    from qbslt.data.frame_store import encode_jpeg

    quality = s.jpeg_quality
    distinct, source = photo_like_frames(s.frames, s.frame_size)  # one video's frames, repeated per video
    encoded = [torch.frombuffer(bytearray(encode_jpeg(frame, quality)), dtype=torch.uint8) for frame in distinct]
    jpegs = encoded * s.batch_size
    frames = len(jpegs)

    def cpu_decode():
        return decode_jpeg(jpegs, mode=ImageReadMode.RGB)

    details = {"frame_size": list(s.frame_size), "quality": quality, "frame_source": source,
               "bytes_per_frame": float(np.mean([len(e) for e in encoded]))}
    if not s.cuda:
        return Workload(step=cpu_decode, videos=s.batch_size, frames=frames, count_flops=False, details=details,
                        description="CPU decode_jpeg of a batch's frames (list, one call); nvJPEG needs CUDA")

    def gpu_decode():
        return decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=s.device)

    cpu_repeats = max(1, s.steps // 2)  # fewer than the GPU's: a paper batch takes the CPU about half a second
    cpu_decode()  # warm
    start = time.perf_counter()
    for _ in range(cpu_repeats):
        cpu_decode()
    cpu_seconds = (time.perf_counter() - start) / cpu_repeats
    details.update(cpu_s_per_step=cpu_seconds, cpu_frames_per_s=frames / cpu_seconds)  # one thread: this one
    return Workload(step=gpu_decode, videos=s.batch_size, frames=frames, count_flops=False, details=details,
                    reference="cpu decode_jpeg (this row)", reference_s_per_video=cpu_seconds / s.batch_size,
                    description="nvJPEG: decode_jpeg(list, device='cuda'), one call per batch, against the CPU")


# --- the rows ----------------------------------------------------------------------------------

# Name -> builder, in the order they run: fit_step first (every training row's speed-up is against
# it), compiled last (its compilation is the slowest part; a time limit then cuts it, not the others).
ROWS: dict[str, Callable[[Setting], Workload]] = {
    "fit_step": lambda s: fit_step(s, description="the step as fit runs it: SGD from params, deterministic "
                                                  "algorithms (warn_only), loss read back, grad clipping, "
                                                  "pinned non_blocking upload, bf16 autocast on CUDA"),
    "baseline_step": baseline_step,
    "deterministic_off": lambda s: fit_step(s, deterministic=False,
                                            description="fit_step without deterministic algorithms"),
    "channels_last": lambda s: fit_step(s, channels_last=True,
                                        description="fit_step, the backbone in channels_last memory format"),
    "frozen_early_stages": frozen_early_stages,
    "cached_features_b8": lambda s: fit_step(
        s, features=True, batch_size=8, description="fit_step with a frozen backbone, fed precomputed 512-d "
                                                    "features, batch 8 (the one-off extraction not counted): "
                                                    "changes the model"),
    "cached_features_b64": lambda s: fit_step(
        s, features=True, batch_size=64, description="as cached_features_b8, batch 64"),
    "shufflenet": lambda s: fit_step(s, backbone="shufflenet_v2_x1_0",
                                     description="fit_step with backbone shufflenet_v2_x1_0: changes the model"),
    "decode_fp32_b8": lambda s: decode(s, 8, bf16=False, description="model.generate (beam search), fp32, batch 8"),
    "decode_bf16_b64": lambda s: decode(s, 64, bf16=True,
                                        description="model.generate (beam search), bf16 autocast, batch 64"),
    "nvjpeg_per_batch": nvjpeg_per_batch,
    "compiled": lambda s: fit_step(s, compiled=True, description="fit_step through torch.compile(model); "
                                                                 "compile_s: the first compiled call"),
}


def measure(name: str, s: Setting, done: dict[str, dict]) -> dict:
    """Build row ``name``'s workload and time it; the row (its numbers, or its error)."""
    row = {"row": name}
    workload = None
    try:
        if s.cuda:
            torch.cuda.reset_peak_memory_stats(s.device)
        workload = ROWS[name](s)
        row["description"] = workload.description
        # The process's warning filters, as fit has them (each distinct warning recorded once).
        with deterministic_algorithms(workload.deterministic), warnings.catch_warnings(record=True) as caught:
            row.update(time_workload(workload, s))
        messages = sorted({one_line(w.message)[:200] for w in caught})
        if messages:
            row["warnings"] = messages[:5]
        row.update(compare(row, workload, s, done))
    except Exception as exc:  # noqa: BLE001 - a failed row is a result; the next row still runs
        row["error"] = one_line(exc)
    finally:
        del workload
        gc.collect()
        if s.cuda:
            torch.cuda.empty_cache()
    return row


def time_workload(w: Workload, s: Setting) -> dict:
    """FLOPs of the first untimed call, then the rest of the warm-up, then ``steps`` timed calls."""
    steps = w.timed_steps or s.steps
    warmup = max(s.warmup if w.warmup is None else w.warmup, 1)
    untimed = warmup
    out = {"videos_per_step": w.videos, "frames_per_step": w.frames}
    flops = None
    if w.count_flops:
        with FlopCounterMode(display=False) as counter:
            (w.flop_step or w.step)()
        flops = counter.get_total_flops()
        s.sync()
        if w.flop_step is None:
            untimed -= 1
    if w.flop_step is not None:  # compiled: the first call compiles; its time is reported apart
        start = time.perf_counter()
        w.step()
        s.sync()
        out["compile_s"] = time.perf_counter() - start
        untimed -= 1
    for _ in range(untimed):
        w.step()
    s.sync()
    start = time.perf_counter()
    for _ in range(steps):
        result = w.step()
    s.sync()
    seconds = (time.perf_counter() - start) / steps
    out.update(steps=steps, warmup=warmup, s_per_step=seconds, s_per_video=seconds / w.videos,
               frames_per_s=w.frames / seconds, flops_per_step=flops,
               tflops_per_s=flops / seconds / 1e12 if flops else None,
               mfu=flops / seconds / (s.peak_tflops * 1e12) if flops else None,
               peak_gib=torch.cuda.max_memory_allocated(s.device) / GIB if s.cuda else None, **w.details)
    if w.after_timing is not None:
        out.update(w.after_timing(result))
    return out


def compare(row: dict, w: Workload, s: Setting, done: dict[str, dict]) -> dict:
    """Speed-up per video against the reference row; the matrix's GPU-hours scaled by fit_step's time."""
    measured = {**done, row["row"]: row}  # fit_step is its own reference
    reference = w.reference_s_per_video
    if reference is None and w.reference in measured:
        reference = measured[w.reference].get("s_per_video")
    fit = measured.get("fit_step", {}).get("s_per_video")
    projected = None
    if w.projects_matrix and fit and s.plan_gpu_hours is not None:
        projected = s.plan_gpu_hours * row["s_per_video"] / fit
    return {"speedup": reference / row["s_per_video"] if reference else None,
            "speedup_against": w.reference if reference else None, "projected_matrix_gpu_hours": projected}


def readable(row: dict) -> str:
    """One printed line per row; '-' where a figure does not apply (or the row failed)."""
    def number(key: str, fmt: str, width: int) -> str:
        value = row.get(key)
        return f"{'-' if value is None else format(value, fmt):>{width}}"

    if "error" in row:
        return f"{row['row']:<22}ERROR {row['error']}"
    speedup = f"x{row['speedup']:.2f} vs {row['speedup_against']}" if row.get("speedup") else "-"
    line = (f"{row['row']:<22}{number('s_per_step', '.4f', 9)} s/step{number('frames_per_s', '.0f', 9)} frames/s"
            f"{number('tflops_per_s', '.2f', 8)} TFLOP/s  MFU{number('mfu', '.1%', 7)}  peak GiB"
            f"{number('peak_gib', '.1f', 6)}  {speedup:<28} matrix GPU-h"
            f"{number('projected_matrix_gpu_hours', '.0f', 5)}")
    if "compile_s" in row:
        line += f"  compile {row['compile_s']:.1f} s, {row.get('graph_breaks', '?')} graph breaks"
    if "generated_tokens_mean" in row:
        line += f"  {row['s_per_video']:.4f} s/example, {row['generated_tokens_mean']:.0f} tokens"
    if "cpu_s_per_step" in row:
        line += f"  CPU decode {row['cpu_s_per_step']:.3f} s/step"
    return line


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="gpu_levers.jsonl", help="JSON lines, one row appended per configuration")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny model on 4 frames of 32x32, 1 warm-up + 1 timed step per row "
                             "(checks the script on a CPU)")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS), metavar="NAME",
                        help=f"rows to measure (default all: {' '.join(ROWS)})")
    parser.add_argument("--steps", type=int, help="timed steps per row (default 10; --tiny 1)")
    parser.add_argument("--warmup", type=int,
                        help="untimed steps before them, the first counting FLOPs (default 3; --tiny 1)")
    parser.add_argument("--decode-steps", type=int,
                        help="timed generate calls of the decode rows (default 3; --tiny 1)")
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--mean-frames", type=int, default=116,
                        help="frames per video (PHOENIX-2014T's mean, assumed)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100/H200 dense bf16")
    parser.add_argument("--plan-gpu-hours", type=float,
                        help="GPU-hours of the whole paper matrix (default: docs/measurements.yaml's paper.cost)")
    parser.add_argument("--compile-backend",
                        help="torch.compile backend of the compiled row (default: inductor on CUDA; eager on a CPU, "
                             "only Dynamo's tracing: fit compiles on CUDA only, and inductor takes minutes on a CPU)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    return parser.parse_args(argv)


def make_setting(args: argparse.Namespace) -> Setting:
    tree = config.load(args.params, "paper")
    cfg = config.variant_config(tree, VARIANT)
    if args.plan_gpu_hours is not None:
        plan_hours, plan_source = args.plan_gpu_hours, "--plan-gpu-hours"
    else:
        plan_hours, plan_source = plan_gpu_hours_from(REPO / "docs" / "measurements.yaml")
    paper_scale()  # loaded now: a broken paper_scale.py fails before any row
    sizes = dict(TINY_SIZES) if args.tiny else {
        "batch_size": cfg["train"]["stage2"]["batch_size"], "frames": args.mean_frames,
        "crop": cfg["train"]["crop_size"],
        "frame_size": tuple(tree["data"]["frame_size"]), "question_tokens": 16, "text_tokens": 24, "vocab": 3000,
        "max_new_tokens": cfg["eval"]["max_new_tokens"]}
    default_steps, default_warmup, default_decode = (1, 1, 1) if args.tiny else (10, 3, 3)
    return Setting(device=torch.device(args.device), tiny=args.tiny, cfg=cfg,
                   jpeg_quality=tree["data"]["frame_store"]["quality"], num_beams=cfg["eval"]["num_beams"],
                   steps=args.steps or default_steps,
                   warmup=args.warmup if args.warmup is not None else default_warmup,
                   decode_steps=args.decode_steps or default_decode, peak_tflops=args.peak_tflops,
                   plan_gpu_hours=plan_hours, plan_source=plan_source,
                   compile_backend=args.compile_backend or ("inductor" if args.device == "cuda" else "eager"),
                   model_overrides=dict(TINY_MODEL) if args.tiny else {}, **sizes)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (--device cpu --tiny checks the script)")
    if args.threads:
        torch.set_num_threads(args.threads)
    s = make_setting(args)
    stamp = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "device": device_name(s.device), "torch": torch.__version__, "tiny": s.tiny,
             "train_batch_size": s.batch_size, "frames_per_video": s.frames, "crop": s.crop,
             "plan_gpu_hours": s.plan_gpu_hours, "plan_source": s.plan_source}
    print(f"GPU-cost levers of the paper profile's {OBJECTIVE} step ({VARIANT}): {stamp['device']}, torch "
          f"{stamp['torch']}; batch {s.batch_size} x {s.frames} frames at {s.crop}x{s.crop}"
          f"{' (tiny model)' if s.tiny else ''}; {s.steps} timed step(s) after {max(s.warmup, 1)}; plan "
          f"{s.plan_gpu_hours} GPU-h ({s.plan_source}); rows -> {args.out}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    rows = [name for name in ROWS if name in args.rows]
    with out.open("a", encoding="utf-8") as sink:
        for name in rows:
            row = {**measure(name, s, done), **stamp}
            done[name] = row
            # One line, flushed now: a run cut short by its time limit keeps the rows done.
            sink.write(json.dumps(row, default=str) + "\n")
            sink.flush()
            print(readable(row), flush=True)
    return list(done.values())


if __name__ == "__main__":
    main()
