"""Embedded synthetic QB-SLT data: two grammars, a sign renderer and a layout writer.

* :mod:`.phoenix_grammar` - German weather forecasts (PHOENIX-2014T-QA-like);
* :mod:`.csl_grammar` - Chinese daily life (CSL-Daily-QA-like);
* :mod:`.render` - glosses -> uint8 video [T, H, W, 3];
* :mod:`.generate` - a whole dataset in the official on-disk layout (see docs/embedded-data.md).

This module holds only what both grammars share (terms, Zipf-like drawing, clauses and the
question composer), so it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

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


# --- what both grammars are made of ------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """A concept: its sign(s) and the ways a sentence says it, most common first."""

    forms: tuple[str, ...]
    gloss: tuple[str, ...]


@dataclass(frozen=True)
class Said:
    """A slot as filled in one sentence: its term, the words used, the signs shown."""

    term: Term
    words: str
    gloss: tuple[str, ...]
    homonym: bool = False  # a homonym sign: the video cannot tell it from its partner


@dataclass
class Clause:
    """One clause of an answer: its words and signs, and the question parts that fit it.

    ``ask``: questions naming only the clause's context; ``name``: questions naming its homonym
    content; ``restate``: yes/no questions restating it; ``state``: the clause restated as a
    statement (its own words in its own order, some paraphrased). No part names a number.
    """

    words: str
    gloss: list[str]
    ask: list[str]
    restate: list[str]
    state: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)


def zipf(n: int, exponent: float) -> np.ndarray:
    """Probabilities proportional to 1 / rank ** exponent."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def pick(rng: np.random.Generator, options):
    """A uniformly drawn option."""
    return options[int(rng.integers(len(options)))]


def draw(rng: np.random.Generator, options: Sequence, exponent: float = 1.0):
    """An option with Zipf-like weights (the first is the most frequent)."""
    return options[int(rng.choice(len(options), p=zipf(len(options), exponent)))]


def say(rng: np.random.Generator, term: Term, homonyms: frozenset[str] = frozenset(), form_exponent: float = 1.5) -> Said:
    """``term`` as one sentence says it: one of its forms (Zipf-like), its signs."""
    return Said(term, draw(rng, term.forms, form_exponent), term.gloss, bool(homonyms.intersection(term.gloss)))


def paraphrase(rng: np.random.Generator, said: Said | None, keep: float = 0.7) -> str | None:
    """How a question names a filled slot: the answer's words, or (1 - keep) another form of the term."""
    if said is None:
        return None
    others = [f for f in said.term.forms if f != said.words]
    return said.words if not others or rng.random() < keep else pick(rng, others)


def join(*parts: str | None) -> str:
    """The non-empty parts, space-separated."""
    return " ".join(p for p in parts if p)


def question_parts(rng: np.random.Generator, kind: str, clauses: Sequence[Clause], restated: float) -> list[str]:
    """A question as the real ones read: statements restating some of the other clauses
    (each with probability ``restated``), in order, and the question proper about the focus
    clause (``partial``: an ``ask`` part, ``disambiguating``: a ``name`` part, ``yes_no``: a
    ``restate`` part). The focus of a disambiguating question is the first clause with a name."""
    if kind == "disambiguating":
        focus = next(i for i, c in enumerate(clauses) if c.name)
    else:
        focus = int(rng.integers(len(clauses)))
    parts = []
    for i, clause in enumerate(clauses):
        if i == focus:
            parts.append(pick(rng, {"partial": clause.ask, "disambiguating": clause.name, "yes_no": clause.restate}[kind]))
        elif clause.state and rng.random() < restated:
            parts.append(pick(rng, clause.state))
    return parts


def by_frequency(glosses: Sequence[str], sample, draws: int = 2000, seed: int = 0) -> tuple[str, ...]:
    """``glosses`` ordered by how often ``sample(rng, "yes_no")`` signs them (most frequent first;
    ties and never-drawn glosses keep their order). The renderer gives designed patterns in this
    order, so the frequent signs are the most distinct ones and rare signs look like frequent ones,
    as near-minimal pairs do."""
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for _ in range(draws):
        for gloss in sample(rng, "yes_no").gloss:
            counts[gloss] = counts.get(gloss, 0) + 1
    order = {g: i for i, g in enumerate(glosses)}
    return tuple(sorted(glosses, key=lambda g: (-counts.get(g, 0), order[g])))
