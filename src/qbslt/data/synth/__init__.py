"""Embedded synthetic QB-SLT data: two grammars, a sign renderer and a layout writer.

* :mod:`.phoenix_grammar` - German weather forecasts (PHOENIX-2014T-QA-like);
* :mod:`.csl_grammar` - Chinese daily life (CSL-Daily-QA-like);
* :mod:`.render` - glosses -> uint8 video [T, H, W, 3];
* :mod:`.generate` - a whole dataset in the official on-disk layout (see docs/embedded-data.md).

This module holds only what both grammars share, so it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from qbslt.errors import ConfigError

# Question kinds, in the order of ``data.synthetic.questions`` (see docs/embedded-data.md).
KINDS = ("partial", "disambiguating", "unrelated", "yes_no")


@dataclass(frozen=True)
class SynthSample:
    """One generated sentence with its sign (gloss) sequence and question.

    ``translation`` uses the tokenisation of the real QA files: lower-case words for PHOENIX,
    single characters (punctuation included) for CSL. ``gloss`` is in sign order. ``chars`` and
    ``words`` are set for CSL only (``chars == translation``; ``words`` is the segmentation).
    """

    translation: str
    gloss: list[str]
    question: str
    kind: str
    chars: str | None = None
    words: str | None = None


def kind_probabilities(mix: Mapping[str, float]) -> np.ndarray:
    """``data.synthetic.questions`` normalised to probabilities in :data:`KINDS` order."""
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise ConfigError(f"data.synthetic.questions: unknown kind(s) {sorted(unknown)} (expected {', '.join(KINDS)})")
    weights = np.array([float(mix.get(kind, 0.0)) for kind in KINDS])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError("data.synthetic.questions: weights must be >= 0 with a positive sum")
    return weights / weights.sum()


def choose_kind(rng: np.random.Generator, probabilities: np.ndarray) -> str:
    return KINDS[int(rng.choice(len(KINDS), p=probabilities))]
