"""Training throughput of one variant: samples/s, model FLOPs per step, and MFU against the
machine's measured fp32 matmul rate; then the wall time of one full stage-1 + stage-2 run.

    python benchmarks/training_throughput.py [--profile realtext] [--variant ssl_ssaw] [--dataset phoenix] [--steps 20]
        [--threads 1] [--batch-sizes 32 64 128] [--no-run]

``--batch-sizes``: the step time of each batch size (default: the profile's ``train.stage2.batch_size``),
each on seeded random batches of the training split; ``--no-run``: only the step times, not the full run.

Reads the prepared embedded data (run `snakemake --cores all prepare` and the variant's
tokenizer/features first, e.g. `snakemake --cores all results/embedded/metrics/phoenix/ssl_ssaw/seed0.json`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch
from torch.utils.flop_counter import FlopCounterMode

from qbslt import config
from qbslt.training.loop import to_device
from qbslt.training.augment import VideoAugment
from qbslt.ssl_ssaw.run import (RunInputs, gloss_tokenizer, load_split, make_collator, run_model_config,
                                 run_stage1, run_stage2)
from qbslt.training.tokenizer import load_tokenizer
from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel


def matmul_rate(n: int = 1024, repeats: int = 10) -> float:
    """Measured fp32 matmul FLOP/s of this machine (torch's thread setting)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


def prepared_run(tree: dict, variant: str, dataset: str):
    """``variant``'s settings, inputs, a fresh model, training split and training collator, from the prepared
    ``data/<profile>`` (the text reference systems with their gloss tokenizer, the skeleton variant with its
    keypoints), as a stage-2 run builds them."""
    cfg = config.variant_config(tree, variant)
    data, m = Path("data") / tree["profile"], cfg["model"]
    inputs = RunInputs(dataset, data / "examples" / dataset, data / "features" / dataset / m["backbone"],
                       data / "tokenizers" / dataset / "mbart", data / "tokenizers" / dataset / m["text_model"],
                       tuple(tree["data"]["frame_size"]), keypoints_dir=data / "keypoints" / dataset)
    decoder_tok, text_tok = load_tokenizer(inputs.decoder_tokenizer), load_tokenizer(inputs.text_tokenizer)
    gloss_tok = gloss_tokenizer(cfg, inputs)  # the text reference systems read glosses instead of video
    model = QBSLTModel(run_model_config(cfg, inputs, decoder_tok, text_tok, gloss_tok))
    train = load_split(inputs, "train", cfg, decoder_tok, text_tok, gloss_tok)
    collator = make_collator(train, decoder_tok, text_tok, augment=VideoAugment.from_config(cfg["train"]), training=True)
    return cfg, inputs, model, train, collator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", help="a profile of params.yaml (default: its profile key)")
    parser.add_argument("--variant", default="ssl_ssaw")
    parser.add_argument("--dataset", default="phoenix")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="step times of these batch sizes too")
    parser.add_argument("--no-run", action="store_true", help="skip the full stage-1 + stage-2 run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tree = config.load(args.params, profile=args.profile)
    cfg, inputs, model, train, collator = prepared_run(tree, args.variant, args.dataset)
    batch_size = cfg["train"]["stage2"]["batch_size"]
    batch = to_device(collator(list(range(batch_size)), torch.Generator().manual_seed(0)), torch.device("cpu"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    with FlopCounterMode(display=False) as counter:
        model.translation_losses(batch)["loss"].backward()
    flops_per_step = counter.get_total_flops()
    optimizer.zero_grad()

    start = time.perf_counter()
    for _ in range(args.steps):
        loss = model.translation_losses(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = (time.perf_counter() - start) / args.steps
    peak = matmul_rate()
    print(f"variant {args.variant} on {args.dataset}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"batch {batch_size}, {args.threads} thread(s)")
    print(f"training step:          {seconds * 1000:8.1f} ms  ({batch_size / seconds:8.1f} samples/s)")
    print(f"model FLOPs per step:   {flops_per_step / 1e9:8.3f} GFLOP (forward + backward)")
    print(f"achieved:               {flops_per_step / seconds / 1e9:8.2f} GFLOP/s")
    print(f"fp32 matmul rate:       {peak / 1e9:8.2f} GFLOP/s (1024x1024, measured)")
    print(f"MFU:                    {100 * flops_per_step / seconds / peak:8.1f} %")
    generator = torch.Generator().manual_seed(0)
    for size in args.batch_sizes or []:
        step_seconds = []
        for step in range(args.steps + 1):  # the first step of a new shape is a warm-up, not timed
            rows = torch.randperm(len(train), generator=generator)[:size].tolist()
            sized = to_device(collator(rows, generator), torch.device("cpu"))
            start = time.perf_counter()
            loss = model.translation_losses(sized)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step:
                step_seconds.append(time.perf_counter() - start)
        mean = sum(step_seconds) / len(step_seconds)
        print(f"batch {size:4d} (random rows): {mean * 1000:8.1f} ms a step, {size / mean:8.1f} samples/s")
    if args.no_run:
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        run_stage1(config.stage1_config(cfg), 0, inputs, tmp / "s1", tmp / "ck1")
        stage1 = time.perf_counter() - start
        out = {"metrics": tmp / "m.json", "predictions": tmp / "p.tsv", "dev_predictions": tmp / "p.dev.tsv",
               "ssaw": tmp / "w.json", "model": tmp / "model"}
        metrics = run_stage2(cfg, 0, inputs, tmp / "s1" / "model.safetensors", out, tmp / "ck2", args.variant)
        total = time.perf_counter() - start
    print(f"one full {args.variant} run: stage 1 {stage1:.1f} s + stage 2 {total - stage1:.1f} s = {total:.1f} s "
          f"(in-process, imports excluded); test BLEU-4 {metrics['test']['bleu4']}")


if __name__ == "__main__":
    main()
