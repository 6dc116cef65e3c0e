"""Paper-profile model at its real size: parameters, training-step memory and FLOPs, a 24 GB batch size.

Builds the model of ``overrides.paper`` (ImageNet-sized ResNet-18 trained on 224x224 crops,
mBART-large-sized encoder/decoder, random init: nothing is downloaded) and runs real training
steps (forward, backward, AdamW) on synthetic frames, on whatever device is given. It prints:

* tensor memory at the peak of a steady-state step (the second one, when AdamW's states exist),
  from PyTorch's ``MemTracker`` (every tensor storage, by kind; no allocator slack, no CUDA
  context), per precision and per frames in the batch; on CUDA also ``max_memory_allocated``;
* the fit peak = fixed + per_frame x frames (the CNN's activations grow with the frames of a
  batch) and the largest batch of ``--max-frames``-frame videos under ``--card-gib`` minus
  ``--reserve-gib`` (CUDA context, cuDNN workspaces, allocator slack);
* FLOPs per training step (``torch.utils.flop_counter``) and the FLOPs of one epoch of
  ``--train-videos`` videos of ``--mean-frames`` frames; the epoch time at ``--assumed-mfu`` of
  ``--peak-tflops`` is an estimate and printed as one;
* seconds per step on this device (on a CPU only a sanity figure); with ``--throughput-steps N``
  also the mean of N untracked steps of a full paper batch (stage 1: 16, stage 2: 8 videos of
  ``--mean-frames`` frames) per objective and precision: the achieved FLOP rate and the epoch time;
* seconds to assemble one training batch of raw frames (memmap read, crop, augmentation).

``--flops-only`` counts only the FLOPs of one training step (forward + backward, no optimizer, no
memory tracking) per variant and objective at each ``--frames``, and prints (``--json``: writes) the
FLOPs per frame and per video and the parameter count: the constants of ``qbslt plan``
(``src/qbslt/reports/plan_figures.yaml``). FLOP counts do not depend on the device; on a CPU this
takes about a minute per variant and objective with ``--frames 8 16``.

    python benchmarks/paper_scale.py --precisions fp32     # CPU: fp32, 32 and 128 frames
    python benchmarks/paper_scale.py --precisions bf16 --frames 8 32   # CPU bf16 is emulated: slow
    python benchmarks/paper_scale.py --device cuda --precisions bf16 fp32 --frames 300 600 --throughput-steps 10
    python benchmarks/paper_scale.py --flops-only --frames 8 16 --objectives translation \
        --variant ssl_ssaw sign_only ... --json flops.json    # qbslt plan's FLOP constants
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch
from torch.distributed._tools.mem_tracker import MemTracker
from torch.utils.flop_counter import FlopCounterMode

from qbslt import config
from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
from qbslt.training.augment import VideoAugment
from qbslt.training.batches import Collator, ExampleSet
from qbslt.ssl_ssaw.run import model_config

GIB = 2**30
# bert-base-multilingual-cased's vocabulary (119,547 tokens) plus the added <q> separator: the text
# vocabulary of the mBERT variants (mBART's is trimmed, --vocab).
MBERT_VOCAB = 119_548


class StandInVocabulary:
    """What ``model_config`` reads from a tokenizer, for a trimmed vocabulary of ``size`` tokens."""

    pad_token_id, bos_token_id, eos_token_id, unk_token_id, mask_token_id = 1, 0, 2, 3, 4

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.size - 1  # the added <q> separator


def synthetic_batch(batch_size: int, frames: int, crop: int, question_tokens: int, text_tokens: int,
                    vocab: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)

    def ids(length: int) -> torch.Tensor:
        return torch.randint(5, vocab - 1, (batch_size, length), generator=g)

    ones = lambda length: torch.ones(batch_size, length, dtype=torch.bool)  # noqa: E731
    text = ids(text_tokens)
    batch = {"video": torch.randint(0, 256, (batch_size, frames, crop, crop, 3), generator=g, dtype=torch.uint8),
             "video_mask": ones(frames), "question_ids": ids(question_tokens), "question_mask": ones(question_tokens),
             "question_dec_ids": ids(question_tokens), "question_dec_mask": ones(question_tokens),
             "text_ids": text, "text_mask": ones(text_tokens), "labels": text.clone(),
             "masked_text_ids": torch.where(torch.rand(text.shape, generator=g) < 0.25, 4, text)}
    return {k: v.to(device) for k, v in batch.items()}


def measure_loader(tree: dict, cfg: dict, batch_size: int, frames: int, repeats: int = 3) -> float:
    """Seconds to plan and assemble one training batch of raw frames in one process (memmap read,
    crop, augmentation draws; the colour change itself runs in the model, on the device)."""
    height, width = tree["data"]["frame_size"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.npy"
        store = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(batch_size * frames, height, width, 3))
        store[:] = np.random.default_rng(0).integers(0, 256, store.shape, dtype=np.uint8)
        store.flush()
        del store
        n = batch_size
        data = ExampleSet(names=[str(i) for i in range(n)], questions=[""] * n, translations=[""] * n,
                          store=np.load(path, mmap_mode="r"),
                          frame_rows=[np.arange(i * frames, (i + 1) * frames) for i in range(n)],
                          question_ids=[[5]] * n, question_dec_ids=[[5]] * n, text_ids=[[5, 2]] * n,
                          label_ids=[[5, 2]] * n)
        collator = Collator(data, text_pad_id=1, decoder_pad_id=1, mask_id=4, eos_id=2, mask_prob=0.25,
                            augment=VideoAugment.from_config(cfg["train"]), training=True)
        generator = torch.Generator().manual_seed(0)
        collator(list(range(n)), generator)  # warm the page cache: the figure is decoding-free CPU work
        start = time.perf_counter()
        for _ in range(repeats):
            collator(list(range(n)), generator)
        return (time.perf_counter() - start) / repeats


def training_step(model: QBSLTModel, batch: dict, objective: str, precision: str, device: torch.device):
    """(one training step: forward, backward, AdamW update, as a function; its optimizer)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step() -> None:
        with amp:
            loss = model(batch, objective)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, optimizer


def measure(model: QBSLTModel, batch: dict, objective: str, precision: str, device: torch.device) -> dict:
    """Two training steps; memory and time of the second (steady state), FLOPs of one."""
    step, optimizer = training_step(model, batch, objective, precision, device)
    with FlopCounterMode(display=False) as flops:
        step()  # also creates AdamW's states
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    tracker = MemTracker()
    tracker.track_external(model, optimizer)
    start = time.perf_counter()
    with tracker:
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = next(iter(tracker.get_tracker_snapshot("peak").values()))
    result = {"peak": peak["Total"], "by_kind": {str(k.value if hasattr(k, "value") else k): v for k, v in peak.items()
                                                   if k != "Total"},
              "flops": flops.get_total_flops(), "seconds": seconds}
    if device.type == "cuda":
        result["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
    del optimizer
    return result


def measure_throughput(model: QBSLTModel, batch: dict, objective: str, precision: str, device: torch.device,
                       steps: int) -> dict:
    """Seconds per training step (forward, backward, AdamW) over ``steps`` untracked steps after two warm-ups,
    and the FLOPs of one step: the achieved FLOP rate, with no memory tracker or FLOP counter running."""
    step, optimizer = training_step(model, batch, objective, precision, device)
    with FlopCounterMode(display=False) as flops:
        step()
    step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = (time.perf_counter() - start) / steps
    del optimizer
    return {"seconds": seconds, "flops": flops.get_total_flops()}


def count_flops(model: QBSLTModel, batch: dict, objective: str) -> int:
    """FLOPs of one training step's forward and backward pass (``torch.utils.flop_counter``)."""
    with FlopCounterMode(display=False) as flops:
        model(batch, objective)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return flops.get_total_flops()


def flops_only(args, tree: dict) -> None:
    """FLOPs per frame and per video of each variant and objective (the constants of ``qbslt plan``)."""
    device = torch.device(args.device)
    keys = ("backbone", "text_model", "alignment", "fusion", "inputs", "ssl")
    print(f"FLOPs of one training step (forward + backward), batch of 1 video; question {args.question_tokens} "
          f"tokens, text {args.text_tokens}, vocabulary {args.vocab} (mBERT text side: {MBERT_VOCAB}); fitted "
          f"per video + per frame x frames over --frames {' '.join(map(str, args.frames))}")
    print(f"{'variant':<28}{'objective':<13}{'params':>14}{'GFLOP/frame':>13}{'GFLOP/video':>13}")
    rows = []
    for variant in args.variant:
        cfg = config.variant_config(tree, variant)
        decoder_vocab = StandInVocabulary(args.vocab)
        text_vocab = StandInVocabulary(MBERT_VOCAB if cfg["model"]["text_model"] == "mbert" else args.vocab)
        for objective in args.objectives:
            # Stage 1 builds its model from the stage-1 config (no fusion, inputs, ssl), as qbslt pretrain does.
            run_cfg = config.stage1_config(cfg) if objective == "pretrain" else cfg
            model_cfg = model_config(run_cfg, decoder_vocab, text_vocab, mbart_path=None, bert_path=None,
                                     mbart_revision=None, bert_revision=None, backbone_pretrained=False)
            torch.manual_seed(0)
            model = QBSLTModel(model_cfg).to(device).train()
            n_params = sum(p.numel() for p in model.parameters())
            counts = {}
            for frames in args.frames:
                batch = synthetic_batch(1, frames, cfg["train"]["crop_size"], args.question_tokens, args.text_tokens,
                                        args.vocab, device)
                counts[frames] = count_flops(model, batch, objective)
            (f0, c0), (f1, c1) = list(counts.items())[0], list(counts.items())[-1]
            per_frame = (c1 - c0) / (f1 - f0)
            per_video = c0 - per_frame * f0
            rows.append({"variant": variant, "objective": objective, **{k: cfg["model"][k] for k in keys},
                         "params": n_params, "flops_per_frame": per_frame, "flops_per_video": per_video,
                         "flops": {str(f): c for f, c in counts.items()}})
            print(f"{variant:<28}{objective:<13}{n_params:>14,}{per_frame / 1e9:>13.3f}{per_video / 1e9:>13.3f}")
            del model
    if args.json:
        Path(args.json).write_text(json.dumps({
            "question_tokens": args.question_tokens, "text_tokens": args.text_tokens, "vocab": args.vocab,
            "mbert_vocab": MBERT_VOCAB, "frames": args.frames, "torch": torch.__version__, "rows": rows},
            indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", default="paper", help="profile of --params (a trained backbone)")
    parser.add_argument("--variant", nargs="+", default=["ssl_ssaw"],
                        help="variant(s) of params.yaml (all but --flops-only: the first)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--objectives", nargs="+", default=["pretrain", "translation"],
                        choices=["pretrain", "translation"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--frames", type=int, nargs="+", default=[32, 128],
                        help="frames per batch to measure (batch 1 of that many frames; two or more for the fit)")
    parser.add_argument("--vocab", type=int, default=3000, help="trimmed vocabulary size (assumed)")
    parser.add_argument("--question-tokens", type=int, default=16)
    parser.add_argument("--text-tokens", type=int, default=24)
    parser.add_argument("--card-gib", type=float, default=24.0)
    parser.add_argument("--reserve-gib", type=float, default=3.0)
    parser.add_argument("--train-videos", type=int, default=7096, help="PHOENIX-2014T-QA train")
    parser.add_argument("--mean-frames", type=float, default=116.0, help="assumed mean frames per video")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM dense bf16")
    parser.add_argument("--assumed-mfu", type=float, default=0.3)
    parser.add_argument("--throughput-steps", type=int, default=0,
                        help="also time this many steps of a full batch (train.stageN.batch_size videos of "
                             "--mean-frames frames), per objective and precision: the measured epoch time")
    parser.add_argument("--loader-only", action="store_true", help="only time the batch assembly")
    parser.add_argument("--flops-only", action="store_true",
                        help="only count FLOPs per frame and per video of each --variant and --objectives")
    parser.add_argument("--json", help="--flops-only: also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    tree = config.load(args.params, args.profile)
    if args.flops_only:
        flops_only(args, tree)
        return
    variant = args.variant[0]
    cfg = config.variant_config(tree, variant)
    frame_height, frame_width = tree["data"]["frame_size"]
    batch_size = cfg["train"]["stage2"]["batch_size"]
    frames = round(args.mean_frames)
    seconds = measure_loader(tree, cfg, batch_size, frames)
    print(f"input pipeline: one training batch ({batch_size} videos x {frames} frames at "
          f"{frame_height}x{frame_width}, read from a memmap in page cache, cropped) {seconds:.2f} s in one process; "
          f"{args.train_videos / batch_size * seconds / 60:.1f} min per epoch, divided among train.workers "
          f"({cfg['train']['workers']}) loader processes")
    if args.loader_only:
        return
    vocab = StandInVocabulary(args.vocab)
    model_cfg = model_config(cfg, vocab, vocab, mbart_path=None, bert_path=None, mbart_revision=None, bert_revision=None,
                             backbone_pretrained=False)
    torch.manual_seed(0)
    model = QBSLTModel(model_cfg).to(device).train()
    crop = cfg["train"]["crop_size"]
    n_params = sum(p.numel() for p in model.parameters())
    print(f"paper profile, variant {variant}: {n_params:,} parameters (vocabulary {args.vocab}, assumed), "
          f"frames {crop}x{crop}, device {device}, {args.threads} thread(s)")
    print(f"{'objective':<12}{'prec':<6}{'frames':>7}{'peak GiB':>10}{'params':>8}{'grads':>7}{'optim':>7}"
          f"{'activ':>7}{'temp':>7}{'GFLOP':>9}{'s/step':>8}")
    for objective in args.objectives:
        for precision in args.precisions:
            points = []
            for frames in args.frames:
                batch = synthetic_batch(1, frames, crop, args.question_tokens, args.text_tokens, args.vocab, device)
                r = measure(model, batch, objective, precision, device)
                points.append((frames, r))
                k = {name: v / GIB for name, v in r["by_kind"].items()}
                print(f"{objective:<12}{precision:<6}{frames:>7}{r['peak'] / GIB:>10.2f}{k.get('Parameter', 0):>8.2f}"
                      f"{k.get('Gradient', 0):>7.2f}{k.get('Optstate', 0):>7.2f}{k.get('Activation', 0):>7.2f}"
                      f"{k.get('Temp', 0):>7.2f}{r['flops'] / 1e9:>9.0f}{r['seconds']:>8.1f}"
                      + (f"  cuda max allocated {r['cuda_max_allocated'] / GIB:.2f} GiB" if "cuda_max_allocated" in r else ""))
            (f0, r0), (f1, r1) = points[0], points[-1]
            per_frame = (r1["peak"] - r0["peak"]) / (f1 - f0)
            fixed = r0["peak"] - per_frame * f0
            budget = (args.card_gib - args.reserve_gib) * GIB
            max_frames = cfg["train"]["max_frames"]
            fits = int((budget - fixed) // (per_frame * max_frames)) if per_frame > 0 else 0
            flops_per_frame = (r1["flops"] - r0["flops"]) / (f1 - f0)
            epoch_flops = args.train_videos * (r0["flops"] - flops_per_frame * f0 + flops_per_frame * args.mean_frames)
            hours = epoch_flops / (args.peak_tflops * 1e12 * args.assumed_mfu) / 3600
            store_bytes = args.train_videos * args.mean_frames * frame_height * frame_width * 3
            print(f"  fit: peak = {fixed / GIB:.2f} GiB + {per_frame / 2**20:.1f} MiB x frames in the batch; "
                  f"batch of {max_frames}-frame videos within {args.card_gib:g} - {args.reserve_gib:g} GiB: {fits}; "
                  f"{flops_per_frame / 1e9:.1f} GFLOP per frame; one epoch ({args.train_videos} videos x "
                  f"{args.mean_frames:g} frames) {epoch_flops / 1e15:.2f} PFLOP = {hours * 60:.1f} min "
                  f"at {args.assumed_mfu:.0%} of {args.peak_tflops:g} TFLOP/s (estimate, a compute lower bound), "
                  f"reading {store_bytes / 1e9:.0f} GB of frame store")
            if args.throughput_steps:
                stage = "stage1" if objective == "pretrain" else "stage2"
                videos = cfg["train"][stage]["batch_size"]
                frames = round(args.mean_frames)
                batch = synthetic_batch(videos, frames, crop, args.question_tokens, args.text_tokens, args.vocab, device)
                t = measure_throughput(model, batch, objective, precision, device, args.throughput_steps)
                rate = t["flops"] / t["seconds"]
                epoch_minutes = args.train_videos / videos * t["seconds"] / 60
                print(f"  measured: batch of {videos} videos x {frames} frames, {t['seconds']:.3f} s/step "
                      f"(mean of {args.throughput_steps}), {t['flops'] / 1e12:.2f} TFLOP/step, "
                      f"{rate / 1e12:.1f} TFLOP/s = {rate / (args.peak_tflops * 1e12):.1%} of {args.peak_tflops:g}; "
                      f"one epoch of {args.train_videos} videos {epoch_minutes:.1f} min of compute (loader not counted)")
                del batch


if __name__ == "__main__":
    main()
