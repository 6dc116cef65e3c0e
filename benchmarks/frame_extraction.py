"""Frame extraction throughput: frames/s of `write_store` next to the bare PIL decode rate.

    python benchmarks/frame_extraction.py [--manifest data/embedded/raw/phoenix/manifest.json]
                                          [--split train] [--size 40 32] [--threads 1 2]

Reads the frame folders of a prepared raw dataset (default: the embedded PHOENIX one that
`snakemake prepare` generates), so it measures the same files the pipeline extracts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from PIL import Image

from qbslt.data.frames import list_frame_files
from qbslt.data.frame_store import write_store
from qbslt.data.sources import RawDataset


def bare_pil_rate(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            image.convert("RGB").load()
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default="data/embedded/raw/phoenix/manifest.json")
    parser.add_argument("--split", default="train")
    parser.add_argument("--size", type=int, nargs=2, default=(40, 32))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    raw = RawDataset.from_manifest(args.manifest)
    sources = raw.video_sources(args.split)
    files = [f for s in sources for f in list_frame_files(s.path)]
    print(f"{raw.dataset}/{args.split}: {len(sources)} videos, {len(files)} frame files")
    bare_pil_rate(files[:200])  # warm the page cache so both measurements read from memory
    print(f"bare PIL decode (1 thread):        {bare_pil_rate(files):10.0f} frames/s")
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            start = time.perf_counter()
            write_store(sources, Path(tmp) / "s.npy", Path(tmp) / "s.index.tsv", tuple(args.size),
                        threads=threads, progress=False)
            rate = len(files) / (time.perf_counter() - start)
            print(f"write_store ({threads} thread{'s' if threads > 1 else ''}, {args.size[0]}x{args.size[1]}): "
                  f"{rate:10.0f} frames/s")


if __name__ == "__main__":
    main()
