"""``qbslt score``: BLEU-1..4 and ROUGE-L of your own system's output, with the tables' protocol
(:func:`qbslt.eval.metrics.corpus_scores`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qbslt.errors import QbsltError

EXAMPLE = """example:
  qbslt score --hypotheses my_system.txt --references test.de.txt
  qbslt score --hypotheses hyp.txt --references ref.txt --level char --json   # CSL-Daily-QA: characters

Each file holds one sentence a line, in the same order (the hypotheses' line N translates the
references' line N). PHOENIX-2014T-QA is scored on words (lower-case text, as its translations
are), CSL-Daily-QA on characters."""


LABELS = {"bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4", "rouge_l": "ROUGE-L"}


def read_lines(path: Path) -> list[str]:
    """The lines of ``path``: a UTF-8 byte-order mark (Windows editors write one) is not text, and a
    0-byte file has no lines (not one empty line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise QbsltError(f"{path}: {exc}") from exc
    if not text:
        return []
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def score_files(hypotheses: Path, references: Path, level: str) -> dict:
    from qbslt.eval.metrics import corpus_scores

    hyps, refs = read_lines(hypotheses), read_lines(references)
    if len(hyps) != len(refs):
        raise QbsltError(f"{hypotheses}: {len(hyps)} lines, but {references} has {len(refs)}")
    if not hyps:
        raise QbsltError(f"{hypotheses}: no sentences to score")
    return {"sentences": len(hyps), "level": level,
            **{name: round(value, 2) for name, value in corpus_scores(hyps, refs, level).items()}}


def cmd_score(args) -> int:
    scores = score_files(Path(args.hypotheses), Path(args.references), args.level)
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"{scores['sentences']} sentences, {scores['level']} level")
        print("  ".join(f"{label} {scores[name]:.2f}" for name, label in LABELS.items()))
    return 0


def register(sub) -> None:
    from qbslt.eval.metrics import LEVELS

    p = sub.add_parser("score", help="BLEU-1..4 and ROUGE-L of your own translations, as the tables compute them",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hypotheses", required=True, help="your system's translations, one a line")
    p.add_argument("--references", required=True, help="the reference translations, one a line, same order")
    p.add_argument("--level", choices=LEVELS, default="word",
                   help="tokens scored: words (PHOENIX-2014T-QA, the default) or characters (CSL-Daily-QA)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=cmd_score)
