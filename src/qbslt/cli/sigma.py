"""Sigma (:mod:`qbslt.sigma`): the runs and Table 9."""

from __future__ import annotations

from pathlib import Path

from qbslt.cli.common import log
from qbslt.profiles import PROFILE_NAMES
from qbslt.settings import decode_settings
from qbslt.data.datasets import DATASETS


def cmd_sigma(args) -> int:
    from qbslt.sigma.run import SigmaInputs, run_all

    cfg = decode_settings(args.cfg)
    inputs = SigmaInputs(args.dataset, Path(args.examples_dir), Path(args.keypoints_dir),
                         Path(args.frames_dir) if args.frames_dir else None, Path(args.tokenizer))
    run_all(cfg, args.dataset, args.seed, inputs, Path(args.out_dir), Path(args.checkpoint_dir))
    return 0


def cmd_sigma_table9(args) -> int:
    from qbslt.reports.table9 import write_table9

    paths = write_table9(args.sigma_metrics, args.rgb_metrics or [], args.variants, args.datasets, Path(args.out),
                         args.profile)
    log.info("wrote %s", ", ".join(map(str, paths)))
    return 0


def register(sub) -> None:
    p = sub.add_parser("sigma", help="Sigma: pre-training + gloss-free translation of every variant, one dataset and seed")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--examples-dir", required=True, help="folder of <split>.tsv example tables")
    p.add_argument("--keypoints-dir", required=True, help="folder of the <split>.npy keypoint stores")
    p.add_argument("--frames-dir", help="folder of the <split>.index.tsv frame indexes the stores must follow")
    p.add_argument("--tokenizer", required=True, help="the dataset's mBART tokenizer folder")
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--out-dir", required=True, help="writes metrics/ and predictions/ <dataset>/<variant>/seed<k> here")
    p.add_argument("--cfg", required=True,
                   help='JSON: {"variants": {name: settings}, "data": {...}, "eval": {...}, "device": ..., "threads": ..., '
                        '"deterministic": ...}')
    p.set_defaults(func=cmd_sigma)

    p = sub.add_parser("sigma-table9", help="render Table 9 (Sigma variants, SSL-SSAW context rows)")
    p.add_argument("--sigma-metrics", nargs="+", required=True, metavar="FILE")
    p.add_argument("--rgb-metrics", nargs="*", metavar="FILE", help="metrics of ssl_ssaw / ssl_ssaw_skeleton runs")
    p.add_argument("--variants", nargs="+", required=True, help="Sigma variants, in row order")
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--profile", choices=list(PROFILE_NAMES), default="embedded")
    p.add_argument("--out", default="results/embedded/tables")
    p.set_defaults(func=cmd_sigma_table9)
