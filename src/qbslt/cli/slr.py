"""SL-SLR (:mod:`qbslt.slslr`): clips, runs and Table 10."""

from __future__ import annotations

from pathlib import Path

from qbslt.cli.common import add_cfg, log, subtree
from qbslt.profiles import PROFILE_NAMES
from qbslt.settings import decode_settings
from qbslt.data.datasets import DATASETS


def cmd_slslr_clips(args) -> int:
    from qbslt.slslr.clips import build_clip_index, write_clip_index

    from qbslt.slslr.configuration_slslr import CLIP_KEYS, ClipSettings

    block = subtree(args, "slslr")  # the step's --cfg, or the whole slslr section of --params
    cfg = ClipSettings.from_dict({k: block[k] for k in CLIP_KEYS if k in block}, "slslr")
    clips = build_clip_index(args.dataset, Path(args.manifest), Path(args.index), cfg.clip_margin,
                             cfg.test_signer_share)
    log.info("%s clips: %s", args.dataset, write_clip_index(clips, Path(args.out), Path(args.summary)))
    return 0


def cmd_slslr_isolated(args) -> int:
    from qbslt.data.frame_store import write_store
    from qbslt.slslr.clips import write_clip_index
    from qbslt.slslr.isolated import isolated_clip_index, read_isolated_index, video_sources

    root, index = Path(args.root), Path(args.root) / args.index
    videos = read_isolated_index(root, index)
    frame_index = write_store(video_sources(root, videos), Path(args.out_store), Path(args.out_index), args.size,
                              threads=args.threads, progress=not args.no_progress, desc=f"{args.name} frames",
                              quality=args.quality)
    clips = isolated_clip_index(args.name, videos, frame_index, args.test_signer_share, index)
    log.info("%s clips: %s", args.name, write_clip_index(clips, Path(args.clips), Path(args.summary)))
    return 0


def cmd_slslr_run(args) -> int:
    from qbslt.slslr.run import run_seed

    from qbslt.slslr.configuration_slslr import SlslrJobSettings

    job = SlslrJobSettings.from_dict(decode_settings(args.cfg), "--cfg")
    inputs = {d: {"clips": Path(c), "features": Path(f), "keypoints": Path(k)}
              for d, c, f, k in zip(args.datasets, args.clips, args.features, args.keypoints)}
    encoders = {(d, m): Path(p) for d, m, p in (spec.split(":", 2) for spec in args.encoder or [])}
    run_seed(job.slslr, job.encoder, inputs, args.seed, Path(args.out), encoders, job.threads)
    return 0


def cmd_slslr_table(args) -> int:
    from qbslt.reports.table10 import write_table10

    paths = write_table10([Path(p) for p in args.runs], Path(args.out), args.profile)
    log.info("wrote %s", ", ".join(map(str, paths)))
    return 0


def register(sub) -> None:
    p = sub.add_parser("slslr-clips", help="SL-SLR: isolated-sign clip index of a rendered dataset, split by signer")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--manifest", required=True, help="the dataset's raw manifest.json")
    p.add_argument("--index", required=True, help="frame index of the training split (<split>.index.tsv)")
    p.add_argument("--out", required=True, help="clips.tsv")
    p.add_argument("--summary", required=True, help="clips.json")
    add_cfg(p)
    p.set_defaults(func=cmd_slslr_clips)

    p = sub.add_parser("slslr-isolated", help="SL-SLR: frame store and clip index of an isolated-sign dataset")
    p.add_argument("--name", required=True, help="the dataset's key (slslr.isolated_dataset.name)")
    p.add_argument("--root", required=True)
    p.add_argument("--index", required=True, help="CSV of video, gloss, signer, relative to --root")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), required=True)
    p.add_argument("--out-store", required=True, help="train.npy (raw) or train.jpgs (compressed)")
    p.add_argument("--quality", type=int, help="JPEG quality of a compressed store (default 90)")
    p.add_argument("--out-index", required=True, help="the frame index, train.index.tsv")
    p.add_argument("--clips", required=True, help="clips.tsv")
    p.add_argument("--summary", required=True, help="clips.json")
    p.add_argument("--test-signer-share", type=float, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_slslr_isolated)

    p = sub.add_parser("slslr-run", help="SL-SLR: one seed of every method and protocol (Table 10)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--clips", nargs="+", required=True, help="clips.tsv per dataset")
    p.add_argument("--features", nargs="+", required=True, help="frame features of the training split per dataset")
    p.add_argument("--keypoints", nargs="+", required=True, help="keypoint store of the training split per dataset")
    p.add_argument("--encoder", nargs="*", metavar="DATASET:METHOD:PATH", help="save these encoders (stage 0)")
    p.add_argument("--out", required=True, help="results JSON")
    p.add_argument("--cfg", required=True, help='{"slslr": ..., "encoder": ..., "threads": N} as JSON')
    p.set_defaults(func=cmd_slslr_run)

    p = sub.add_parser("slslr-table", help="SL-SLR: Table 10 from the runs of every seed")
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--out", required=True, help="folder of table10.{md,csv,tex}")
    p.add_argument("--profile", choices=list(PROFILE_NAMES), default="embedded")
    p.set_defaults(func=cmd_slslr_table)
