"""The one evaluator: BLEU-1..4 (sacrebleu) and ROUGE-L (rouge_score) at word or character level.

Every score in the pipeline (models, trivial reference systems, significance tests) goes through
:func:`tokenize_for_eval` first, so the two libraries see the same tokens:

* ``level="word"`` (PHOENIX-2014T-QA): whitespace split, nothing else. Texts are expected in the
  corpus' evaluation form (lower-case, as the PHOENIX translations are); no case folding or
  punctuation stripping happens here.
* ``level="char"`` (CSL-Daily-QA): every non-whitespace character is a token; spaces (the word
  segmentation of CSL-Daily) are dropped, so ``"他 来 了"`` and ``"他来了"`` score the same.

BLEU-n is sacrebleu's corpus BLEU with ``max_ngram_order=n`` (cumulative BLEU-n: brevity penalty
times the geometric mean of the clipped 1..n-gram precisions), computed on the tokens re-joined by
single spaces with ``tokenize="none"``. Choices (see :data:`BLEU_OPTIONS`):

* ``smooth_method="none"``: Papineni et al.'s unsmoothed corpus BLEU. Smoothing exists for
  sentence BLEU; at corpus level it only acts
  when an n-gram order has no match in the whole corpus, and there sacrebleu's default ``"exp"``
  makes up a precision of 100 / (2^k * total) that can exceed the real lower-order ones (a tiny
  corpus then gets BLEU-3 > BLEU-2). Unsmoothed, such a corpus gets BLEU-n = 0. On any realistic
  test set every order has matches and the choice changes nothing.
* ``effective_order=False``: an order with no n-grams at all (a corpus of sentences shorter than
  n tokens) gives BLEU-n = 0 rather than silently becoming BLEU-(n-1).
* ``lowercase=False``, ``force=True`` (no "looks tokenised" warnings: the input *is* tokenised).

ROUGE-L is the sign-language-translation convention, i.e. MS-COCO's ROUGE-L (pycocoevalcap
``rouge/rouge.py``, ``Rouge.calc_score``, copied into the SLT code bases as ``mscoco_rouge``): per
sentence the LCS precision P and recall R combined as F = (1 + b^2) P R / (R + b^2 P) with
b = :data:`ROUGE_L_BETA` = 1.2 (0 when P or R is 0), averaged over sentences, x100. This is not
rouge_score's ``fmeasure`` (b = 1), which would not be comparable with the paper's numbers. P and
R come from rouge_score's ``rougeL`` with a tokenizer that calls :func:`tokenize_for_eval`
(rouge_score's default tokenizer deletes every character outside [a-z0-9], i.e. umlauts, ß and
all of Chinese).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

# sacrebleu and rouge_score (which imports nltk, and nltk scipy: about a second) are imported by the
# functions that score, not here: `qbslt --help` and every step that only needs LEVELS stay fast.
if TYPE_CHECKING:
    from sacrebleu.metrics import BLEU

LEVELS = ("word", "char")

# Weight of recall over precision in ROUGE-L's F-measure: pycocoevalcap's (MS-COCO) value, which the
# SLT papers report; rouge_score's own fmeasure uses 1.
ROUGE_L_BETA = 1.2

# Keyword arguments of every corpus-level sacrebleu BLEU built here (plus max_ngram_order).
BLEU_OPTIONS = {
    "tokenize": "none",
    "smooth_method": "none",
    "effective_order": False,
    "lowercase": False,
    "force": True,
}


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown evaluation level {level!r} (expected one of {', '.join(LEVELS)})")


def tokenize_for_eval(text: str, level: str) -> list[str]:
    """Tokens of ``text`` at ``level``: ``"word"`` = whitespace split, ``"char"`` = non-space characters."""
    _check_level(level)
    if level == "word":
        return text.split()
    return [c for c in text if not c.isspace()]


def _joined(texts: list[str], level: str) -> list[str]:
    """Texts as sacrebleu sees them: their evaluation tokens joined by single spaces."""
    return [" ".join(tokenize_for_eval(t, level)) for t in texts]


def _check_pair(hypotheses: list[str], references: list[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("no sentences to score")


class EvalTokenizer:
    """A rouge_score tokenizer (it needs a ``tokenize(text)`` method) that uses :func:`tokenize_for_eval`."""

    def __init__(self, level: str):
        _check_level(level)
        self.level = level

    def tokenize(self, text: str) -> list[str]:
        return tokenize_for_eval(text, self.level)


def _bleu(n: int) -> BLEU:
    from sacrebleu.metrics import BLEU

    return BLEU(max_ngram_order=n, **BLEU_OPTIONS)


def bleu_signature(level: str, n: int = 4) -> str:
    """sacrebleu's signature of BLEU-n as computed here, with the evaluation level appended."""
    _check_level(level)
    metric = _bleu(n)
    metric.corpus_score(["x"], [["x"]])  # sacrebleu only knows the number of references after a call
    return f"{metric.get_signature().format()}|level:{level}"


def lcs_f_measure(precision: float, recall: float, beta: float = ROUGE_L_BETA) -> float:
    """pycocoevalcap's ROUGE-L F: (1 + beta^2) P R / (R + beta^2 P), 0 when P or R is 0."""
    if precision == 0 or recall == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * precision * recall / (recall + b2 * precision)


def rouge_l(hypotheses: list[str], references: list[str], level: str) -> float:
    """Sentence ROUGE-L (LCS F-measure, beta = ROUGE_L_BETA) averaged over the corpus, x100 (an empty side scores 0)."""
    from rouge_score import rouge_scorer

    _check_pair(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=EvalTokenizer(level))
    total = 0.0
    for hyp, ref in zip(hypotheses, references):
        lcs = scorer.score(ref, hyp)["rougeL"]  # score(target, prediction): P = LCS/|hyp|, R = LCS/|ref|
        total += lcs_f_measure(lcs.precision, lcs.recall)
    return 100.0 * total / len(hypotheses)


def corpus_scores(hypotheses: list[str], references: list[str], level: str) -> dict:
    """``{"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"}`` (floats, 0-100) of a corpus, one reference each.

    Raises ValueError on mismatched lengths, an empty corpus or an unknown level. An empty
    hypothesis is scored as such (no matches, shorter corpus → brevity penalty; ROUGE-L 0).
    """
    _check_pair(hypotheses, references)
    hyps, refs = _joined(hypotheses, level), _joined(references, level)
    scores = {f"bleu{n}": float(_bleu(n).corpus_score(hyps, [refs]).score) for n in range(1, 5)}
    scores["rouge_l"] = rouge_l(hypotheses, references, level)
    return scores


def corpus_bleu(hypotheses: list[str], references: list[str], level: str, n: int = 4) -> float:
    """Corpus BLEU-n of a corpus, one reference each: the same number as ``corpus_scores(...)[f"bleu{n}"]``
    (without the ROUGE-L pass), for reports that need BLEU alone on many sub-corpora."""
    _check_pair(hypotheses, references)
    _check_level(level)
    return float(_bleu(n).corpus_score(_joined(hypotheses, level), [_joined(references, level)]).score)


def sentence_bleu4(hypothesis: str, reference: str, level: str) -> float:
    """Sentence BLEU-4 for ranking examples: sacrebleu sentence BLEU, effective order, exp smoothing."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(tokenize="none", smooth_method="exp", effective_order=True, lowercase=False, force=True)
    hyp, ref = _joined([hypothesis, reference], level)
    return float(metric.sentence_score(hyp, [ref]).score)


@contextmanager
def _sacrebleu_seed(seed: int) -> Iterator[None]:
    """sacrebleu's PairedTest reads its seed from $SACREBLEU_SEED; set it for the call only."""
    old = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    try:
        yield
    finally:
        if old is None:
            del os.environ["SACREBLEU_SEED"]
        else:
            os.environ["SACREBLEU_SEED"] = old


def _segment_stats(hyps: list[str], refs: list[str]) -> list[tuple]:
    """Per-sentence BLEU-4 sufficient statistics (lengths, matches, totals), via the public API."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(tokenize="none", effective_order=True, force=True)
    out = []
    for hyp, ref in zip(hyps, refs):
        s = metric.sentence_score(hyp, [ref])
        out.append((s.sys_len, s.ref_len, tuple(s.counts), tuple(s.totals)))
    return out


def paired_bootstrap(system_a: list[str], system_b: list[str], references: list[str], level: str,
                     n_samples: int = 1000, seed: int = 12345) -> dict:
    """Paired bootstrap resampling (Koehn 2004) of corpus BLEU-4, b against baseline a.

    Uses sacrebleu's own implementation (``sacrebleu.significance.PairedTest``, ``test_type="bs"``,
    what ``sacrebleu --paired-bs`` runs). Its p-value is for the *difference* |BLEU(b) - BLEU(a)|
    (is b different from a, not is b better): read the direction from ``delta``.

    One departure from sacrebleu: when a and b have identical per-sentence BLEU statistics (e.g.
    identical outputs) every resampled difference is 0, and sacrebleu's strict ``>`` count returns
    its minimum p = 1/(n_samples+1), i.e. "significant". There is no difference to test, so we
    report p = 1.0 instead.

    Returns ``{"bleu4_a", "bleu4_b", "delta", "p_value", "ci_a", "ci_b", "n_samples", "seed",
    "signature"}``; ``ci_*`` are sacrebleu's 95% confidence half-widths of the bootstrap means.
    """
    if len(system_a) != len(system_b):
        raise ValueError(f"system a has {len(system_a)} sentences but system b has {len(system_b)}")
    _check_pair(system_a, references)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if seed < 1:  # PairedTest treats a falsy seed as "unseeded"; numpy rejects negative ones.
        raise ValueError(f"seed must be a positive integer, got {seed}")
    from sacrebleu.significance import PairedTest

    hyps_a, hyps_b, refs = _joined(system_a, level), _joined(system_b, level), _joined(references, level)
    with _sacrebleu_seed(seed):
        test = PairedTest([("a", hyps_a), ("b", hyps_b)], {"BLEU": _bleu(4)}, [refs],
                          test_type="bs", n_samples=n_samples, n_jobs=1)
        signatures, results = test()
    (name,) = [k for k in results if k != "System"]
    res_a, res_b = results[name]
    p_value = float(res_b.p_value)
    if _segment_stats(hyps_a, refs) == _segment_stats(hyps_b, refs):
        p_value = 1.0
    return {
        "bleu4_a": float(res_a.score),
        "bleu4_b": float(res_b.score),
        "delta": float(res_b.score - res_a.score),
        "p_value": p_value,
        "ci_a": float(res_a.ci),
        "ci_b": float(res_b.ci),
        "n_samples": n_samples,
        "seed": seed,
        "signature": f"{signatures[name].format()}|level:{level}",
    }
