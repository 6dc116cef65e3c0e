"""Evaluation: BLEU-1..4 and ROUGE-L at word (PHOENIX) or character (CSL) level, significance, reference systems."""

from qbslt.eval.metrics import (
    corpus_scores,
    paired_bootstrap,
    rouge_l,
    sentence_bleu4,
    tokenize_for_eval,
)
from qbslt.eval.references import copy_question, most_frequent, normalize_question, retrieve

__all__ = [
    "copy_question",
    "corpus_scores",
    "most_frequent",
    "normalize_question",
    "paired_bootstrap",
    "retrieve",
    "rouge_l",
    "sentence_bleu4",
    "tokenize_for_eval",
]
