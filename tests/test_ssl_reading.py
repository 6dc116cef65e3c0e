"""The two readings of the question self-supervision (Eq. 5-7), ``model.ssl_reading``:

* ``prefix``:    one decoder pass over D + <q> + S; the gold question is forced as the decoder prefix at
  inference;
* ``auxiliary``: L_D in a decoder pass of its own (<q> + D -> D + eos), the translation pass
  [start] + S has no question prefix, nor does decoding. The question still reaches the translation
  through the encoder side (fusion + Video Encoder).

Tiny random models on a CPU (docs/model-choices.md, "SSL: two readings of Eq. 5-7").
"""

from __future__ import annotations

import copy

import pytest
import torch
import yaml
from transformers import AutoConfig

from qbslt import config
from qbslt.errors import ConfigError
from qbslt.ssl_ssaw import QBSLTConfig, QBSLTModel
from qbslt.ssl_ssaw.run import decoding_order

from conftest import REPO
from test_model import EOS, SEP, V, make_batch, tiny_config, train_steps

READINGS = ("prefix", "auxiliary")


def twin_models(**overrides) -> dict[str, QBSLTModel]:
    """One model per reading with the same weights: the reading adds no parameter, so the same seed
    builds the same state dict and every difference below comes from what the decoder is given."""
    models = {}
    for reading in READINGS:
        torch.manual_seed(0)
        models[reading] = QBSLTModel(tiny_config(ssl=True, ssl_reading=reading, **overrides))
    a, b = (models[r].state_dict() for r in READINGS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return models


class DecoderInputs:
    """Records the ``input_ids`` of every call of a model's Text Decoder (teacher forcing and generation)."""

    def __init__(self, model: QBSLTModel):
        self.calls: list[torch.Tensor] = []
        self.handle = model.text_decoder.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        self.calls.append((kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]).clone())

    def __enter__(self) -> "DecoderInputs":
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def other_question_dec_ids(batch: dict) -> dict:
    """``batch`` with other decoder-side question tokens (same lengths and mask), the encoder-side
    question (``question_ids``) unchanged."""
    qd = batch["question_dec_ids"]
    other = torch.randint(6, V, qd.shape, generator=torch.Generator().manual_seed(99))
    other = torch.where(batch["question_dec_mask"].bool(), other, qd)
    assert not torch.equal(other, qd)
    return dict(batch, question_dec_ids=other)


def valid(row: torch.Tensor, mask: torch.Tensor) -> list[int]:
    return row[mask.bool()].tolist()


# ----------------------------------------------------------------------------- configuration
def test_config_default_choices_and_round_trip():
    assert tiny_config().ssl_reading == "prefix" and tiny_config().question_prefix
    cfg = tiny_config(ssl_reading="auxiliary")
    assert not cfg.question_prefix
    assert QBSLTConfig.from_dict(cfg.to_dict()) == cfg and cfg.to_dict()["ssl_reading"] == "auxiliary"
    with pytest.raises(ConfigError, match="ssl_reading.*'both' is not one of prefix, auxiliary"):
        tiny_config(ssl_reading="both")
    # From a params.yaml model tree (the runs build it so): the key reaches the config; a stage-1 tree
    # has no stage-2 keys and gets the default.
    tree = config.load(REPO / "params.yaml")
    model = config.variant_config(tree, "ssl_ssaw_prefix")["model"]
    assert QBSLTConfig.from_params(model).ssl_reading == "prefix"
    assert QBSLTConfig.from_params(config.variant_config(tree, "ssl_ssaw")["model"]).ssl_reading == "auxiliary"
    stage1 = config.stage1_config(config.variant_config(tree, "ssl_ssaw_prefix"))["model"]
    assert "ssl_reading" not in stage1 and QBSLTConfig.from_params(stage1).ssl_reading == "prefix"


def test_without_ssl_the_reading_is_ignored():
    """ssl_reading has no meaning without ssl (like ssl_weight): accepted, and the model is the ssl=false one."""
    batch = make_batch()
    out = {}
    for reading in READINGS:
        torch.manual_seed(0)
        model = QBSLTModel(tiny_config(ssl=False, ssl_reading=reading))
        assert not model.config.question_prefix
        with DecoderInputs(model) as seen:
            losses = model.translation_losses(batch)
        assert len(seen.calls) == 1 and float(losses["l_d"]) == 0.0
        out[reading] = (losses, model.generate(batch, num_beams=2, max_new_tokens=4))
    assert torch.equal(out["prefix"][0]["loss"], out["auxiliary"][0]["loss"])
    assert out["prefix"][1] == out["auxiliary"][1]


def test_params_default_to_the_dev_chosen_reading_and_run_the_other_on_embedded():
    """Dev chose the auxiliary reading (docs/model-choices.md): the default of every SSL row. The embedded
    matrix keeps the other reading's row beside ssl_ssaw, sharing its stage 1; realtext made the choice in a
    dev sweep and does not run it; the paper profile does not either."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert raw["model"]["ssl_reading"] == "auxiliary"
    assert raw["experiment"]["variants"]["ssl_ssaw_prefix"] == {"model": {"ssl_reading": "prefix"}}
    tree = config.resolve(copy.deepcopy(raw), "embedded")
    assert "ssl_ssaw_prefix" in config.dataset_variants(tree, "phoenix")
    other, chosen = (config.variant_config(tree, v) for v in ("ssl_ssaw_prefix", "ssl_ssaw"))
    assert config.stage1_key(other) == config.stage1_key(chosen)     # a stage-2 key: one shared stage 1
    assert config.variant_seeds(tree, "ssl_ssaw_prefix") == config.variant_seeds(tree, "ssl_ssaw")
    for profile in ("realtext", "paper"):
        tree = config.resolve(copy.deepcopy(raw), profile)
        assert "ssl_ssaw_prefix" not in config.dataset_variants(tree, "phoenix"), profile
        assert config.variant_config(tree, "ssl_ssaw")["model"]["ssl_reading"] == "auxiliary", profile
    bad = copy.deepcopy(raw)
    bad["model"]["ssl_reading"] = "both"
    with pytest.raises(ConfigError, match=r"key 'model\.ssl_reading'"):
        config.resolve(bad)


# ----------------------------------------------------------------------------- training: which pass predicts what
def test_the_readings_feed_the_decoder_differently():
    models, batch = twin_models(), make_batch()
    start = models["prefix"].config.decoder_start_id
    qd, qdm, labels = batch["question_dec_ids"], batch["question_dec_mask"], batch["labels"]
    losses, calls = {}, {}
    for reading, model in models.items():
        with DecoderInputs(model) as seen:
            losses[reading] = model.translation_losses(batch)
        calls[reading] = seen.calls
    assert len(calls["prefix"]) == 1 and len(calls["auxiliary"]) == 2
    (one,), (question_pass, translation_pass) = calls["prefix"], calls["auxiliary"]
    for b in range(qd.shape[0]):
        q, s = valid(qd[b], qdm[b]), valid(labels[b], labels[b] != -100)
        # prefix: [start] + D + <q> + S[:-1], one sequence
        assert one[b, :len(q) + len(s) + 1].tolist() == [start] + q + [SEP] + s[:-1]
        # auxiliary, Eq. 5's pass: <q> + D (predicting D + eos); Eq. 6's pass: [start] + S[:-1], no question
        assert question_pass[b, :len(q) + 1].tolist() == [SEP] + q
        assert translation_pass[b, :len(s)].tolist() == [start] + s[:-1]
    assert translation_pass.shape[1] == labels.shape[1]          # no room for a prefix
    assert question_pass.shape[1] == qd.shape[1] + 1
    for key in ("l_d", "l_s"):
        assert not torch.allclose(losses["prefix"][key], losses["auxiliary"][key]), key
    for out in losses.values():                                  # Eq. 7 in both readings
        assert torch.allclose(out["loss"], out["l_d"] + out["l_s"])


def test_auxiliary_question_targets_end_with_eos():
    model, batch = twin_models()["auxiliary"], make_batch()
    targets = model.question_targets(batch)
    for b, n in enumerate(batch["question_dec_mask"].sum(1).tolist()):
        assert targets[b, :n + 1].tolist() == batch["question_dec_ids"][b, :n].tolist() + [EOS]
        assert torch.all(targets[b, n + 1:] == -100)


def test_auxiliary_translation_loss_never_reads_the_decoder_question():
    """L_S of the auxiliary reading is the same whatever the decoder-side question tokens; L_D follows them.
    With the prefix reading the same change moves L_S (the question is the translation's prefix)."""
    models, batch = twin_models(), make_batch()
    other = other_question_dec_ids(batch)
    aux, pre = models["auxiliary"], models["prefix"]
    a, b = aux.translation_losses(batch), aux.translation_losses(other)
    assert torch.equal(a["l_s"], b["l_s"]) and not torch.allclose(a["l_d"], b["l_d"])
    assert not torch.allclose(pre.translation_losses(batch)["l_s"], pre.translation_losses(other)["l_s"])


def test_ssl_weight_weighs_the_auxiliary_pass():
    batch = make_batch()
    torch.manual_seed(0)
    out = QBSLTModel(tiny_config(ssl=True, ssl_reading="auxiliary", ssl_weight=0.25)).translation_losses(batch)
    assert torch.allclose(out["loss"], 0.25 * out["l_d"] + out["l_s"]) and out["l_d"].item() > 0


# ----------------------------------------------------------------------------- generation
def test_auxiliary_generation_has_no_question_prefix():
    models, batch = twin_models(), make_batch()
    start = models["prefix"].config.decoder_start_id
    with DecoderInputs(models["auxiliary"]) as seen:
        out = models["auxiliary"].generate(batch, num_beams=3, max_new_tokens=5)
    assert len(seen.calls) >= 1 and torch.all(seen.calls[0] == start) and seen.calls[0].shape[1] == 1
    # Decoder-side question changed or absent: the same translations.
    assert models["auxiliary"].generate(other_question_dec_ids(batch), num_beams=3, max_new_tokens=5) == out
    no_question = {k: v for k, v in batch.items() if not k.startswith("question_dec")}
    assert models["auxiliary"].generate(no_question, num_beams=3, max_new_tokens=5) == out
    # The prefix reading decodes after [start] + D + <q>, one generate call per prefix length.
    with DecoderInputs(models["prefix"]) as seen:
        models["prefix"].generate(batch, num_beams=1, max_new_tokens=5)
    lengths = batch["question_dec_mask"].sum(1).tolist()
    first_calls = [c for c in seen.calls if c.shape[1] > 1]
    assert sorted(c.shape[1] for c in first_calls) == sorted(n + 2 for n in lengths)
    for c in first_calls:
        assert c[0, 0] == start and c[0, -1] == SEP


def test_auxiliary_still_reads_the_question_on_the_encoder_side():
    """What the input-reliance check's shuffled question changes for the auxiliary reading: the
    encoder-side question (question_ids), which reaches the translation through h_j."""
    model, batch = twin_models()["auxiliary"].eval(), make_batch()
    other = dict(batch, question_ids=torch.randint(6, V, batch["question_ids"].shape))
    with torch.no_grad():
        a, _, _ = model.encode(batch)
        b, _, _ = model.encode(other)
        assert not torch.allclose(a, b)
        # untrained, L_S barely moves (about log V either way), but it moves
        assert not torch.equal(model.translation_losses(batch)["l_s"], model.translation_losses(other)["l_s"])


def test_auxiliary_generation_reproduces_the_translation_after_overfitting():
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(ssl=True, ssl_reading="auxiliary", fusion="ssaw"))
    batch = make_batch(seed=3, video_lens=(12, 7), q_lens=(5, 3), qd_lens=(4, 2), label_lens=(6, 4))
    hist = train_steps(model, model.translation_losses, batch, steps=150, lr=3e-3)
    assert hist[-1]["l_d"] < hist[0]["l_d"] * 0.5 and hist[-1]["l_s"] < hist[0]["l_s"] * 0.5
    out = model.generate(batch, num_beams=4, max_new_tokens=10)
    expected = [[t for t in row.tolist() if t not in (-100, EOS)] for row in batch["labels"]]
    assert out == expected                       # the translation, not the question (the passes' start tokens differ)


def test_decoding_order_sorts_only_question_prefixes():
    class Split:
        question_dec_ids = [[7] * 5, [7] * 2, [7] * 4, [7]]

        def __len__(self):
            return len(self.question_dec_ids)

    models = twin_models()
    assert decoding_order(models["auxiliary"], Split()) == [0, 1, 2, 3]
    assert decoding_order(models["prefix"], Split()) == [3, 1, 2, 0]


# ----------------------------------------------------------------------------- model folder
def test_save_pretrained_round_trip_keeps_the_reading(tmp_path):
    model, batch = twin_models()["auxiliary"].eval(), make_batch()
    model.save_pretrained(tmp_path / "m")
    assert QBSLTConfig.from_pretrained(tmp_path / "m").ssl_reading == "auxiliary"
    assert AutoConfig.from_pretrained(tmp_path / "m").ssl_reading == "auxiliary"
    again = QBSLTModel.from_pretrained(tmp_path / "m")
    assert again.config == model.config and not again.config.question_prefix
    assert again.generate(batch, num_beams=2, max_new_tokens=4) == model.generate(batch, num_beams=2, max_new_tokens=4)
    # A config.json written before the key existed loads as the prefix reading (the only one there was).
    data = model.config.to_dict()
    del data["ssl_reading"]
    assert QBSLTConfig.from_dict(data).ssl_reading == "prefix"


# ----------------------------------------------------------------------------- a run of the variant
def test_a_stage2_run_of_the_auxiliary_variant(tiny_prepared, tmp_path):
    """run_stage2 of ssl_ssaw (the auxiliary reading, the default) on the tiny prepared data: the result contract, the input-reliance
    check (the encoder-side question shuffled) and a model folder that records the reading."""
    from qbslt.ssl_ssaw.run import RunInputs, run_stage2

    cfg = config.variant_config(tiny_prepared["params"], "ssl_ssaw")
    cfg["train"]["stage2"].update(epochs=1, eval_every=1)
    inputs = RunInputs("phoenix", tiny_prepared["examples"], tiny_prepared["features"], tiny_prepared["tokenizer"],
                       tiny_prepared["tokenizer"], frame_size=(16, 16))
    out = {"metrics": tmp_path / "m.json", "predictions": tmp_path / "p.tsv", "dev_predictions": tmp_path / "p.dev.tsv",
           "ssaw": tmp_path / "w.json",
           "model": tmp_path / "model"}
    metrics = run_stage2(cfg, 0, inputs, None, out, tmp_path / "ck", "ssl_ssaw")
    for split in ("dev", "test"):
        assert {"shuffled_video", "shuffled_question"} <= set(metrics[split])
    saved = QBSLTConfig.from_pretrained(out["model"])
    assert saved.ssl and saved.ssl_reading == "auxiliary"
    assert "| ssl reading (Eq. 5-7) | auxiliary |" in (out["model"] / "README.md").read_text()
