"""Model folders load through the Hugging Face Auto classes and carry a model card (tiny CPU model)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from test_model import make_batch, tiny_config
from transformers import AutoConfig, AutoModel

from qbslt.errors import ConfigError
from qbslt.ssl_ssaw import QBSLTConfig, QBSLTModel
from qbslt.ssl_ssaw.model_card import RENDERED_NOTE
from qbslt.ssl_ssaw.run import save_model
from qbslt.training.tokenizer import train_word_tokenizer

PIPELINE = {"dataset": "phoenix", "level": "word", "frame_size": [40, 32], "max_frames": 64, "crop_size": None,
            "max_text_tokens": 40, "num_beams": 2, "max_new_tokens": 8}
TRAIN = {"stage1": {"epochs": 2, "lr": 0.002, "batch_size": 8}, "stage2": {"epochs": 4, "lr": 0.006, "batch_size": 8}}
SCORES = {"dev": {"bleu1": 11.5, "bleu2": 6.0, "bleu3": 3.1, "bleu4": 1.25, "rouge_l": 20.0},
          "test": {"bleu1": 10.0, "bleu2": 5.0, "bleu3": 2.0, "bleu4": 1.5, "rouge_l": 19.0}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A model folder as the pipeline writes it (``save_model``), of a tiny random model."""
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(fusion="ssaw")).eval()
    tok = train_word_tokenizer(["im norden fällt schnee", "Fällt Schnee im Norden?"], "word")
    out = tmp_path_factory.mktemp("hf") / "model"
    save_model(model, tok, tok, out, PIPELINE,
               card={"variant": "ssl_ssaw", "seed": 0, "train": TRAIN,
                     "metrics": {**SCORES, "epochs": 4, "best_epoch": 3}})
    return model, out


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _outputs(model: QBSLTModel):
    batch = make_batch()
    with torch.no_grad():
        return model(batch)["loss"], model.generate(batch, num_beams=2, max_new_tokens=4)


def test_auto_classes_load_the_folder_with_the_same_weights_and_outputs(folder):
    model, out = folder
    assert json.loads((out / "config.json").read_text())["model_type"] == "qbslt"
    config = AutoConfig.from_pretrained(str(out))
    assert isinstance(config, QBSLTConfig) and config.model_type == "qbslt" and config == model.config
    loaded = AutoModel.from_pretrained(str(out))
    assert type(loaded) is QBSLTModel and not loaded.training
    assert _same_state(model, loaded)
    (loss, hyps), (loss2, hyps2) = _outputs(model), _outputs(loaded)
    assert torch.equal(loss, loss2) and hyps == hyps2
    # AutoConfig's keyword overrides and unused-kwargs protocol, as AutoModel uses it
    assert AutoConfig.from_pretrained(str(out), dropout=0.25).dropout == 0.25
    assert AutoModel.from_pretrained(str(out), config=config).config == loaded.config
    with pytest.raises(TypeError, match="unsupported keyword"):
        AutoModel.from_pretrained(str(out), device_map="auto")


def test_the_model_card_has_front_matter_variant_scores_and_the_rendered_video_note(folder):
    _, out = folder
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    front, body = text.split("---\n")[1:3]
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "qbslt" and meta["license"] == "mit" and meta["language"] == ["de"]
    assert {"qbslt", "ssl_ssaw", "phoenix"} <= set(meta["tags"])
    assert "`ssl_ssaw`" in body and "seed 0" in body and "profile" not in body  # no profile passed in
    assert RENDERED_NOTE in body
    assert "| test | 10.0 | 5.0 | 2.0 | 1.5 | 19.0 |" in body and "| stage2 | 4 | 0.006 | 8 |" in body


def test_filmed_size_has_no_rendered_note_and_csl_is_chinese(tmp_path):
    from qbslt.ssl_ssaw.model_card import model_card

    text = model_card(tiny_config(), {**PIPELINE, "dataset": "csl", "frame_size": [224, 224]}, "qb_concat",
                      profile="paper")
    assert RENDERED_NOTE not in text and yaml.safe_load(text.split("---\n")[1])["language"] == ["zh"]
    assert "profile `paper`" in text and "No scores were recorded" in text


def test_a_folder_written_before_model_type_still_loads(folder, tmp_path):
    import shutil

    model, out = folder
    old = tmp_path / "old"
    shutil.copytree(out, old)
    data = json.loads((old / "config.json").read_text())
    del data["model_type"]
    (old / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    loaded = QBSLTModel.from_pretrained(old)
    assert loaded.config == model.config and _same_state(model, loaded)
    # A config of another model type is refused, not read as a QBSLT one.
    (old / "config.json").write_text(json.dumps({**data, "model_type": "bert"}))
    with pytest.raises(ConfigError, match="model_type 'bert'"):
        QBSLTConfig.from_pretrained(old)
