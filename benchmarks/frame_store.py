"""Frame store formats: bytes per frame and decoded frames/s per core, on real photographs.

    python benchmarks/frame_store.py [--frames 300] [--sizes 210x260 256x256] [--qualities 90 75 95]
                                     [--device cuda]

For each frame size it builds, from the same frames, every way the training loader can read them:

* compressed store (``jpeg/<split>.jpgs``), JPEG at each ``--qualities`` (the first is
  ``data.frame_store.quality``'s default), from source frames of another size (resized, encoded);
* compressed store of PNG source frames already at the store's size (kept as they are: what
  PHOENIX's 210x260 PNGs give with ``data.frame_size: [210, 260]``);
* raw store (``<split>.npy``, uint8 memory map);
* PNG files read one by one with PIL (as GFSLT-VLP reads PHOENIX-2014T).

Frames are windows of matplotlib's sample photograph (grace_hopper.jpg, 512x600, a portrait like a
signer's upper body), rescaled so that a frame covers most of it and shifted by a few pixels per
frame, so no two frames are identical. Decoding runs in this one process with one thread (one
data-loader worker = one core), reading whole videos of ``--video-frames`` frames with
``FrameStore.read``, the page cache warm (every file is read once before the timing); the best of
``--repeats`` passes is reported. ``--device cuda`` adds batched nvJPEG decoding of the compressed
store on the GPU.

Last, the decode rates are compared with what a GPU training step consumes, as the README
estimates it (``--epoch-pflop`` at ``--mfu`` of ``--peak-tflops`` for ``--train-videos`` x
``--mean-frames`` frames), per data-loader worker (``--workers``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before torch is imported
import torch
from matplotlib import cbook
from PIL import Image

from qbslt.data.frame_store import open_frame_store
from qbslt.data.frames import VideoSource, list_frame_files
from qbslt.data.frame_store import write_store

warnings.filterwarnings("ignore", category=DeprecationWarning)


def photo_frames(folder: Path, count: int, size_hw: tuple[int, int], seed: int, video_frames: int) -> list[VideoSource]:
    """``count`` PNG frames of ``size_hw`` in folders of ``video_frames`` (one folder = one video)."""
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = Image.open(f).convert("RGB")
    h, w = size_hw
    scale = 1.15 * max(h / photo.height, w / photo.width)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
    rng = np.random.default_rng(seed)
    sources = []
    for i in range(count):
        if i % video_frames == 0:
            sources.append(VideoSource(f"video{len(sources)}", folder / f"video{len(sources)}"))
            sources[-1].path.mkdir(parents=True)
        x, y = rng.integers(0, photo.width - w + 1), rng.integers(0, photo.height - h + 1)
        photo.crop((x, y, x + w, y + h)).save(sources[-1].path / f"images{i:04d}.png")
    return sources


def best_rate(count: int, fn, repeats: int) -> float:
    fn()  # warm the page cache
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def store_rate(path: Path, video_frames: int, repeats: int, device: str | None = None) -> tuple[float, float]:
    """(bytes per frame, frames/s): the whole store read video by video."""
    store = open_frame_store(path, decode_device=device)
    chunks = [np.arange(s, min(s + video_frames, len(store))) for s in range(0, len(store), video_frames)]

    def read_all():
        for rows in chunks:
            store.read(rows)
        if device:
            torch.cuda.synchronize()

    return path.stat().st_size / len(store), best_rate(len(store), read_all, repeats)


def png_files_rate(files: list[Path], repeats: int) -> tuple[float, float]:
    def read_all():
        for f in files:
            with Image.open(f) as image:
                np.asarray(image.convert("RGB"))

    return float(np.mean([f.stat().st_size for f in files])), best_rate(len(files), read_all, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per size")
    parser.add_argument("--sizes", nargs="+", default=["210x260", "256x256"], help="HxW")
    parser.add_argument("--qualities", type=int, nargs="+", default=[90, 75, 95])
    parser.add_argument("--video-frames", type=int, default=116, help="frames per video (one read)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default=None, help="also decode the compressed store on this device (cuda)")
    parser.add_argument("--epoch-pflop", type=float, default=9.0,
                        help="README: measured FLOPs of one epoch (stage 2, benchmarks/paper_scale.py --flops-only)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM dense bf16")
    parser.add_argument("--mfu", type=float, default=0.3)
    parser.add_argument("--train-videos", type=int, default=7096)
    parser.add_argument("--mean-frames", type=float, default=116.0)
    parser.add_argument("--workers", type=int, default=6, help="train.workers of the paper profile")
    args = parser.parse_args()
    torch.set_num_threads(1)

    rows = []  # (size, format, bytes/frame, frames/s)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n, size in enumerate(args.sizes):
            h, w = map(int, size.split("x"))
            # Sources of another size: the store resizes and encodes (the real pipeline's path).
            larger = photo_frames(tmp / size / "larger", args.frames, (round(h * 1.25), round(w * 1.25)), n,
                                  args.video_frames)
            write_store(larger, tmp / size / "s.npy", tmp / size / "s.index.tsv", (h, w), progress=False)
            for q in args.qualities:
                path = tmp / size / f"q{q}" / "s.jpgs"
                write_store(larger, path, tmp / size / f"q{q}" / "s.index.tsv", (h, w), progress=False, quality=q)
                label = f"compressed, JPEG q={q}" + (" (default)" if q == 90 else "")
                rows.append((size, label, *store_rate(path, args.video_frames, args.repeats)))
                if args.device and q == 90:
                    rows.append((size, f"compressed, JPEG q={q}, decoded on {args.device} (nvJPEG)",
                                 *store_rate(path, args.video_frames, args.repeats, args.device)))
            rows.append((size, "raw memmap (.npy)", *store_rate(tmp / size / "s.npy", args.video_frames, args.repeats)))
            # PNG frames at the store's size, as PHOENIX ships its 210x260 frames.
            raw = open_frame_store(tmp / size / "s.npy")
            pngs = [VideoSource(s.name, tmp / size / "png" / s.name) for s in larger]
            row = 0
            for source, original in zip(pngs, larger):
                source.path.mkdir(parents=True)
                for f in list_frame_files(original.path):
                    Image.fromarray(raw[row]).save(source.path / f.name)
                    row += 1
            path = tmp / size / "png-kept" / "s.jpgs"
            write_store(pngs, path, tmp / size / "png-kept" / "s.index.tsv", (h, w), progress=False)
            rows.append((size, "compressed, source PNGs kept as they are",
                         *store_rate(path, args.video_frames, args.repeats)))
            files = [f for s in pngs for f in list_frame_files(s.path)]
            rows.append((size, "PNG files read one by one (PIL, GFSLT-VLP)", *png_files_rate(files, args.repeats)))

    print(f"{args.frames} frames per size (windows of grace_hopper.jpg), one process, one thread, page cache warm")
    print(f"{'size':<9}{'format':<58}{'bytes/frame':>12}{'frames/s':>10}")
    for size, label, nbytes, rate in rows:
        print(f"{size:<9}{label:<58}{nbytes:>12,.0f}{rate:>10,.0f}")

    epoch_frames = args.train_videos * args.mean_frames
    epoch_seconds = args.epoch_pflop * 1e15 / (args.peak_tflops * 1e12 * args.mfu)
    consumed = epoch_frames / epoch_seconds
    print(f"\nGPU consumption (README estimate: {args.epoch_pflop} PFLOP per epoch of {epoch_frames:,.0f} frames at "
          f"{args.mfu:.0%} of {args.peak_tflops:g} TFLOP/s = {epoch_seconds:.0f} s): {consumed:,.0f} frames/s, "
          f"{consumed / args.workers:,.0f} per worker with {args.workers} workers")
    for size, label, nbytes, rate in rows:
        if size == "256x256":
            print(f"  {label:<58} {rate / (consumed / args.workers):5.2f}x a worker's share; "
                  f"{consumed / rate:5.1f} cores to feed the GPU; reads {consumed * nbytes / 1e9:5.2f} GB/s")


if __name__ == "__main__":
    main()
