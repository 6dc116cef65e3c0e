"""Training (:mod:`qbslt.training`): tokenizers, frozen-backbone features, stage 1 and 2 of a variant,
the reference systems."""

from __future__ import annotations

import argparse
from pathlib import Path

from qbslt.cli.common import add_cfg, log, subtree
from qbslt.settings import decode_settings
from qbslt.data.datasets import DATASETS


def cmd_tokenizer(args) -> int:
    from qbslt.data.datasets import get_dataset
    from qbslt.training.tokenizer import SUBWORD_KINDS, build_tokenizer

    model = subtree(args, "model")
    text = "mbart" if args.text_model == "mbart" else "bert"
    pretrained, revision = model[f"{text}_path"], model[f"{text}_revision"]
    trim_from = model["mbart_path"] if args.text_model == "mbart" and model["trim_vocab"] else None
    subword = (SUBWORD_KINDS[args.text_model], model["subword_vocab_size"]) if model["subword_vocab_size"] else None
    build_tokenizer(args.train_examples, get_dataset(args.dataset).eval_level, pretrained, Path(args.out), trim_from,
                    subword, revision=revision)
    return 0


def cmd_features(args) -> int:
    from qbslt.training.features import write_features
    from qbslt.training.loop import resolve_device

    model = subtree(args, "model")
    weights = None
    if args.stage1:  # the cached-feature recipe: the stage-1 run's trained backbone
        from qbslt.ssl_ssaw.modeling_ssl_ssaw import stage1_backbone_weights
        from qbslt.training.checkpoint import load_weights

        weights = stage1_backbone_weights(load_weights(Path(args.stage1)), args.stage1)
    shape = write_features(Path(args.frames), Path(args.out), args.backbone, model["backbone_pretrained"],
                           device=str(resolve_device(args.device)), progress=not args.no_progress,
                           weights=weights, crop=args.crop_size, source=args.stage1 or "weights")
    log.info("%s features of %s%s: %s", args.backbone, args.frames,
             f" (stage-1 backbone of {args.stage1})" if args.stage1 else "", shape)
    return 0


def _run_inputs(args):
    from qbslt.data.staging import stage_dir
    from qbslt.ssl_ssaw.run import RunInputs

    return RunInputs(dataset=args.dataset, examples_dir=Path(args.examples_dir), features_dir=Path(args.features_dir),
                     decoder_tokenizer=Path(args.decoder_tokenizer), text_tokenizer=Path(args.text_tokenizer),
                     frame_size=tuple(args.frame_size) if args.frame_size else None,
                     keypoints_dir=Path(args.keypoints_dir) if getattr(args, "keypoints_dir", None) else None,
                     stage_dir=stage_dir(args.stage_dir))


def cmd_pretrain(args) -> int:
    from qbslt.ssl_ssaw.run import run_stage1

    run_stage1(_variant_cfg(args), args.seed, _run_inputs(args), Path(args.out_dir), Path(args.checkpoint_dir),
               stage0=Path(args.stage0) if args.stage0 else None)
    return 0


def cmd_train(args) -> int:
    from qbslt.ssl_ssaw.run import run_stage2

    out = {"metrics": Path(args.metrics), "predictions": Path(args.predictions),
           "dev_predictions": Path(args.dev_predictions), "ssaw": Path(args.ssaw), "model": Path(args.model_dir)}
    run_stage2(_variant_cfg(args), args.seed, _run_inputs(args), Path(args.stage1) if args.stage1 else None, out,
               Path(args.checkpoint_dir), args.variant)
    return 0


def cmd_reference(args) -> int:
    from qbslt.training.reference_runs import run_reference

    run_reference(args.system, args.dataset, Path(args.examples_dir), Path(args.metrics), Path(args.predictions),
                  Path(args.dev_predictions))
    return 0


def _variant_cfg(args) -> dict:
    from qbslt.experiment import Experiment

    if args.cfg:
        return decode_settings(args.cfg)
    experiment = Experiment.load(args.params, args.profile)
    return experiment.settings(experiment.job("train", args.dataset, args.variant, args.seed))


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
    parser.add_argument("--stage-dir", help="node-local folder to copy the video stores to first (cluster.stage_dir; "
                                            "environment variables expanded here, e.g. '$SLURM_TMPDIR')")
    add_cfg(parser)


def register(sub) -> None:
    p = sub.add_parser("tokenizer", help="train (embedded) or fetch (paper) the tokenizer of a text model")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--text-model", required=True, choices=["mbart", "mbert"])
    p.add_argument("--train-examples", required=True)
    p.add_argument("--out", required=True)
    add_cfg(p)
    p.set_defaults(func=cmd_tokenizer)

    p = sub.add_parser("features", help="per-frame features of a frozen backbone for one frame store")
    p.add_argument("--backbone", required=True, choices=["resnet18", "shufflenet_v2_x1_0"])
    p.add_argument("--frames", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stage1", help="a stage-1 model (model.safetensors) whose trained backbone computes the "
                                    "features (the cached-feature recipe, train.stage2.freeze_backbone)")
    p.add_argument("--crop-size", type=int, help="centre-crop each frame to this size first (train.crop_size)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    add_cfg(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("pretrain", help="stage 1: shared feature space (Eq. 1-2)")
    _add_run(p)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--stage0", help="SL-SLR encoder (encoder.safetensors) stage 1 starts from (stage-0 variants)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("train", help="stage 2: translation of one variant and seed, then evaluation")
    _add_run(p)
    p.add_argument("--stage1", help="stage-1 model.safetensors to start from")
    p.add_argument("--keypoints-dir", help="folder of the <split>.npy keypoint stores (model.skeleton)")
    p.add_argument("--metrics", required=True)
    p.add_argument("--predictions", required=True, help="test predictions TSV (name, reference, question, hypothesis)")
    p.add_argument("--dev-predictions", required=True, help="dev predictions TSV, same columns")
    p.add_argument("--ssaw", required=True)
    p.add_argument("--model-dir", required=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("reference", help="score a trivial reference system (copy_question, retrieve)")
    p.add_argument("--system", required=True, choices=["copy_question", "retrieve"])
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--examples-dir", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--predictions", required=True, help="test predictions TSV (name, reference, question, hypothesis)")
    p.add_argument("--dev-predictions", required=True, help="dev predictions TSV, same columns")
    p.set_defaults(func=cmd_reference)
