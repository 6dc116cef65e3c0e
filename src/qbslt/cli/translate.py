"""``qbslt translate`` (:mod:`qbslt.translate`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLE = """example:
  qbslt translate --checkpoint models/embedded/phoenix/ssl_ssaw/seed0 \\
      --video answer.mp4 --question "Wie wird das Wetter am Montag im Norden?" --device cuda

The models the embedded and realtext profiles train saw only rendered 40x32 video: they show that
the pipeline runs, they do not translate filmed signing (a warning says so)."""


def cmd_translate(args) -> int:
    from qbslt.translate import Translator

    translator = Translator.load(Path(args.checkpoint), device=args.device)
    rendered = translator.trained_on_rendered_video(Path(args.checkpoint))
    if rendered:
        print(f"warning: {args.checkpoint} was trained on rendered (synthetic) 40x32 video ({rendered} profile); "
              f"it does not translate filmed signing", file=sys.stderr)
    source = Path(args.frames or args.video) if (args.frames or args.video) else None
    for note in translator.check_inputs(source is not None, args.question):
        print(f"note: {note}", file=sys.stderr)
    text, weights = translator.translate_source(source, args.question, num_beams=args.beams)
    print(text)
    if args.weights:
        print(json.dumps(weights, ensure_ascii=False))
    return 0


def beam_count(text: str) -> int:
    """argparse type of --beams: an integer >= 1 (0 would fall back to the default unseen, a negative
    one fails deep in generation)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser("translate", help="translate one sign video, given its question, with a trained model",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a model folder the pipeline wrote (models/<profile>/...)")
    source = p.add_mutually_exclusive_group()  # one of them unless the model reads no video
    source.add_argument("--frames", help="folder of frame images (PNG/JPG, sorted by name)")
    source.add_argument("--video", help="video file (mp4, avi, ...)")
    p.add_argument("--question", default="", help="the question asked before the signed answer")
    p.add_argument("--beams", type=beam_count, help="beam size (default: the one the model was evaluated with)")
    p.add_argument("--device", default="cpu", help="torch device to run the model on: cpu (default), cuda, cuda:1, mps")
    p.add_argument("--weights", action="store_true", help="also print the SSAW weights as JSON")
    p.set_defaults(func=cmd_translate)
