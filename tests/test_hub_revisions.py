"""The paper profile's Hugging Face Hub models are pinned to one commit each.

``model.mbart_revision`` / ``model.bert_revision`` reach every ``from_pretrained`` of ``mbart_path`` /
``bert_path`` (the tokenizer step, the trimmed mBART, the models the runs build) as ``revision=``
when the path is a Hub id, and not at all when it is an existing local folder (a downloaded copy, or
the trimmed mBART saved beside the tokenizer). A revision whose path is null, or one that is not a
full commit hash, is a config error naming the key. No network: the loaders are mocked.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from unittest import mock

import pytest
import yaml
from conftest import REPO
from transformers import AutoTokenizer, BertModel, MBartForConditionalGeneration

from qbslt import config
from qbslt.cli import main
from qbslt.errors import ConfigError
from qbslt.experiment import Experiment
from qbslt.model.configuration import hub_kwargs
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig

MBART_ID, BERT_ID = "facebook/mbart-large-cc25", "bert-base-multilingual-cased"
MBART_REVISION = "2df0e6dd8a0e7f6df056fe4d0d95941a04b64e4f"
BERT_REVISION = "601d3f29077f9a5fd4f28a7428216707988a8b4f"


class Loaded(Exception):
    """Raised by a mocked ``from_pretrained``: the call was recorded, nothing is downloaded."""


def stop_loading(*args, **kwargs):
    raise Loaded


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def paper() -> dict:
    return config.load(REPO / "params.yaml", profile="paper")


# ----------------------------------------------------------------------------- the helper
def test_hub_kwargs_pins_a_hub_id_and_leaves_a_local_folder_alone(tmp_path):
    assert hub_kwargs(MBART_ID, MBART_REVISION) == {"revision": MBART_REVISION}
    assert hub_kwargs(MBART_ID, None) == {}  # the hub's default branch
    assert hub_kwargs(None, None) == {}
    assert hub_kwargs(str(tmp_path), MBART_REVISION) == {}  # an existing folder: loaded as it is
    assert hub_kwargs(tmp_path, MBART_REVISION) == {}
    # A path that is not (yet) a folder is a hub id to transformers: it is pinned.
    assert hub_kwargs(str(tmp_path / "missing"), MBART_REVISION) == {"revision": MBART_REVISION}


# ----------------------------------------------------------------------------- the profiles
def test_the_paper_profile_pins_both_hub_models(paper):
    model = paper["model"]
    assert (model["mbart_path"], model["mbart_revision"]) == (MBART_ID, MBART_REVISION)
    assert (model["bert_path"], model["bert_revision"]) == (BERT_ID, BERT_REVISION)
    cfg = QBSLTConfig.from_params(config.variant_config(paper, "ssl_ssaw")["model"])
    assert (cfg.mbart_revision, cfg.bert_revision) == (MBART_REVISION, BERT_REVISION)
    # Every variant of the paper matrix carries them (none overrides the pretrained paths).
    for name in config.dataset_variants(paper, "phoenix"):
        model = config.variant_config(paper, name)["model"]
        assert (model["mbart_revision"], model["bert_revision"]) == (MBART_REVISION, BERT_REVISION), name


@pytest.mark.parametrize("profile", ["embedded", "realtext"])
def test_the_cpu_profiles_have_no_pretrained_paths_nor_revisions(profile):
    model = config.load(REPO / "params.yaml", profile=profile)["model"]
    assert [model[k] for k in ("mbart_path", "bert_path", "mbart_revision", "bert_revision")] == [None] * 4


# ----------------------------------------------------------------------------- refused configs
def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("text_model", ["mbart", "bert"])
def test_a_revision_without_its_path_is_refused_naming_the_key(raw, tmp_path, capsys, text_model):
    raw["model"][f"{text_model}_revision"] = MBART_REVISION  # embedded: the path is null
    key = f"model.{text_model}_revision"
    with pytest.raises(ConfigError, match=rf"key '{re.escape(key)}': .*model\.{text_model}_path is null"):
        config.resolve(raw)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert main(["validate-params", "--params", str(tmp_path / "params.yaml")]) == 2
    assert f"key '{key}'" in _one_line(capsys.readouterr().err)


def test_a_paper_override_that_drops_the_path_but_keeps_the_revision_is_refused(raw):
    raw["overrides"]["paper"]["model"]["bert_path"] = None
    config.resolve(copy.deepcopy(raw))  # the embedded profile does not use the override
    with pytest.raises(ConfigError, match=r"\(profile paper\): key 'model\.bert_revision'"):
        config.resolve(raw, profile="paper")


def test_a_variant_that_drops_the_path_is_refused_naming_the_variant_and_key(raw):
    raw["experiment"]["variants"]["qb_concat"]["model"]["mbart_path"] = None
    with pytest.raises(ConfigError, match=r"experiment\.variants\.qb_concat: .*key 'mbart_revision'"):
        config.resolve(raw, profile="paper", check=Experiment.check)


@pytest.mark.parametrize("revision", ["main", "v1.0", MBART_REVISION[:12], MBART_REVISION.upper(),
                                      MBART_REVISION + "0", 123])
def test_a_revision_that_is_not_a_commit_hash_is_refused_by_the_schema(raw, revision):
    raw["overrides"]["paper"]["model"]["mbart_revision"] = revision
    with pytest.raises(ConfigError, match=r"\(profile paper\): key 'model\.mbart_revision'"):
        config.resolve(copy.deepcopy(raw), profile="paper")
    raw["model"].update(bert_path=BERT_ID, bert_revision=revision)  # in the base tree too
    with pytest.raises(ConfigError, match=r"^params\.yaml: key 'model\.bert_revision'"):
        config.resolve(raw)


def test_the_model_config_refuses_the_same(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'bert_revision'.*bert_path is null"):
        QBSLTConfig(bert_revision=BERT_REVISION)
    with pytest.raises(ConfigError, match=r"key 'mbart_revision'.*40-character"):
        QBSLTConfig(mbart_path=MBART_ID, mbart_revision="main")
    QBSLTConfig(mbart_path=str(tmp_path), mbart_revision=MBART_REVISION)  # a local folder: allowed, unused


# ----------------------------------------------------------------------------- the models
def _pinned_config(**changes) -> QBSLTConfig:
    base = QBSLTConfig(backbone_pretrained=False, d_model=32, ffn_dim=64, attention_heads=4, encoder_layers=1,
                       decoder_layers=1, vocab_size=64, bert_vocab_size=64, max_positions=64, contrastive_dim=32,
                       mbart_path=MBART_ID, mbart_revision=MBART_REVISION)
    return base.replace(**changes)


def test_the_model_loads_mbart_at_its_revision_and_a_local_folder_without(tmp_path):
    from qbslt.ssl_ssaw import QBSLTModel

    with mock.patch.object(MBartForConditionalGeneration, "from_pretrained", side_effect=stop_loading) as load:
        with pytest.raises(Loaded):
            QBSLTModel(_pinned_config())
        assert load.call_args == mock.call(MBART_ID, revision=MBART_REVISION)
        with pytest.raises(Loaded):  # run_model_config's trimmed mBART, or a downloaded copy
            QBSLTModel(_pinned_config(mbart_path=str(tmp_path)))
        assert load.call_args == mock.call(str(tmp_path))


def test_the_model_loads_mbert_at_its_revision_and_a_local_folder_without(tmp_path):
    from qbslt.ssl_ssaw.text_embedding import build_bert

    cfg = _pinned_config(text_model="mbert", mbart_path=None, mbart_revision=None, bert_path=BERT_ID,
                         bert_revision=BERT_REVISION)
    with mock.patch.object(BertModel, "from_pretrained", side_effect=stop_loading) as load:
        with pytest.raises(Loaded):
            build_bert(cfg)
        assert load.call_args == mock.call(BERT_ID, add_pooling_layer=False, revision=BERT_REVISION)
        with pytest.raises(Loaded):
            build_bert(cfg.replace(bert_path=str(tmp_path)))
        assert load.call_args == mock.call(str(tmp_path), add_pooling_layer=False)


def test_a_saved_model_folder_loads_without_paths_or_revisions():
    from qbslt.ssl_ssaw import QBSLTModel

    loading = QBSLTModel.config_for_loading(_pinned_config(text_model="mbert", bert_path=BERT_ID,
                                                           bert_revision=BERT_REVISION))
    assert (loading.mbart_path, loading.bert_path, loading.mbart_revision, loading.bert_revision) == (None,) * 4


# ----------------------------------------------------------------------------- the tokenizer step
@pytest.fixture
def train_examples(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("translation\tquestion\nund nun das wetter\twie wird das wetter\n", encoding="utf-8")
    return path


def _tokenizer_step(paper: dict, train_examples, out, text_model: str, **model_changes):
    """``qbslt tokenizer`` with the paper profile's model keys as the tokenizer rule passes them (its
    ``--cfg``), the Hub loaders mocked: the calls of AutoTokenizer and of mBART's from_pretrained."""
    from qbslt.cli.training import cmd_tokenizer

    from qbslt.experiment import Experiment

    settings = Experiment(paper).step_settings("tokenizer")  # what the rule passes
    assert {"mbart_revision", "bert_revision"} <= set(settings)  # a changed pin reruns the tokenizers
    cfg = settings | model_changes
    args = argparse.Namespace(cfg=json.dumps(cfg), dataset="phoenix", text_model=text_model,
                              train_examples=str(train_examples), out=str(out))
    tokenizer = mock.MagicMock()
    with (mock.patch.object(AutoTokenizer, "from_pretrained", return_value=tokenizer) as tok_load,
          mock.patch.object(MBartForConditionalGeneration, "from_pretrained", side_effect=stop_loading) as model_load,
          mock.patch("qbslt.training.vocab_trim.used_ids", return_value=[0, 1, 2, 3])):
        try:
            cmd_tokenizer(args)
        except Loaded:
            pass
    return tok_load.call_args_list, model_load.call_args_list


def test_the_tokenizer_step_reads_the_hub_models_at_their_revisions(paper, train_examples, tmp_path):
    tok, model = _tokenizer_step(paper, train_examples, tmp_path / "tok_mbart", "mbart")
    assert tok == [mock.call(MBART_ID, revision=MBART_REVISION)]
    assert model == [mock.call(MBART_ID, revision=MBART_REVISION)]  # the mBART trimmed to the corpus
    tok, model = _tokenizer_step(paper, train_examples, tmp_path / "tok_mbert", "mbert")
    assert tok == [mock.call(BERT_ID, revision=BERT_REVISION)] and model == []


def test_the_tokenizer_step_reads_a_local_folder_without_a_revision(paper, train_examples, tmp_path):
    local_mbart, local_bert = tmp_path / "mbart", tmp_path / "bert"
    local_mbart.mkdir()
    local_bert.mkdir()
    changes = {"mbart_path": str(local_mbart), "bert_path": str(local_bert)}  # the revisions stay set
    tok, model = _tokenizer_step(paper, train_examples, tmp_path / "tok_mbart", "mbart", **changes)
    assert tok == [mock.call(str(local_mbart))] and model == [mock.call(str(local_mbart))]
    tok, model = _tokenizer_step(paper, train_examples, tmp_path / "tok_mbert", "mbert", **changes)
    assert tok == [mock.call(str(local_bert))] and model == []
