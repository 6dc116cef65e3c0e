"""``qbslt translate`` (:mod:`qbslt.translate`)."""

from __future__ import annotations

import json
from pathlib import Path


def cmd_translate(args) -> int:
    from qbslt.translate import Translator

    translator = Translator.load(Path(args.checkpoint))
    source = Path(args.frames or args.video)
    text, weights = translator.translate_source(source, args.question, num_beams=args.beams)
    print(text)
    if args.weights:
        print(json.dumps(weights, ensure_ascii=False))
    return 0


def register(sub) -> None:
    p = sub.add_parser("translate", help="translate one sign video, given its question, with a trained model")
    p.add_argument("--checkpoint", required=True, help="a model folder the pipeline wrote (models/<profile>/...)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--frames", help="folder of frame images (PNG/JPG, sorted by name)")
    source.add_argument("--video", help="video file (mp4, avi, ...)")
    p.add_argument("--question", default="", help="the question asked before the signed answer")
    p.add_argument("--beams", type=int, help="beam size (default: the one the model was evaluated with)")
    p.add_argument("--weights", action="store_true", help="also print the SSAW weights as JSON")
    p.set_defaults(func=cmd_translate)
