"""Does a model read its input? Two checks on a split's hypotheses.

* :func:`derangement`: a fixed permutation without fixed points, drawn from a run's seed. Decoding a
  split again with each example's input (keypoints, video) taken from another example, and scoring
  against the original references, measures how much the score owes to the input: a model that
  ignores it scores the same.
* :func:`distinct_hypotheses`: how many different sentences a model decodes for a split. A decoder
  that collapsed into an unconditional language model writes one or a few sentences for every
  input.
"""

from __future__ import annotations

import numpy as np


def derangement(n: int, seed: int) -> np.ndarray:
    """A permutation ``p`` of ``range(n)`` with ``p[i] != i`` for every i (n >= 2), fixed by ``seed``:
    a seeded random order closed into one cycle (each example takes the input of the next one in it)."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    p = np.empty(n, dtype=np.int64)
    p[order] = np.roll(order, -1)
    return p


def distinct_hypotheses(hypotheses: list[str]) -> dict:
    """{"count": distinct sentences, "share": count / number of hypotheses (0 for none)}."""
    count = len(set(hypotheses))
    return {"count": count, "share": round(count / len(hypotheses), 4) if hypotheses else 0.0}


__all__ = ["derangement", "distinct_hypotheses"]
