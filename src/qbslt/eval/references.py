"""Trivial reference systems, scored by the same evaluator as the models (:mod:`qbslt.eval.metrics`).

* :func:`copy_question`: the question itself as the translation (how much BLEU the question's words
  alone earn; questions in QB-SLT overlap the answer by construction).
* :func:`retrieve`: the train translation whose question is most similar (TF-IDF cosine) to the
  test question: a question-only model with no video.
* :func:`most_frequent`: the most frequent train sentence, a floor for sign-only models.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter

import numpy as np

from qbslt.eval.metrics import _check_level, tokenize_for_eval


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def normalize_question(question: str, level: str) -> str:
    """A question in the evaluation form of its dataset.

    ``"word"`` (PHOENIX): lower-cased, punctuation (Unicode category P*: ``? , . ! " ...``) stripped
    from the start and end of every whitespace token, tokens that were only punctuation dropped,
    single spaces (``"Regnet es im Norden?"`` → ``"regnet es im norden"``; intra-word hyphens stay).
    ``"char"`` (CSL): as is, apart from leading/trailing whitespace.
    """
    _check_level(level)
    if level == "char":
        return question.strip()
    words = []
    for token in question.lower().split():
        start, end = 0, len(token)
        while start < end and _is_punct(token[start]):
            start += 1
        while end > start and _is_punct(token[end - 1]):
            end -= 1
        if start < end:
            words.append(token[start:end])
    return " ".join(words)


def copy_question(questions: list[str], level: str = "word") -> list[str]:
    """Each question, normalised by :func:`normalize_question`, as its own translation."""
    return [normalize_question(q, level) for q in questions]


def _tfidf_rows(token_lists: list[list[str]], vocab: dict[str, int], idf: np.ndarray) -> list[dict[int, float]]:
    """L2-normalised TF-IDF vectors (raw term counts x idf) as sparse {term index: weight} dicts."""
    rows = []
    for tokens in token_lists:
        counts = Counter(vocab[t] for t in tokens if t in vocab)
        row = {j: c * float(idf[j]) for j, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in row.values()))
        rows.append({j: w / norm for j, w in row.items()} if norm > 0 else {})
    return rows


def retrieve(train_questions: list[str], train_translations: list[str], test_questions: list[str],
             level: str) -> list[str]:
    """For each test question, the train translation whose question is most similar.

    Similarity: cosine of TF-IDF vectors over the evaluation tokens (:func:`tokenize_for_eval` at
    ``level``) of the questions normalised by :func:`normalize_question`; idf = ln((1+N)/(1+df)) + 1
    over the N train questions (the smoothed idf of scikit-learn); test tokens unseen in train are
    ignored. Ties (including a test question sharing no token with any train question) go to the
    lowest train index. Deterministic.
    """
    _check_level(level)
    if len(train_questions) != len(train_translations):
        raise ValueError(f"{len(train_questions)} train questions but {len(train_translations)} translations")
    if not train_questions:
        raise ValueError("no train examples to retrieve from")

    train_tokens = [tokenize_for_eval(normalize_question(q, level), level) for q in train_questions]
    test_tokens = [tokenize_for_eval(normalize_question(q, level), level) for q in test_questions]

    vocab: dict[str, int] = {}
    for tokens in train_tokens:
        for t in tokens:
            vocab.setdefault(t, len(vocab))
    df = np.zeros(len(vocab))
    for tokens in train_tokens:
        for j in {vocab[t] for t in tokens}:
            df[j] += 1
    n = len(train_tokens)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0

    # Inverted index: term -> (train rows containing it, their weights).
    train_rows = _tfidf_rows(train_tokens, vocab, idf)
    postings: dict[int, tuple[list[int], list[float]]] = {}
    for i, row in enumerate(train_rows):
        for j, w in row.items():
            docs, weights = postings.setdefault(j, ([], []))
            docs.append(i)
            weights.append(w)
    index = {j: (np.asarray(d, dtype=np.int64), np.asarray(w)) for j, (d, w) in postings.items()}

    out = []
    for query in _tfidf_rows(test_tokens, vocab, idf):
        scores = np.zeros(n)
        for j in sorted(query):  # fixed summation order: equal vectors give bit-equal scores
            docs, weights = index[j]
            scores[docs] += query[j] * weights
        out.append(train_translations[int(np.argmax(scores))])  # argmax: first (lowest) index on ties
    return out


def most_frequent(train_translations: list[str]) -> str:
    """The most frequent train translation (whitespace-normalised); ties go to the first seen."""
    if not train_translations:
        raise ValueError("no train translations")
    counts = Counter(" ".join(t.split()) for t in train_translations)
    return counts.most_common(1)[0][0]  # most_common keeps first-encountered order among equal counts
