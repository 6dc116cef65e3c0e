"""The evaluator (BLEU-1..4, ROUGE-L, paired bootstrap) and the trivial reference systems, on hand-checked sentences."""

import math
import random

import pytest

from qbslt.eval.metrics import (
    ROUGE_L_BETA,
    EvalTokenizer,
    bleu_signature,
    corpus_scores,
    lcs_f_measure,
    paired_bootstrap,
    rouge_l,
    sentence_bleu4,
    tokenize_for_eval,
)
from qbslt.eval.references import copy_question, most_frequent, normalize_question, retrieve

KEYS = {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"}

WORDS = ("morgen regnet es im norden und süden schnee fällt in den bergen heute nacht "
         "frost an der küste wind aus west ost mäßig stark grad minus plus").split()


def _sentences(rng: random.Random, n: int, lo: int = 6, hi: int = 12) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def _corrupt(rng: random.Random, sentence: str, p: float) -> str:
    """Each word replaced by an out-of-vocabulary one with probability p."""
    return " ".join("xxx" if rng.random() < p else w for w in sentence.split())


# --- tokenisation -------------------------------------------------------------------------------

def test_tokenize_word_and_char():
    assert tokenize_for_eval("  fällt   schnee\tim süden ", "word") == ["fällt", "schnee", "im", "süden"]
    assert tokenize_for_eval("他 来了 。", "char") == ["他", "来", "了", "。"]
    assert tokenize_for_eval("", "word") == [] and tokenize_for_eval("   ", "char") == []
    assert EvalTokenizer("word").tokenize("straße fällt") == ["straße", "fällt"]
    with pytest.raises(ValueError):
        tokenize_for_eval("a", "bpe")


# --- corpus scores ------------------------------------------------------------------------------

def test_identical_hypotheses_score_100():
    refs = ["morgen regnet es im norden", "im süden fällt schnee in den bergen"]
    scores = corpus_scores(list(refs), refs, "word")
    assert set(scores) == KEYS
    for key in KEYS:
        assert scores[key] == pytest.approx(100.0)
    zh = ["今天 天气 很 好", "我 明天 去 北京"]
    for value in corpus_scores(list(zh), zh, "char").values():
        assert value == pytest.approx(100.0)


def test_bleu1_and_bleu2_by_hand():
    hyps = ["im im norden", "morgen fällt schnee"]
    refs = ["im norden regnet es", "morgen fällt regen"]
    # unigrams: "im" x2 clipped to 1, "norden" -> 2/3; "morgen", "fällt" -> 2/3  => p1 = 4/6
    # bigrams: "im norden" of {"im im", "im norden"}; "morgen fällt" of 2     => p2 = 2/4
    # lengths: hyp 6 < ref 7 => BP = exp(1 - 7/6)
    p1, p2, bp = 4 / 6, 2 / 4, math.exp(1 - 7 / 6)
    scores = corpus_scores(hyps, refs, "word")
    assert scores["bleu1"] == pytest.approx(100 * bp * p1)
    assert scores["bleu2"] == pytest.approx(100 * bp * math.sqrt(p1 * p2))
    assert scores["bleu3"] == 0.0  # no trigram matches anywhere: unsmoothed corpus BLEU is 0


def test_bleu_is_cumulative_and_decreasing_on_a_sample():
    rng = random.Random(0)
    refs = _sentences(rng, 60)
    hyps = [_corrupt(rng, r, 0.3) for r in refs]
    s = corpus_scores(hyps, refs, "word")
    assert 100 > s["bleu1"] >= s["bleu2"] >= s["bleu3"] >= s["bleu4"] > 0
    assert 0 < s["rouge_l"] < 100


def test_rouge_l_keeps_umlauts():
    # LCS "fällt" = 1 of 2 tokens on both sides: P = R = 0.5, and P = R gives F = P for any beta
    # (the default tokenizer would drop "ä")
    assert corpus_scores(["fällt schnee"], ["fällt regen"], "word")["rouge_l"] == pytest.approx(50.0)
    assert corpus_scores(["größe"], ["größe"], "word")["rouge_l"] == pytest.approx(100.0)
    assert corpus_scores(["größe"], ["grösse"], "word")["rouge_l"] == 0.0


def test_rouge_l_uses_coco_beta_by_hand():
    # hyp "a b c d" vs ref "a c e": LCS "a c" = 2, P = 2/4 = 0.5, R = 2/3
    # F(beta=1.2) = (1 + 1.44) * 0.5 * 0.6667 / (0.6667 + 1.44 * 0.5) = 0.8133 / 1.3867 = 0.58654
    # (rouge_score's F1 would be 2 * 0.5 * 0.6667 / 1.1667 = 0.57143)
    assert ROUGE_L_BETA == 1.2
    assert rouge_l(["a b c d"], ["a c e"], "word") == pytest.approx(100 * 0.586538, abs=1e-4)
    assert lcs_f_measure(0.5, 2 / 3) == pytest.approx(2.44 * 0.5 * (2 / 3) / (2 / 3 + 1.44 * 0.5))
    assert lcs_f_measure(0.0, 1.0) == 0.0 and lcs_f_measure(1.0, 0.0) == 0.0


def test_rouge_l_averages_sentence_f_beta():
    # sentence 1: F = 1; sentence 2: LCS 2, P = 2/3, R = 2/4,
    # F = 2.44 * (2/3) * (1/2) / (1/2 + 1.44 * 2/3) = 0.81333 / 1.46 = 122/219 = 0.55708 (F1 was 4/7)
    s = corpus_scores(["es schneit", "im norden es"], ["es schneit", "im süden regnet es"], "word")
    assert s["rouge_l"] == pytest.approx(100 * (1 + 122 / 219) / 2)


def test_chinese_char_level():
    partial = corpus_scores(["他明天去北京"], ["他 明天 去 上海"], "char")
    assert partial["bleu1"] > 0 and partial["bleu4"] > 0 and partial["rouge_l"] > 0
    # LCS 他明天去 = 4 of 6 chars on both sides
    assert partial["rouge_l"] == pytest.approx(100 * 4 / 6)
    assert partial["bleu1"] == pytest.approx(100 * 4 / 6)
    disjoint = corpus_scores(["我们 吃饭"], ["他 来 了"], "char")
    assert all(v == 0.0 for v in disjoint.values())
    # word segmentation spaces do not matter at char level
    assert corpus_scores(["他 来 了"], ["他来了"], "char")["bleu1"] == pytest.approx(100.0)


def test_empty_hypothesis_scores_zero_without_crash():
    s = corpus_scores([""], ["morgen regnet es"], "word")
    assert all(v == 0.0 for v in s.values())
    mixed = corpus_scores(["", "morgen regnet es im norden"], ["es schneit", "morgen regnet es im norden"], "word")
    assert mixed["rouge_l"] == pytest.approx(50.0)  # sentence Fs 0 and 100
    assert 0 < mixed["bleu4"] < 100  # the empty line only shortens the corpus (brevity penalty)


def test_bad_input_raises():
    with pytest.raises(ValueError):
        corpus_scores(["a", "b"], ["a"], "word")
    with pytest.raises(ValueError):
        corpus_scores([], [], "word")
    with pytest.raises(ValueError):
        corpus_scores(["a"], ["a"], "subword")


def test_sentence_bleu4_ranks_and_handles_short_sentences():
    ref = "morgen regnet es im norden"
    assert sentence_bleu4(ref, ref, "word") == pytest.approx(100.0)
    better = sentence_bleu4("morgen regnet es im süden", ref, "word")
    worse = sentence_bleu4("heute schnee im süden", ref, "word")
    assert 100 > better > worse >= 0
    assert sentence_bleu4("es schneit", "es schneit", "word") == pytest.approx(100.0)  # effective order
    assert sentence_bleu4("", ref, "word") == 0.0
    assert sentence_bleu4("他来了", "他 来 了", "char") == pytest.approx(100.0)


def test_signature_names_the_choices():
    sig = bleu_signature("char")
    assert "tok:none" in sig and "smooth:none" in sig and "eff:no" in sig and sig.endswith("level:char")


# --- paired bootstrap ---------------------------------------------------------------------------

def test_paired_bootstrap_clear_difference_is_significant():
    rng = random.Random(1)
    refs = _sentences(rng, 40)
    good = [_corrupt(rng, r, 0.05) for r in refs]
    bad = [_corrupt(rng, r, 0.5) for r in refs]
    res = paired_bootstrap(bad, good, refs, "word", n_samples=1000, seed=12345)
    assert res["bleu4_a"] == pytest.approx(corpus_scores(bad, refs, "word")["bleu4"])
    assert res["bleu4_b"] == pytest.approx(corpus_scores(good, refs, "word")["bleu4"])
    assert res["delta"] > 20
    assert res["p_value"] < 0.01
    assert "bs:1000" in res["signature"] and "seed:12345" in res["signature"]
    assert paired_bootstrap(bad, good, refs, "word", n_samples=1000, seed=12345) == res  # deterministic


def test_paired_bootstrap_identical_or_equivalent_systems_not_significant():
    rng = random.Random(2)
    refs = _sentences(rng, 40)
    sys_a = [_corrupt(rng, r, 0.3) for r in refs]
    same = paired_bootstrap(sys_a, list(sys_a), refs, "word")
    assert same["delta"] == 0.0 and same["p_value"] == 1.0
    # different outputs of equal quality: errors in different sentences, same overall rate
    rng = random.Random(3)
    half_a = [r if i % 2 else _corrupt(rng, r, 0.3) for i, r in enumerate(refs)]
    half_b = [_corrupt(rng, r, 0.3) if i % 2 else r for i, r in enumerate(refs)]
    res = paired_bootstrap(half_a, half_b, refs, "word")
    assert res["p_value"] > 0.05


def test_paired_bootstrap_char_level_and_bad_input():
    refs = ["他 明天 去 北京", "我 今天 很 忙", "天气 很 好", "你 来 了 吗"] * 10
    res = paired_bootstrap(["我们 吃饭"] * 40, list(refs), refs, "char", n_samples=200)
    assert res["bleu4_b"] == pytest.approx(100.0) and res["p_value"] < 0.05
    with pytest.raises(ValueError):
        paired_bootstrap(["a"], ["a", "b"], ["a"], "word")
    with pytest.raises(ValueError):
        paired_bootstrap(["a"], ["a"], ["a"], "word", seed=0)


# --- reference systems --------------------------------------------------------------------------

def test_copy_question_normalises():
    assert copy_question(["Regnet es im Norden?", "Wie wird das Wetter, morgen ?"]) == [
        "regnet es im norden", "wie wird das wetter morgen"]
    assert copy_question(["Wo fällt Schnee?"], "word") == ["wo fällt schnee"]
    assert copy_question(["谁 来 了？"], "char") == ["谁 来 了？"]
    assert normalize_question('"Nord-West" ... Wind!', "word") == "nord-west wind"
    # scored by the same evaluator
    s = corpus_scores(copy_question(["Regnet es im Norden?"]), ["im norden regnet es"], "word")
    assert s["bleu1"] == pytest.approx(100.0) and s["rouge_l"] == pytest.approx(50.0)


def test_retrieve_tfidf_nearest_question():
    train_q = ["Regnet es im Norden?", "Wie wird das Wetter?", "Wo fällt Schnee?", "Regnet es im Norden?"]
    train_t = ["im norden regnet es", "es wird sonnig", "schnee fällt in den bergen", "DUPLICATE"]
    test_q = ["wie wird das wetter morgen", "Fällt Schnee im Süden?", "regnet es im norden", "xyz"]
    out = retrieve(train_q, train_t, test_q, "word")
    # exact duplicate question at index 0 and 3: lowest index wins; no shared token: index 0
    assert out == ["es wird sonnig", "schnee fällt in den bergen", "im norden regnet es", "im norden regnet es"]
    zh = retrieve(["谁 来 了？", "你 明天 去 哪里？"], ["他 来 了 。", "我 明天 去 北京 。"], ["你 去 哪里？"], "char")
    assert zh == ["我 明天 去 北京 。"]
    with pytest.raises(ValueError):
        retrieve(["a"], [], ["a"], "word")


def test_retrieve_idf_downweights_common_tokens():
    # "es" is in every train question; the rare "schnee" decides
    train_q = ["es regnet es", "es schnee", "es wind"]
    train_t = ["r", "s", "w"]
    assert retrieve(train_q, train_t, ["es es schnee"], "word") == ["s"]


def test_most_frequent():
    assert most_frequent(["es schneit", "es  regnet", "es regnet", "es schneit", "sonne"]) == "es schneit"
    assert most_frequent(["b", "a"]) == "b"  # tie: first seen
    with pytest.raises(ValueError):
        most_frequent([])
