"""Data (:mod:`qbslt.data`): annotations, generated / real raw data, frame and keypoint stores,
examples."""

from __future__ import annotations

import argparse

import json
from pathlib import Path

from qbslt.cli.common import add_cfg, log, subtree
from qbslt.settings import decode_settings
from qbslt.data.datasets import DATASETS


def cmd_check_annotations(args) -> int:
    from qbslt.data.check import check_files

    summary = check_files(args.dataset, [Path(p) for p in args.files])
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def cmd_generate(args) -> int:
    from qbslt.data.synth.generate import generate_dataset

    data_cfg = subtree(args, "data")
    generate_dataset(args.dataset, Path(args.out), data_cfg["synthetic"], tuple(data_cfg["frame_size"]),
                     threads=args.threads, progress=not args.no_progress)
    return 0


def cmd_realtext_data(args) -> int:
    from qbslt.data.realtext import prepare_realtext

    prepare_realtext(args.dataset, subtree(args, "data"), Path(args.out), threads=args.threads,
                     progress=not args.no_progress)
    return 0


def cmd_fetch(args) -> int:
    from qbslt.data.fetch import fetch_dataset

    fetch_dataset(args.dataset, subtree(args, "data", "sources"), Path(args.out), progress=not args.no_progress)
    return 0


def cmd_extract_frames(args) -> int:
    from qbslt.data.frame_store import write_store
    from qbslt.data.sources import RawDataset

    raw = RawDataset.from_manifest(args.manifest)
    size = tuple(subtree(args, "data", "frame_size")) if not args.size else tuple(args.size)
    index = write_store(raw.video_sources(args.split), Path(args.out_store), Path(args.out_index), size,
                        threads=args.threads, progress=not args.no_progress, desc=f"{raw.dataset}/{args.split}",
                        quality=args.quality)
    log.info("%s/%s: %d videos, %d frames at %dx%d", raw.dataset, args.split, len(index),
             int(index["length"].sum()), *size)
    return 0


def cmd_keypoints(args) -> int:
    from qbslt.data import keypoints

    if args.extractor == "renderer":
        meta = keypoints.assemble_rendered(Path(args.index), Path(args.out))
    else:
        if not args.frame_store:
            raise keypoints.KeypointError("--extractor mediapipe reads the frames: give --frame-store")
        # --cfg: data.keypoints as JSON; by hand: that key of --params (absent: the defaults)
        from qbslt.data.settings import KeypointSettings

        block = decode_settings(args.cfg) if args.cfg else subtree(args, "data").get("keypoints")
        settings = KeypointSettings.from_dict(block, "data.keypoints").to_dict() if block else {}
        meta = keypoints.extract_mediapipe(Path(args.frame_store), Path(args.index), Path(args.out), settings,
                                           threads=args.threads, progress=not args.no_progress)
    found = keypoints.open_keypoint_store(args.out).mask.any(axis=0)
    log.info("%s: %d frames of %d videos (%s); joints ever found: %d of %d", args.out, meta["frames"],
             meta["videos"], meta["extractor"], int(found.sum()), keypoints.NUM_JOINTS)
    return 0


def cmd_join(args) -> int:
    from qbslt.data.frame_store import read_index
    from qbslt.data.join import join_split, write_examples, write_report
    from qbslt.data.sources import RawDataset

    raw = RawDataset.from_manifest(args.manifest)
    report = {"dataset": raw.dataset, "splits": {}}
    for split in ("train", "dev", "test"):
        table, entry = join_split(raw, split, read_index(Path(args.frames_dir) / f"{split}.index.tsv"))
        write_examples(table, Path(args.out_dir) / f"{split}.tsv")
        report["splits"][split] = entry
        log.info("%s/%s: %d annotated, %d kept, %d dropped", raw.dataset, split, entry["annotated"],
                 entry["kept"], entry["dropped"])
    write_report(raw.dataset, report, Path(args.report_json), Path(args.report_md))
    return 0


def cmd_data_stats(args) -> int:
    from qbslt.data import stats

    if args.from_params:
        table = stats.compute(args.real, synthetic_cfg=subtree(args, "data", "synthetic"), datasets=args.datasets)
    else:
        table = stats.compute(args.real, embedded_dir=args.embedded, datasets=args.datasets)
    text = stats.markdown(table)
    print(text)
    if args.markdown:
        stats.atomic_write_text(Path(args.markdown), text)
    if args.doc:
        stats.update_doc(Path(args.doc), text)
        log.info("updated the data-stats block of %s", args.doc)
    return 0


DATA_STATS_EXAMPLE = """example:
  qbslt data-stats --from-params                 # real annotations vs params.yaml's generator (no video)
  qbslt data-stats --embedded data/embedded/raw  # real annotations vs the generated data"""


def register(sub) -> None:
    p = sub.add_parser("check-annotations", help="parse annotation files, print a JSON summary")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_check_annotations)

    # The three commands that write a dataset folder share their arguments.
    for name, help_text, datasets, threads, func in (
            ("generate", "generate an embedded synthetic dataset in the official layout", list(DATASETS), True,
             cmd_generate),
            ("realtext-data", "real PHOENIX-2014T-QA texts + video rendered from their glosses", ["phoenix"], True,
             cmd_realtext_data),
            ("fetch", "download / locate a real dataset and its QA files (paper profile)", list(DATASETS), False,
             cmd_fetch)):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--dataset", required=True, choices=datasets)
        p.add_argument("--out", required=True)
        if threads:
            p.add_argument("--threads", type=int, default=1)
        p.add_argument("--no-progress", action="store_true")
        add_cfg(p)
        p.set_defaults(func=func)

    p = sub.add_parser("extract-frames", help="decode one split's frames into a frame store (raw or compressed)")
    p.add_argument("--manifest", required=True)
    p.add_argument("--split", required=True, choices=["train", "dev", "test"])
    p.add_argument("--out-store", "--out-npy", dest="out_store", required=True,
                   help="<split>.npy: raw uint8 memory map; <split>.jpgs: compressed (JPEG)")
    p.add_argument("--quality", type=int, help="JPEG quality of a compressed store (default 90)")
    p.add_argument("--out-index", required=True)
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    add_cfg(p)
    p.set_defaults(func=cmd_extract_frames)

    p = sub.add_parser("keypoints", help="keypoint store of one split: rendered positions or MediaPipe Holistic")
    p.add_argument("--index", required=True, help="the frame index (<split>.index.tsv) the rows follow")
    p.add_argument("--frame-store", help="the frame store (mediapipe reads its frames)")
    p.add_argument("--out", required=True, help="<split>.npy (also writes <split>.mask.npy and <split>.json)")
    p.add_argument("--extractor", required=True, choices=["renderer", "mediapipe"],
                   help="renderer: the generator's keypoints.npy per video; mediapipe: Holistic on every frame")
    p.add_argument("--threads", type=int, default=1, help="mediapipe: worker processes")
    p.add_argument("--no-progress", action="store_true")
    add_cfg(p)  # --cfg: data.keypoints
    p.set_defaults(func=cmd_keypoints)

    p = sub.add_parser("join", help="join QA annotations, corpus and frames into example tables + report")
    p.add_argument("--manifest", required=True)
    p.add_argument("--frames-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--report-json", required=True)
    p.add_argument("--report-md", required=True)
    p.set_defaults(func=cmd_join)

    p = sub.add_parser("data-stats", help="statistics of the real and the embedded annotations, side by side (markdown)",
                       epilog=DATA_STATS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", default="../shared/data",
                   help="folder of the real files (phoenix-2014t-qa/, csl-daily-qa/; default ../shared/data)")
    p.add_argument("--embedded", default="data/embedded/raw",
                   help="generated embedded data: a folder of <dataset>/ trees (default data/embedded/raw)")
    p.add_argument("--from-params", action="store_true",
                   help="instead of --embedded, sample the generator of params.yaml's data.synthetic (no video)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--doc", help="replace the data-stats block of this markdown file (docs/embedded-data.md)")
    add_cfg(p)
    p.set_defaults(func=cmd_data_stats)
