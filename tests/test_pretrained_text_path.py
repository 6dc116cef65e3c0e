"""The paper profile's pretrained text path, offline.

Tiny randomly initialised checkpoints stand in for ``facebook/mbart-large-cc25`` and
``bert-base-multilingual-cased``, each saved with a tokenizer of its kind trained on real
PHOENIX-2014T-QA texts: an ``MBartTokenizer`` (SentencePiece-style Unigram, ``▁`` word marker,
mBART's language codes as special tokens) and a ``BertTokenizer`` (WordPiece, ``##``
continuations). The runs go through the code the paper profile uses: ``build_tokenizer`` with
vocabulary trimming, ``run_stage1``, ``run_stage2`` (training, generation, scoring) and the model
folder that ``qbslt translate`` loads, with params.yaml resolved for profile ``paper`` and shrunk
to one step per stage on the CPU. The video side uses the tiny embedded dataset's frozen-backbone
features (the trained-backbone path is tests/test_training.py's; here it would only add CNN time).
"""

from __future__ import annotations

import copy
import functools
import json

import pandas as pd
import pytest
import torch
import yaml
from conftest import DEVICE_SETTINGS, REPO, SHARED_DATA

from qbslt import config
from qbslt.data.annotations import read_phoenix_qa
from qbslt.data.join import read_examples, write_examples
from qbslt.errors import ConfigError
from qbslt.ssl_ssaw import QBSLTConfig, QBSLTModel
from qbslt.training.checkpoint import load_weights
from qbslt.ssl_ssaw.run import RunInputs, load_split, make_collator, run_model_config, run_stage1, run_stage2
from qbslt.training.tokenizer import build_tokenizer, decode, load_tokenizer
from qbslt.training.vocab_trim import used_ids

QA_TRAIN = SHARED_DATA / "phoenix-2014t-qa" / "train.txt"
SPLIT_SIZES = {"train": 4, "dev": 2, "test": 2}
# The tiny checkpoints' depths and the paper profile's 3 / 3 / 12 scaled to them.
PRETRAINED_ENCODER, PRETRAINED_DECODER = 4, 2
LAYERS = {"encoder_layers": 2, "decoder_layers": 1, "text_encoder_layers": 4}


@pytest.fixture(scope="module")
def real_texts() -> list[tuple[str, str]]:
    """(translation, question) of the first 300 PHOENIX-2014T-QA training lines."""
    if not QA_TRAIN.is_file():
        pytest.skip(f"real PHOENIX-2014T-QA texts not found at {QA_TRAIN} "
                    "(the ../shared/data folder beside the checkout)")
    return [(r.translation, r.question) for r in read_phoenix_qa(QA_TRAIN)[:300]]


def _save_mbart(folder, texts: list[str]) -> None:
    """An mBART-cc25-like checkpoint: Unigram pieces trained on ``texts`` in an ``MBartTokenizer``
    (which adds the language codes and ``<mask>`` as special tokens), and a tiny random model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import MBartConfig, MBartForConditionalGeneration, MBartTokenizer

    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer, unigram.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    unigram.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    pieces = [tuple(piece) for piece in json.loads(unigram.to_str())["model"]["vocab"]]
    tokenizer = MBartTokenizer(vocab=pieces)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    MBartForConditionalGeneration(MBartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=PRETRAINED_ENCODER, decoder_layers=PRETRAINED_DECODER,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=128, scale_embedding=True,  # as mbart-large-cc25
        pad_token_id=1, bos_token_id=0, eos_token_id=2)).save_pretrained(str(folder))


def _save_bert(folder, texts: list[str]) -> None:
    """An mBERT-like checkpoint: WordPiece trained on ``texts`` in a cased ``BertTokenizer``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizer

    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=500, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tokenizer = BertTokenizer(vocab=wordpiece.get_vocab(), do_lower_case=False)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=PRETRAINED_ENCODER,
                         num_attention_heads=4, intermediate_size=64, max_position_embeddings=128),
              add_pooling_layer=False).save_pretrained(str(folder))


@pytest.fixture(scope="module")
def paper_setup(tiny_prepared, real_texts, tmp_path_factory) -> dict:
    """Pretrained stand-ins, a few tiny embedded examples carrying real texts, and their tokenizers
    built as the paper profile builds them (mBART: trimmed; mBERT: as is)."""
    base = tmp_path_factory.mktemp("paper")
    texts = [t for pair in real_texts for t in pair]
    _save_mbart(base / "mbart", texts)
    _save_bert(base / "bert", texts)
    pairs = iter(real_texts)
    for split, n in SPLIT_SIZES.items():
        table = read_examples(tiny_prepared["examples"] / f"{split}.tsv").head(n).copy()
        table["translation"], table["question"] = zip(*(next(pairs) for _ in range(n)))
        write_examples(table, base / "examples" / f"{split}.tsv")
    train = base / "examples" / "train.tsv"
    build_tokenizer(train, "word", str(base / "mbart"), base / "tok_mbart", trim_model_from=str(base / "mbart"))
    build_tokenizer(train, "word", str(base / "bert"), base / "tok_mbert")
    return {"base": base, "examples": base / "examples", "features": tiny_prepared["features"]}


@functools.cache
def _paper_params() -> dict:
    return config.resolve(yaml.safe_load((REPO / "params.yaml").read_text()), "paper")


def paper_config(setup: dict, variant: str) -> dict:
    """params.yaml resolved for profile 'paper', variant ``variant``, shrunk to a CPU smoke run."""
    cfg = copy.deepcopy(config.variant_config(_paper_params(), variant))
    assert cfg["model"]["decoder_start_token"]["phoenix"] == "de_DE" and not cfg["model"]["freeze_backbone"]
    cfg["model"].update(backbone_pretrained=False, freeze_backbone=True, mbart_path=str(setup["base"] / "mbart"),
                        bert_path=str(setup["base"] / "bert"), **LAYERS)
    cfg["train"].update(**DEVICE_SETTINGS, threads=2, workers=0, max_frames=16, crop_size=None)
    cfg["train"]["stage1"].update(epochs=1, batch_size=SPLIT_SIZES["train"])
    cfg["train"]["stage2"].update(epochs=1, batch_size=SPLIT_SIZES["train"])
    cfg["eval"].update(max_new_tokens=6)
    return cfg


def _inputs(setup: dict, text_model: str) -> RunInputs:
    return RunInputs("phoenix", setup["examples"], setup["features"], setup["base"] / "tok_mbart",
                     setup["base"] / f"tok_{text_model}", frame_size=(16, 16))


# ----------------------------------------------------------------------------- decoder start token
def test_language_codes_survive_trimming_and_set_the_decoder_start(paper_setup):
    base_tok = load_tokenizer(paper_setup["base"] / "mbart")
    tok = load_tokenizer(paper_setup["base"] / "tok_mbart")
    assert len(tok) < len(base_tok) // 2  # trimmed to the corpus's pieces
    keep = used_ids(base_tok, ["und nun"])
    for code in ("de_DE", "zh_CN", "en_XX"):
        assert base_tok.convert_tokens_to_ids(code) in keep  # special tokens are always kept
        assert tok.convert_ids_to_tokens([tok.convert_tokens_to_ids(code)]) == [code]

    cfg = paper_config(paper_setup, "ssl_ssaw")
    inputs = _inputs(paper_setup, "mbart")
    model_cfg = run_model_config(cfg, inputs, tok, tok)
    assert model_cfg.decoder_start_token_id == tok.convert_tokens_to_ids("de_DE") != tok.unk_token_id
    cfg["model"]["decoder_start_token"]["phoenix"] = None
    assert run_model_config(cfg, inputs, tok, tok).decoder_start_id == tok.eos_token_id
    cfg["model"]["decoder_start_token"]["phoenix"] = "xx_XX"
    unknown = r"model\.decoder_start_token\.phoenix: 'xx_XX' is not a token of .*tok_mbart"
    with pytest.raises(ConfigError, match=unknown):
        run_model_config(cfg, inputs, tok, tok)


# ----------------------------------------------------------------------------- layer counts
def _layer_count(state: dict, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def test_pretrained_mbart_keeps_the_configured_first_layers(paper_setup):
    from transformers import MBartForConditionalGeneration

    path = paper_setup["base"] / "mbart"
    pretrained = MBartForConditionalGeneration.from_pretrained(path).state_dict()
    vocab = pretrained["model.shared.weight"].shape[0]
    model_cfg = QBSLTConfig(backbone_pretrained=False, feature_dim=512, mbart_path=str(path), vocab_size=vocab,
                            fusion="concat", **LAYERS)
    model = QBSLTModel(model_cfg)
    assert len(model.video_encoder.layers) == 2 and len(model.text_decoder.layers) == 1
    assert len(model.text_encoder.encoder.layers) == 4
    assert (model.config.encoder_layers, model.config.decoder_layers, model.config.text_encoder_layers) == (2, 1, 4)
    assert model.seq2seq.config.encoder_layers == 2 and model.seq2seq.config.decoder_layers == 1
    assert model.config.d_model == 32 and model.config.scale_embedding  # the checkpoint's own sizes
    state = model.state_dict()
    for ours, theirs in (("seq2seq.model.encoder.layers.1.fc1.weight", "model.encoder.layers.1.fc1.weight"),
                         ("seq2seq.model.decoder.layers.0.fc1.weight", "model.decoder.layers.0.fc1.weight"),
                         ("text_encoder.encoder.layers.3.fc1.weight", "model.encoder.layers.3.fc1.weight"),
                         ("text_encoder.encoder.layer_norm.weight", "model.encoder.layer_norm.weight")):
        assert torch.equal(state[ours], pretrained[theirs]), ours

    # The recorded config rebuilds the same model without the checkpoint (``qbslt translate``),
    # and stage 2 takes stage 1's weights.
    again = QBSLTModel(model.config.replace(mbart_path=None))
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert again.seq2seq.get_input_embeddings().embed_scale == model.seq2seq.get_input_embeddings().embed_scale
    assert again.load_stage1(state)
    # Random init honours text_encoder_layers too; null means encoder_layers.
    random_cfg = model_cfg.replace(mbart_path=None, vocab_size=60)
    assert len(QBSLTModel(random_cfg).text_encoder.encoder.layers) == 4
    assert QBSLTModel(random_cfg.replace(text_encoder_layers=None)).config.text_encoder_layers == 2
    with pytest.raises(ConfigError, match="text_encoder_layers.*5.*4"):
        QBSLTModel(model_cfg.replace(text_encoder_layers=5))


# ----------------------------------------------------------------------------- stage 1 -> stage 2 -> decoding
@pytest.mark.parametrize("text_model,variant", [("mbart", "ssl_ssaw"), ("mbert", "ssl_ssaw_resnet_mbert")])
def test_paper_profile_text_path_runs_offline(paper_setup, tmp_path, monkeypatch, text_model, variant):
    from qbslt.translate import Translator

    cfg = paper_config(paper_setup, variant)
    assert cfg["model"]["text_model"] == text_model
    inputs = _inputs(paper_setup, text_model)
    run_stage1(config.stage1_config(cfg), 0, inputs, tmp_path / "s1", tmp_path / "ck1")
    out = {"metrics": tmp_path / "m.json", "predictions": tmp_path / "p.tsv", "dev_predictions": tmp_path / "p.dev.tsv",
           "ssaw": tmp_path / "w.json",
           "model": tmp_path / "model"}
    metrics = run_stage2(cfg, 0, inputs, tmp_path / "s1" / "model.safetensors", out, tmp_path / "ck2", variant)
    assert metrics["epochs"] == 1 and set(metrics["test"]) >= {"bleu4", "rouge_l"}

    # Hypotheses are words: the tokenizers' own decoders joined the pieces, special tokens are gone.
    hypotheses = list(pd.read_csv(out["predictions"], sep="\t", dtype=str, keep_default_na=False)["hypothesis"])
    assert len(hypotheses) == SPLIT_SIZES["test"] and any(hypotheses)
    for hypothesis in hypotheses:
        assert not any(mark in hypothesis for mark in ("▁", "##", "<", "[", "de_DE")), hypothesis

    # The model that ran: the configured depths, trimmed vocabulary, de_DE as decoder start.
    tok = load_tokenizer(inputs.decoder_tokenizer)
    recorded = json.loads((out["model"] / "config.json").read_text())
    assert {k: recorded[k] for k in LAYERS} == LAYERS and recorded["vocab_size"] == len(tok)
    assert tok.convert_ids_to_tokens([recorded["decoder_start_token_id"]]) == ["de_DE"]
    state = load_weights(out["model"] / "model.safetensors")
    assert _layer_count(state, "seq2seq.model.encoder.layers.") == 2
    assert _layer_count(state, "seq2seq.model.decoder.layers.") == 1
    text_layers = "text_encoder.encoder.layers." if text_model == "mbart" else "text_encoder.bert.encoder.layer."
    assert _layer_count(state, text_layers) == 4

    # `qbslt translate` rebuilds the model from its folder alone (mBERT from its recorded config);
    # it decodes the test split as the run did, and every generated sequence starts with de_DE.
    translator = Translator.load(out["model"])
    model, starts = translator.model, []
    generate = model.seq2seq.generate

    def spy(*args, **kwargs):
        starts.extend(kwargs["decoder_input_ids"][:, 0].tolist())
        return generate(*args, **kwargs)

    monkeypatch.setattr(model.seq2seq, "generate", spy)
    text_tok = load_tokenizer(inputs.text_tokenizer)
    test = load_split(inputs, "test", cfg, tok, text_tok)
    batch = make_collator(test, tok, text_tok)(list(range(len(test))))
    ids = model.generate(batch, num_beams=cfg["eval"]["num_beams"], max_new_tokens=cfg["eval"]["max_new_tokens"])
    assert starts and set(starts) == {recorded["decoder_start_token_id"]}
    assert [decode(tok, row, "word") for row in ids] == hypotheses
