"""Text tokenizers.

Embedded profile: a word-level tokenizer trained on the training split with the Hugging Face
``tokenizers`` library (PHOENIX: lower-cased words and punctuation; CSL: single characters),
wrapped as a ``PreTrainedTokenizerFast`` so the model code sees the same API as with mBART's.
Realtext profile (``model.subword_vocab_size`` set): subword tokenizers trained on the training
split, of the two kinds the pretrained models use: SentencePiece-style Unigram with the Metaspace
``▁`` word marker (mBART's kind) for the mBART side, WordPiece with ``##`` continuations (mBERT's
kind) for the BERT side.
Paper profile: the pretrained tokenizer of ``facebook/mbart-large-cc25`` /
``bert-base-multilingual-cased`` loaded from a local path or the hub.

Hypotheses are turned back into text by the tokenizer's own decoder (:func:`decode`), never by
joining token strings, so subword markers never reach the evaluation.

Special tokens (ids fixed by their order, mBART-like): ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2,
``<unk>`` 3, ``<mask>`` 4, ``<q>`` 5 — ``<q>`` separates the question from the translation in
the SSL decoder sequence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from qbslt.eval.metrics import tokenize_for_eval
from qbslt.model.configuration import hub_kwargs

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "<q>"]
TRIMMED_MODEL_DIR = "trimmed_mbart"
QUESTION_SEP = "<q>"


def for_tokenizer(text: str, level: str) -> str:
    """Text as the tokenizer sees it: CSL ('char') is split into single characters."""
    if level == "char":
        return " ".join(ch for ch in text if not ch.isspace())
    return text


def train_word_tokenizer(texts: Iterable[str], level: str, min_frequency: int = 1) -> PreTrainedTokenizerFast:
    """Word-level (or, for level='char', character-level) tokenizer over ``texts``."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=min_frequency)
    tokenizer.train_from_iterator((for_tokenizer(t, level) for t in texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", pad_token="<pad>",
                                   eos_token="</s>", unk_token="<unk>", mask_token="<mask>",
                                   additional_special_tokens=[QUESTION_SEP])


def train_gloss_tokenizer(glosses: Iterable[str]) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over gloss sequences (space-separated glosses, any language): the text
    reference systems read the glosses through it (``model.sign_input="gloss"``)."""
    return train_word_tokenizer(glosses, "word")


SUBWORD_KINDS = {"mbart": "unigram", "mbert": "wordpiece"}


def train_subword_tokenizer(texts: Iterable[str], kind: str, vocab_size: int) -> PreTrainedTokenizerFast:
    """A subword tokenizer over ``texts``: ``"unigram"`` (SentencePiece-style, Metaspace ``▁``) or
    ``"wordpiece"`` (BERT-style, ``##`` continuations). Lower-cased like the word-level one."""
    if kind == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token="<unk>")
    elif kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    else:
        raise ValueError(f"unknown subword tokenizer kind {kind!r} (expected unigram or wordpiece)")
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", pad_token="<pad>",
                                   eos_token="</s>", unk_token="<unk>", mask_token="<mask>",
                                   additional_special_tokens=[QUESTION_SEP])


def load_tokenizer(path: str | Path):
    """A tokenizer saved by ``save_pretrained`` (ours, a pretrained model's, or a trimmed one)."""
    from qbslt.training.vocab_trim import KEEP_FILE, TrimmedTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    keep = Path(path) / KEEP_FILE
    return TrimmedTokenizer(tokenizer, json.loads(keep.read_text())) if keep.exists() else tokenizer


def encode(tokenizer, texts: list[str], level: str) -> list[list[int]]:
    """Token ids without special tokens."""
    return tokenizer([for_tokenizer(t, level) for t in texts], add_special_tokens=False)["input_ids"]


def decode(tokenizer, ids: list[int], level: str) -> str:
    """Ids → text in the evaluation form: the tokenizer's own decoding (special tokens skipped;
    SentencePiece ``▁`` and WordPiece ``##`` pieces joined into words), then the evaluation
    tokens (:func:`qbslt.eval.metrics.tokenize_for_eval`: words, or characters for CSL) joined by
    single spaces."""
    text = tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return " ".join(tokenize_for_eval(text, level))


def build_tokenizer(train_examples: Path | str, level: str, pretrained: str | None, out_dir: Path | str,
                    trim_model_from: str | None = None, subword: tuple[str, int] | None = None,
                    revision: str | None = None) -> None:
    """Write the tokenizer of one (dataset, text model) to ``out_dir``.

    Without a pretrained path: a word/character-level tokenizer trained on the training
    split's translations and questions, or with ``subword`` = (kind, vocabulary size) a subword
    one (:func:`train_subword_tokenizer`). With one: that model's tokenizer plus the ``<q>``
    separator, saved locally. With ``trim_model_from`` (an mBART checkpoint), the vocabulary is
    trimmed to the tokens of the training texts (qbslt.training.vocab_trim) and the trimmed mBART
    is saved beside the tokenizer in ``TRIMMED_MODEL_DIR``, which the runs then load instead.
    ``revision``: the Hub commit both are read at when they are hub ids (``model.mbart_revision`` /
    ``model.bert_revision``; not passed for a local folder, :func:`qbslt.model.configuration.hub_kwargs`).
    """
    import pandas as pd

    examples = pd.read_csv(train_examples, sep="\t", dtype=str, keep_default_na=False)
    texts = list(examples["translation"]) + list(examples["question"])
    if not pretrained:
        tokenizer = (train_subword_tokenizer((for_tokenizer(t, level) for t in texts), *subword) if subword
                     else train_word_tokenizer(texts, level))
        tokenizer.save_pretrained(str(out_dir))
        return
    tokenizer = AutoTokenizer.from_pretrained(pretrained, **hub_kwargs(pretrained, revision))
    if QUESTION_SEP not in tokenizer.get_vocab():
        tokenizer.add_tokens([QUESTION_SEP], special_tokens=True)  # the model grows its embedding to match
    if not trim_model_from:
        tokenizer.save_pretrained(str(out_dir))
        return
    from transformers import MBartForConditionalGeneration

    from qbslt.training.vocab_trim import TrimmedTokenizer, trim_model, used_ids

    keep = used_ids(tokenizer, [for_tokenizer(t, level) for t in texts])
    model = MBartForConditionalGeneration.from_pretrained(trim_model_from, **hub_kwargs(trim_model_from, revision))
    if len(tokenizer) > model.config.vocab_size:
        model.resize_token_embeddings(len(tokenizer))
    trim_model(model, keep)
    TrimmedTokenizer(tokenizer, keep).save_pretrained(str(out_dir))
    model.save_pretrained(str(Path(out_dir) / TRIMMED_MODEL_DIR))
