"""How much of an example's reference translation its question already holds, and terciles of it.

* :func:`question_overlap`: the share of the reference translation's tokens that occur in the
  question. Tokens are the metric's (:func:`qbslt.eval.metrics.tokenize_for_eval` at the dataset's
  evaluation level: words for PHOENIX-2014T-QA, characters for CSL-Daily-QA). The question is taken
  in its evaluation form, the text the ``copy_question`` reference system scores
  (:func:`qbslt.eval.references.normalize_question`: lower-cased, punctuation stripped from the
  words at word level; as is at character level). A repeated reference token counts each time;
  an empty reference has overlap 0.
* :func:`cut_terciles`: one split's examples cut into three groups of equal size by overlap
  (:data:`TERCILES`), ties broken by example name.

The claims page reads BLEU-4 per tercile from these (:mod:`qbslt.reports.overlap`): the question
is a prefix the models can copy, and the splits differ in how much of the answer it holds.
"""

from __future__ import annotations

from qbslt.eval.metrics import tokenize_for_eval
from qbslt.eval.references import normalize_question

TERCILES = ("low", "mid", "high")


def question_overlap(reference: str, question: str, level: str) -> float:
    """Share (0-1) of ``reference``'s evaluation tokens at ``level`` that occur among the tokens of
    ``question`` in evaluation form (module docstring); 0.0 for an empty reference."""
    tokens = tokenize_for_eval(reference, level)
    if not tokens:
        return 0.0
    asked = set(tokenize_for_eval(normalize_question(question, level), level))
    return sum(token in asked for token in tokens) / len(tokens)


def tercile_sizes(n: int) -> tuple[int, int, int]:
    """Sizes of the low, mid and high terciles of ``n`` examples: equal, or differing by one with the
    lower terciles taking the extra examples (10 -> 4, 3, 3; 11 -> 4, 4, 3)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    base, extra = divmod(n, len(TERCILES))
    return tuple(base + (k < extra) for k in range(len(TERCILES)))


def cut_terciles(names: list[str], overlaps: list[float]) -> list[str]:
    """The tercile (``"low"``, ``"mid"``, ``"high"``) of each example, in input order.

    The examples are sorted by overlap, ascending, then by name (the stable tie rule: the input
    order never matters), and cut into :func:`tercile_sizes` groups. Tied overlaps may straddle a
    boundary; names must be unique."""
    if len(names) != len(overlaps):
        raise ValueError(f"{len(names)} names but {len(overlaps)} overlaps")
    if len(set(names)) != len(names):
        raise ValueError("example names must be unique")
    order = sorted(range(len(names)), key=lambda i: (overlaps[i], names[i]))
    labels = [""] * len(names)
    start = 0
    for label, size in zip(TERCILES, tercile_sizes(len(names))):
        for i in order[start:start + size]:
            labels[i] = label
        start += size
    return labels
