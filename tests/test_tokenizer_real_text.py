"""Subword tokenizers on the real PHOENIX-2014T-QA texts: decoding gives words, never pieces.

Both kinds the pretrained models use are trained here with Hugging Face ``tokenizers`` on the
real training split: SentencePiece-style (Metaspace ``▁``, mBART's kind) and WordPiece (``##``,
mBERT's kind). Every dev sentence must come back as its own words after encode + decode.
"""

import pytest

from conftest import SHARED_DATA
from qbslt.data.annotations import read_phoenix_qa
from qbslt.training.tokenizer import decode, encode, load_tokenizer, train_subword_tokenizer


@pytest.fixture(scope="module")
def phoenix_texts():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_DATA} (the ../shared/data folder beside the checkout)")
    shared = SHARED_DATA / "phoenix-2014t-qa"
    train = read_phoenix_qa(shared / "train.txt", expected_split="train")
    dev = read_phoenix_qa(shared / "dev.txt", expected_split="dev")
    return [r.translation for r in train] + [r.question for r in train], [r.translation for r in dev]


@pytest.mark.parametrize("kind, marker", [("unigram", "▁"), ("wordpiece", "##")])
def test_decode_gives_back_the_words_of_every_dev_sentence(phoenix_texts, tmp_path, kind, marker):
    train_texts, dev = phoenix_texts
    tokenizer = train_subword_tokenizer(train_texts, kind, vocab_size=1000)
    tokenizer.save_pretrained(str(tmp_path / kind))
    tokenizer = load_tokenizer(tmp_path / kind)  # what the runs load
    seen = set("".join(train_texts).lower())
    ids = encode(tokenizer, dev, "word")
    assert any(len(row) > len(text.split()) for row, text in zip(ids, dev))  # really subwords
    pieces = " ".join(tokenizer.convert_ids_to_tokens(ids[0]))
    assert marker in pieces or kind == "unigram"  # the raw pieces carry the marker ...
    for text, row in zip(dev, ids):
        words = [w for w in text.lower().split() if set(w) <= seen]  # characters never seen in train: <unk>
        decoded = decode(tokenizer, row, "word")
        assert marker not in decoded  # ... the decoded hypothesis never does
        assert [w for w in decoded.split() if set(w) <= seen] == words, text


def test_decode_skips_special_tokens_and_applies_the_evaluation_form(phoenix_texts):
    train_texts, dev = phoenix_texts
    tokenizer = train_subword_tokenizer(train_texts, "unigram", vocab_size=1000)
    row = encode(tokenizer, [dev[0]], "word")[0]
    special = [tokenizer.bos_token_id, *row, tokenizer.convert_tokens_to_ids("<q>"), tokenizer.eos_token_id,
               tokenizer.pad_token_id]
    assert decode(tokenizer, special, "word") == " ".join(dev[0].lower().split())
    # CSL is scored on characters: the same decoding, then one token per character.
    chars = train_subword_tokenizer(["他 今 年 四 岁 。", "我 今 天 很 好 。"], "unigram", vocab_size=30)
    assert decode(chars, encode(chars, ["他今年四岁。"], "char")[0], "char") == "他 今 年 四 岁 。"
