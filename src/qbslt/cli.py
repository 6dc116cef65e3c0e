"""The ``qbslt`` command line. Each subcommand is a thin wrapper over one package function;
Snakemake rules call these, and so can a user.

Config: rules pass exactly the config subtree a step needs as JSON (``--cfg``), so Snakemake's
params rerun-trigger reruns only the steps whose settings changed. By hand, ``--params
params.yaml [--profile P]`` loads and validates the file instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from qbslt.config import PROFILES
from qbslt.data.datasets import DATASETS
from qbslt.errors import QbsltError

log = logging.getLogger("qbslt")


def _subtree(args, *keys: str) -> dict:
    """Config subtree for a step: ``--cfg`` JSON if given, else resolved ``--params`` at ``keys``."""
    if getattr(args, "cfg", None):
        return json.loads(args.cfg)
    from qbslt import config

    tree = config.load(args.params, getattr(args, "profile", None))
    for key in keys:
        tree = tree[key]
    return tree


def _add_cfg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", help="config subtree as JSON (what the Snakemake rules pass)")
    parser.add_argument("--params", default="params.yaml", help="params file when --cfg is not given")
    parser.add_argument("--profile", choices=list(PROFILES), help="override params.yaml's profile")


# --- data ----------------------------------------------------------------------------------

def cmd_validate_params(args) -> int:
    from qbslt import config

    tree = config.load(args.params, args.profile)
    print(f"{args.params}: valid (profile {tree['profile']})")
    return 0


def cmd_check_annotations(args) -> int:
    from qbslt.data.check import check_files

    summary = check_files(args.dataset, [Path(p) for p in args.files])
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def cmd_generate(args) -> int:
    from qbslt.data.synth.generate import generate_dataset

    data_cfg = _subtree(args, "data")
    generate_dataset(args.dataset, Path(args.out), data_cfg["synthetic"], tuple(data_cfg["frame_size"]),
                     threads=args.threads, progress=not args.no_progress)
    return 0


def cmd_realtext_data(args) -> int:
    from qbslt.data.realtext import prepare_realtext

    prepare_realtext(args.dataset, _subtree(args, "data"), Path(args.out), threads=args.threads,
                     progress=not args.no_progress)
    return 0


def cmd_fetch(args) -> int:
    from qbslt.data.fetch import fetch_dataset

    fetch_dataset(args.dataset, _subtree(args, "data", "sources"), Path(args.out), progress=not args.no_progress)
    return 0


def cmd_extract_frames(args) -> int:
    from qbslt.data.frames import write_store
    from qbslt.data.sources import RawDataset

    raw = RawDataset.from_manifest(args.manifest)
    size = tuple(_subtree(args, "data", "frame_size")) if not args.size else tuple(args.size)
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
        settings = json.loads(args.cfg) if args.cfg else _subtree(args, "data").get("keypoints") or {}
        meta = keypoints.extract_mediapipe(Path(args.frame_store), Path(args.index), Path(args.out), settings,
                                           threads=args.threads, progress=not args.no_progress)
    found = keypoints.open_keypoint_store(args.out).mask.any(axis=0)
    log.info("%s: %d frames of %d videos (%s); joints ever found: %d of %d", args.out, meta["frames"],
             meta["videos"], meta["extractor"], int(found.sum()), keypoints.NUM_JOINTS)
    return 0


def cmd_join(args) -> int:
    from qbslt.data.frames import read_index
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
        table = stats.compute(args.real, synthetic_cfg=_subtree(args, "data", "synthetic"), datasets=args.datasets)
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


# --- model ---------------------------------------------------------------------------------

def cmd_tokenizer(args) -> int:
    from qbslt.data.datasets import get_dataset
    from qbslt.training.tokenizer import SUBWORD_KINDS, build_tokenizer

    model = _subtree(args, "model")
    pretrained = model["mbart_path"] if args.text_model == "mbart" else model["bert_path"]
    trim_from = model["mbart_path"] if args.text_model == "mbart" and model["trim_vocab"] else None
    subword = (SUBWORD_KINDS[args.text_model], model["subword_vocab_size"]) if model["subword_vocab_size"] else None
    build_tokenizer(args.train_examples, get_dataset(args.dataset).eval_level, pretrained, Path(args.out), trim_from, subword)
    return 0


def cmd_features(args) -> int:
    from qbslt.training.features import write_features
    from qbslt.training.loop import resolve_device

    model = _subtree(args, "model")
    shape = write_features(Path(args.frames), Path(args.out), args.backbone, model["backbone_pretrained"],
                           device=str(resolve_device(args.device)), progress=not args.no_progress)
    log.info("%s features of %s: %s", args.backbone, args.frames, shape)
    return 0


def _run_inputs(args):
    from qbslt.training.runs import RunInputs

    return RunInputs(dataset=args.dataset, examples_dir=Path(args.examples_dir), features_dir=Path(args.features_dir),
                     decoder_tokenizer=Path(args.decoder_tokenizer), text_tokenizer=Path(args.text_tokenizer),
                     frame_size=tuple(args.frame_size) if args.frame_size else None,
                     keypoints_dir=Path(args.keypoints_dir) if getattr(args, "keypoints_dir", None) else None)


def cmd_pretrain(args) -> int:
    from qbslt.training.runs import run_stage1

    cfg = _variant_cfg(args)
    stage0 = cfg.pop("stage0_encoder", None)  # SL-SLR stage 0: the encoder file the rule adds to the job's config
    run_stage1(cfg, args.seed, _run_inputs(args), Path(args.out_dir), Path(args.checkpoint_dir),
               stage0=Path(stage0) if stage0 else None)
    return 0


def cmd_train(args) -> int:
    from qbslt.training.runs import run_stage2

    out = {"metrics": Path(args.metrics), "predictions": Path(args.predictions), "ssaw": Path(args.ssaw),
           "model": Path(args.model_dir)}
    run_stage2(_variant_cfg(args), args.seed, _run_inputs(args), Path(args.stage1) if args.stage1 else None, out,
               Path(args.checkpoint_dir), args.variant)
    return 0


def cmd_slslr_clips(args) -> int:
    from qbslt.slr.clips import build_clip_index, write_clip_index

    cfg = _subtree(args, "slslr")
    clips = build_clip_index(args.dataset, Path(args.manifest), Path(args.index), cfg["clip_margin"],
                             cfg["test_signer_share"])
    log.info("%s clips: %s", args.dataset, write_clip_index(clips, Path(args.out), Path(args.summary)))
    return 0


def cmd_slslr_isolated(args) -> int:
    from qbslt.data.frames import write_store
    from qbslt.slr.clips import write_clip_index
    from qbslt.slr.isolated import isolated_clip_index, read_isolated_index, video_sources

    root, index = Path(args.root), Path(args.root) / args.index
    videos = read_isolated_index(root, index)
    frame_index = write_store(video_sources(root, videos), Path(args.out_store), Path(args.out_index), args.size,
                              threads=args.threads, progress=not args.no_progress, desc=f"{args.name} frames",
                              quality=args.quality)
    clips = isolated_clip_index(args.name, videos, frame_index, args.test_signer_share, index)
    log.info("%s clips: %s", args.name, write_clip_index(clips, Path(args.clips), Path(args.summary)))
    return 0


def cmd_slslr_run(args) -> int:
    from qbslt.slr.runs import run_seed

    cfg = json.loads(args.cfg)
    inputs = {d: {"clips": Path(c), "features": Path(f), "keypoints": Path(k)}
              for d, c, f, k in zip(args.datasets, args.clips, args.features, args.keypoints)}
    encoders = {(d, m): Path(p) for d, m, p in (spec.split(":", 2) for spec in args.encoder or [])}
    run_seed(cfg["slslr"], cfg["encoder"], inputs, args.seed, Path(args.out), encoders, cfg["threads"])
    return 0


def cmd_slslr_table(args) -> int:
    from qbslt.slr.table10 import write_table10

    paths = write_table10([Path(p) for p in args.runs], Path(args.out), args.profile)
    log.info("wrote %s", ", ".join(map(str, paths)))
    return 0


def cmd_sigma(args) -> int:
    from qbslt.sigma.run import SigmaInputs, run_all

    cfg = json.loads(args.cfg)
    inputs = SigmaInputs(args.dataset, Path(args.examples_dir), Path(args.keypoints_dir),
                         Path(args.frames_dir) if args.frames_dir else None, Path(args.tokenizer))
    run_all(cfg, args.dataset, args.seed, inputs, Path(args.out_dir), Path(args.checkpoint_dir))
    return 0


def cmd_sigma_table9(args) -> int:
    from qbslt.sigma.table9 import write_table9

    paths = write_table9(args.sigma_metrics, args.rgb_metrics or [], args.variants, args.datasets, Path(args.out),
                         args.profile)
    log.info("wrote %s", ", ".join(map(str, paths)))
    return 0


def cmd_reference(args) -> int:
    from qbslt.eval.reference_runs import run_reference

    run_reference(args.system, args.dataset, Path(args.examples_dir), Path(args.metrics), Path(args.predictions))
    return 0


def cmd_tables(args) -> int:
    from qbslt.reports.results import Results
    from qbslt.reports.tables import render_all

    if args.metrics:
        results = Results.from_metrics_files(Path(args.results), args.metrics)
    else:
        results = Results.discover(Path(args.results))
        log.warning("no --metrics: reporting every run found under %s (%d runs), leftovers included",
                    args.results, len(results.runs))
    files = {key: getattr(args, name) and Path(getattr(args, name)) for key, name in (
        ("summary_path", "summary"), ("runs_path", "runs"), ("scores_dir", "scores"), ("curves_path", "curves"),
        ("figure4_ssaw", "figure4_ssaw"), ("figure4_data", "figure4_data"))}
    paths = render_all(results, Path(args.out), bootstrap_samples=args.bootstrap_samples, profile=args.profile,
                       numbers=args.tables, datasets=args.datasets, **files)
    log.info("wrote %d files under %s (%d runs)", len(paths), args.out, len(results.runs))
    return 0


def cmd_figure4(args) -> int:
    from qbslt.reports.figure4 import render_figure4

    render_figure4(Path(args.ssaw), Path(args.png), Path(args.pdf))
    return 0


def cmd_translate(args) -> int:
    from qbslt.translate import Translator

    translator = Translator.load(Path(args.checkpoint))
    source = Path(args.frames or args.video)
    text, weights = translator.translate_source(source, args.question, num_beams=args.beams)
    print(text)
    if args.weights:
        print(json.dumps(weights, ensure_ascii=False))
    return 0


def cmd_plan(args) -> int:
    from qbslt.plan import plan_targets

    print(plan_targets(Path(args.params), args.profile, args.target, snakefile=Path(args.snakefile),
                       gpu_tflops=args.gpu_tflops, mfu=args.mfu, measure=args.measure_flops,
                       data_dir=Path(args.data_dir)), end="")
    return 0


def _variant_cfg(args) -> dict:
    if args.cfg:
        return json.loads(args.cfg)
    from qbslt import config

    return config.variant_config(config.load(args.params, args.profile), args.variant)


def _add_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=list(DATASETS))
    parser.add_argument("--variant", default="ssl_ssaw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples-dir", required=True)
    parser.add_argument("--features-dir", required=True)
    parser.add_argument("--decoder-tokenizer", required=True)
    parser.add_argument("--text-tokenizer", required=True)
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--frame-size", type=int, nargs=2, metavar=("H", "W"),
                        help="frame size the features were made at (recorded for `qbslt translate`)")
    _add_cfg(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbslt", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate-params", help="validate params.yaml against its schema")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", choices=list(PROFILES))
    p.set_defaults(func=cmd_validate_params)

    p = sub.add_parser("check-annotations", help="parse annotation files, print a JSON summary")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_check_annotations)

    p = sub.add_parser("generate", help="generate an embedded synthetic dataset in the official layout")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    _add_cfg(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("realtext-data", help="real PHOENIX-2014T-QA texts + video rendered from their glosses")
    p.add_argument("--dataset", required=True, choices=["phoenix"])
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    _add_cfg(p)
    p.set_defaults(func=cmd_realtext_data)

    p = sub.add_parser("fetch", help="download / locate a real dataset and its QA files (paper profile)")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--out", required=True)
    p.add_argument("--no-progress", action="store_true")
    _add_cfg(p)
    p.set_defaults(func=cmd_fetch)

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
    _add_cfg(p)
    p.set_defaults(func=cmd_extract_frames)

    p = sub.add_parser("keypoints", help="keypoint store of one split: rendered positions or MediaPipe Holistic")
    p.add_argument("--index", required=True, help="the frame index (<split>.index.tsv) the rows follow")
    p.add_argument("--frame-store", help="the frame store (mediapipe reads its frames)")
    p.add_argument("--out", required=True, help="<split>.npy (also writes <split>.mask.npy and <split>.json)")
    p.add_argument("--extractor", required=True, choices=["renderer", "mediapipe"],
                   help="renderer: the generator's keypoints.npy per video; mediapipe: Holistic on every frame")
    p.add_argument("--threads", type=int, default=1, help="mediapipe: worker processes")
    p.add_argument("--no-progress", action="store_true")
    _add_cfg(p)  # --cfg: data.keypoints
    p.set_defaults(func=cmd_keypoints)

    p = sub.add_parser("join", help="join QA annotations, corpus and frames into example tables + report")
    p.add_argument("--manifest", required=True)
    p.add_argument("--frames-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--report-json", required=True)
    p.add_argument("--report-md", required=True)
    p.set_defaults(func=cmd_join)

    p = sub.add_parser("data-stats", help="statistics of the real and the embedded annotations, side by side (markdown)")
    p.add_argument("--real", default="../shared/data",
                   help="folder of the real files (phoenix-2014t-qa/, csl-daily-qa/; default ../shared/data)")
    p.add_argument("--embedded", default="data/embedded/raw",
                   help="generated embedded data: a folder of <dataset>/ trees (default data/embedded/raw)")
    p.add_argument("--from-params", action="store_true",
                   help="instead of --embedded, sample the generator of params.yaml's data.synthetic (no video)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--doc", help="replace the data-stats block of this markdown file (docs/embedded-data.md)")
    _add_cfg(p)
    p.set_defaults(func=cmd_data_stats)

    p = sub.add_parser("tokenizer", help="train (embedded) or fetch (paper) the tokenizer of a text model")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--text-model", required=True, choices=["mbart", "mbert"])
    p.add_argument("--train-examples", required=True)
    p.add_argument("--out", required=True)
    _add_cfg(p)
    p.set_defaults(func=cmd_tokenizer)

    p = sub.add_parser("features", help="per-frame features of a frozen backbone for one frame store")
    p.add_argument("--backbone", required=True, choices=["resnet18", "shufflenet_v2_x1_0"])
    p.add_argument("--frames", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    _add_cfg(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("pretrain", help="stage 1: shared feature space (Eq. 1-2)")
    _add_run(p)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("train", help="stage 2: translation of one variant and seed, then evaluation")
    _add_run(p)
    p.add_argument("--stage1", help="stage-1 model.safetensors to start from")
    p.add_argument("--keypoints-dir", help="folder of the <split>.npy keypoint stores (model.skeleton)")
    p.add_argument("--metrics", required=True)
    p.add_argument("--predictions", required=True)
    p.add_argument("--ssaw", required=True)
    p.add_argument("--model-dir", required=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("slslr-clips", help="SL-SLR: isolated-sign clip index of a rendered dataset, split by signer")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--manifest", required=True, help="the dataset's raw manifest.json")
    p.add_argument("--index", required=True, help="frame index of the training split (<split>.index.tsv)")
    p.add_argument("--out", required=True, help="clips.tsv")
    p.add_argument("--summary", required=True, help="clips.json")
    _add_cfg(p)
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
    p.add_argument("--profile", choices=list(PROFILES), default="embedded")
    p.set_defaults(func=cmd_slslr_table)

    p = sub.add_parser("reference", help="score a trivial reference system (copy_question, retrieve)")
    p.add_argument("--system", required=True, choices=["copy_question", "retrieve"])
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--examples-dir", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--predictions", required=True)
    p.set_defaults(func=cmd_reference)

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
                   help='JSON: {"variants": {name: settings}, "data": {...}, "device": ..., "threads": ...}')
    p.set_defaults(func=cmd_sigma)

    p = sub.add_parser("sigma-table9", help="render Table 9 (Sigma variants, SSL-SSAW context rows)")
    p.add_argument("--sigma-metrics", nargs="+", required=True, metavar="FILE")
    p.add_argument("--rgb-metrics", nargs="*", metavar="FILE", help="metrics of ssl_ssaw / ssl_ssaw_skeleton runs")
    p.add_argument("--variants", nargs="+", required=True, help="Sigma variants, in row order")
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--profile", choices=list(PROFILES), default="embedded")
    p.add_argument("--out", default="results/embedded/tables")
    p.set_defaults(func=cmd_sigma_table9)

    p = sub.add_parser("tables", help="render Tables 1-8 and the DVC metrics/plots files from results/")
    p.add_argument("--results", default="results")
    p.add_argument("--metrics", nargs="+", metavar="FILE",
                   help="the runs to report, as their metrics files RESULTS/metrics/<dataset>/<variant>/seed<k>.json "
                        "(the Snakemake rule passes the experiment matrix); only these runs' metrics and predictions "
                        "are read. Without it (ad hoc), every metrics file under RESULTS is read, leftovers included")
    p.add_argument("--out", default="results/embedded/tables")
    p.add_argument("--profile", choices=list(PROFILES), default="embedded")
    p.add_argument("--bootstrap-samples", type=int, default=1000)
    p.add_argument("--tables", type=int, nargs="+", help="table numbers to render (default: 1-8)")
    p.add_argument("--datasets", nargs="+", help="datasets of Table 8 (default: the layout's)")
    p.add_argument("--summary", help="metrics summary JSON (default: OUT/summary.json)")
    p.add_argument("--runs", help="per-run BLEU-4 CSV for plots (default: OUT/bleu4_by_variant.csv)")
    p.add_argument("--scores", help="folder of the DVC metrics: one <dataset>/<variant>.json each, other files there "
                                    "are deleted (default: OUT/scores)")
    p.add_argument("--curves", help="tidy training-curves CSV for plots (default: OUT/training_curves.csv)")
    p.add_argument("--figure4-ssaw", help="SSAW weights file of Figure 4: also write its data as CSV")
    p.add_argument("--figure4-data", help="Figure 4's data CSV (default: OUT/figure4_weights.csv)")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("figure4", help="render Figure 4 (SSAW weight maps)")
    p.add_argument("--ssaw", required=True)
    p.add_argument("--png", required=True)
    p.add_argument("--pdf", required=True)
    p.set_defaults(func=cmd_figure4)

    from qbslt.plan import DEFAULT_GPU_TFLOPS, DEFAULT_MFU

    p = sub.add_parser("plan", help="jobs per rule, disk and estimated GPU-hours of Snakemake targets, before running")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", choices=list(PROFILES), help="override params.yaml's profile")
    p.add_argument("--target", nargs="+", default=["all"],
                   help="Snakemake target(s): all (default), table1 ... table8, figure4, train_all, a file, ...")
    p.add_argument("--gpu-tflops", type=float, default=DEFAULT_GPU_TFLOPS,
                   help="GPU throughput, TFLOP/s (default %(default)g: H100/H200 SXM dense bf16)")
    p.add_argument("--mfu", type=float, default=DEFAULT_MFU,
                   help="share of --gpu-tflops a training step reaches (default %(default)g: measured on an H200)")
    p.add_argument("--measure-flops", action="store_true",
                   help="count the FLOPs of the configured models now (benchmarks/paper_scale.py --flops-only; "
                        "CPU minutes per model) instead of the measured constants")
    p.add_argument("--snakefile", default="Snakefile")
    p.add_argument("--data-dir", default="data", help="where prepared data (frame counts) may already be")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("translate", help="translate one sign video, given its question, with a trained model")
    p.add_argument("--checkpoint", required=True, help="a model folder the pipeline wrote (models/<profile>/...)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--frames", help="folder of frame images (PNG/JPG, sorted by name)")
    source.add_argument("--video", help="video file (mp4, avi, ...)")
    p.add_argument("--question", default="", help="the question asked before the signed answer")
    p.add_argument("--beams", type=int, help="beam size (default: the one the model was evaluated with)")
    p.add_argument("--weights", action="store_true", help="also print the SSAW weights as JSON")
    p.set_defaults(func=cmd_translate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except QbsltError as exc:
        print(f"qbslt {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
