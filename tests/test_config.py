import copy

import pytest
import yaml

from qbslt import config
from qbslt.errors import ConfigError
from qbslt.experiment import Experiment

from conftest import REPO


@pytest.fixture
def raw():
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_repository_params_are_valid(raw):
    resolved = config.resolve(raw)
    assert resolved["profile"] == "embedded"
    assert resolved["data"]["frame_size"] == raw["data"]["frame_size"]


def test_paper_profile_applies_overrides(raw):
    resolved = config.resolve(raw, profile="paper")
    assert resolved["profile"] == "paper"
    assert resolved["data"]["frame_size"] == raw["overrides"]["paper"]["data"]["frame_size"]
    assert raw["data"]["frame_size"] != resolved["data"]["frame_size"]  # base not mutated


@pytest.mark.parametrize("path, message", [
    (["data", "frame_sise"], "unknown key 'data.frame_sise'"),
    (["data", "synthetic", "render", "noise"], "unknown key 'data.synthetic.render.noise'"),
    (["typo_top"], "unknown key 'typo_top'"),
])
def test_unknown_key_names_its_path(raw, path, message):
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = 1
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        config.resolve(raw)


def test_ill_typed_key_names_its_path(raw):
    raw["data"]["synthetic"]["phoenix"]["train"] = "many"
    with pytest.raises(ConfigError, match=r"data\.synthetic\.phoenix\.train"):
        config.resolve(raw)


@pytest.mark.parametrize("key, value", [("micro_batch_size", 0), ("augment", {"temporal_scale": 1.5,
                                         "brightness": 0, "contrast": 0, "saturation": 0})])
def test_memory_and_augmentation_keys_are_checked(raw, key, value):
    raw["train"][key] = value
    with pytest.raises(ConfigError, match=rf"train\.{key}"):
        config.resolve(raw)


def test_bad_profile_value(raw):
    raw["profile"] = "cluster"
    with pytest.raises(ConfigError, match="profile"):
        config.resolve(raw)


def test_unknown_key_inside_override_fails(raw):
    raw["overrides"]["paper"]["data"]["frame_sizes"] = [1, 2]
    with pytest.raises(ConfigError, match=r"overrides\.paper\.data\.frame_sizes"):
        config.resolve(raw, profile="paper")


def test_missing_key_is_not_defaulted(raw):
    del raw["data"]["synthetic"]["seed"]
    with pytest.raises(ConfigError, match="seed"):
        config.resolve(raw)


def test_load_reports_file_name(tmp_path, raw):
    bad = copy.deepcopy(raw)
    bad["data"]["oops"] = True
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"custom\.yaml: unknown key 'data\.oops'"):
        config.load(path)
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "missing.yaml")


def repeated_eval_block(tmp_path):
    """params.yaml with a second `eval:` block appended; returns (path, line of the first, line of the second)."""
    text = (REPO / "params.yaml").read_text()
    lines = text.splitlines()
    path = tmp_path / "params.yaml"
    path.write_text(text + "\neval:\n  num_beams: 2\n")
    return path, lines.index("eval:") + 1, len(lines) + 2


def test_a_repeated_key_is_rejected_naming_the_key_and_both_lines(tmp_path):
    path, first, second = repeated_eval_block(tmp_path)
    with pytest.raises(ConfigError, match=rf"params\.yaml:{second}: key 'eval' appears twice .*lines {first} and {second}"):
        config.load(path)
    nested = tmp_path / "nested.yaml"  # also inside a mapping, and under a profile override
    nested.write_text("overrides:\n  paper:\n    eval: {}\n    eval: {}\n")
    with pytest.raises(ConfigError, match=r"nested\.yaml:4: key 'eval' .*lines 3 and 4"):
        config.read_yaml(nested)


def test_config_hash_is_order_independent():
    assert config.config_hash({"a": 1, "b": [1, 2]}) == config.config_hash({"b": [1, 2], "a": 1})
    assert config.config_hash({"a": 1}) != config.config_hash({"a": 2})


def test_variant_override_with_unknown_key_fails(raw):
    raw["experiment"]["variants"]["ssl_tcn"] = {"model": {"fusoin": "tcn"}}
    with pytest.raises(ConfigError, match=r"experiment\.variants\.ssl_tcn\.model\.fusoin"):
        config.resolve(raw)


def test_variant_override_with_bad_value_fails(raw):
    raw["experiment"]["variants"]["ssl_tcn"] = {"model": {"fusion": "gru"}}
    with pytest.raises(ConfigError, match=r"variant ssl_tcn.*model\.fusion"):
        config.resolve(raw)


def test_dataset_lists_known_variants(raw):
    raw["experiment"]["datasets"]["csl"] = ["ssl_ssaw", "nope"]
    with pytest.raises(ConfigError, match="unknown variant 'nope'"):
        config.resolve(raw)


def test_optimiser_typo_fails(raw):
    raw["train"]["stage2"]["epoch"] = 3
    with pytest.raises(ConfigError, match=r"train\.stage2"):
        config.resolve(raw)


def test_variant_config_merges_overrides(raw):
    resolved = config.resolve(raw)
    tcn = config.variant_config(resolved, "ssl_tcn")
    assert tcn["model"]["fusion"] == "tcn" and tcn["model"]["ssl"] is True
    assert config.variant_config(resolved, "gfslt_vlp")["model"]["inputs"] == "sign"
    assert config.dataset_variants(resolved, "phoenix") == list(raw["experiment"]["variants"])
    assert config.dataset_variants(resolved, "csl") == ["gfslt_vlp", "qb_concat", "ssl_ssaw"]


@pytest.mark.parametrize("where, value, message", [
    (("train", "stage2", "epochs"), "ten", "key 'train.stage2.epochs': 'ten' is not of type 'integer'"),
    (("train", "stage1", "lr"), -1, "key 'train.stage1.lr'"),
    (("train", "stage2", "epoch"), 3, "unknown key 'train.stage2.epoch'"),
])
def test_stage_keys_name_themselves(raw, where, value, message):
    """The stage schedules share a definition (allOf); an error still names its own key."""
    section, stage, key = where
    raw[section][stage][key] = value
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        config.resolve(raw)


def test_inconsistent_variant_fails_before_any_job_naming_variant_and_key(raw):
    """Every variant's model config is built at validation time, as the runs build it."""
    raw["experiment"]["variants"]["sign_with_ssl"] = {"model": {"inputs": "sign"}}  # ssl stays true
    with pytest.raises(ConfigError, match=r"experiment\.variants\.sign_with_ssl: .*key 'ssl'"):
        config.resolve(raw, check=Experiment.check)


def test_realtext_profile_runs_phoenix_only_with_subword_tokenizers(raw):
    resolved = config.resolve(raw, profile="realtext")
    assert resolved["data"]["datasets"] == ["phoenix"]
    assert resolved["model"]["subword_vocab_size"] and resolved["model"]["mbart_path"] is None
    assert set(config.dataset_variants(resolved, "phoenix")) >= {
        "question_only", "sign_only", "gfslt_vlp", "qb_concat", "ssl_ssaw", "ssl_concat", "qb_ssaw"}


def test_report_only_keys_are_not_part_of_a_run_config(raw):
    resolved = config.resolve(raw)
    assert "bootstrap_samples" not in config.variant_config(resolved, "ssl_ssaw")["eval"]


def test_variant_seeds_replace_the_global_seeds_of_that_variant_only(raw):
    raw = copy.deepcopy(raw)
    raw["experiment"]["seeds"] = [0]
    raw["experiment"]["variant_seeds"] = {"sign_only": [0, 1, 2]}
    tree = config.resolve(raw)
    assert config.variant_seeds(tree, "sign_only") == [0, 1, 2] and config.variant_seeds(tree, "ssl_ssaw") == [0]
    raw["experiment"]["variant_seeds"] = {"sign_onyl": [0]}
    with pytest.raises(ConfigError, match="experiment.variant_seeds.sign_onyl"):
        config.resolve(raw)


def test_text_references_share_stage1_and_read_glosses(raw):
    tree = config.resolve(raw)
    for name in ("gloss_text", "question_gloss_text"):
        cfg = config.variant_config(tree, name)
        assert cfg["model"]["sign_input"] == "gloss" and not cfg["model"]["ssl"]
        assert config.stage1_key(cfg) == config.stage1_key(config.variant_config(tree, "qb_concat"))
        assert config.variant_seeds(tree, name) == [0]  # a bound, not a comparison: one seed


def test_realtext_runs_three_seeds_for_every_trained_row(raw):
    """Every trained row of realtext Tables 1, 4 and 7, the text references included: every comparison of
    the claims table has n = 3 on both sides (the embedded profile keeps one seed for the references)."""
    from qbslt.reports.layout import DEFAULT_LAYOUT, load_yaml

    tree = config.resolve(raw, "realtext")
    rows = set(config.dataset_variants(tree, "phoenix"))
    layout = load_yaml(DEFAULT_LAYOUT)
    compared = set().union(*(config.table_variants(layout["tables"][f"table{n}"]) for n in (1, 4, 7))) & rows
    assert {"gloss_text", "question_gloss_text", "qb_concat", "ssl_ssaw", "question_only", "sign_only"} <= compared
    for name in compared:
        assert config.variant_seeds(tree, name) == [0, 1, 2], name
    assert config.variant_seeds(config.resolve(raw, "embedded"), "gloss_text") == [0]


@pytest.mark.parametrize("path", [REPO / "params.yaml", config.SCHEMA, config.LAYOUT,
                                  REPO / "src" / "qbslt" / "reports" / "paper_results.yaml"])
def test_the_cached_yaml_reader_gives_what_pyyaml_gives(path):
    expected = yaml.safe_load(open(path, encoding="utf-8"))
    assert config.load_yaml_file(path) == expected
    assert config.load_yaml_file(path) == expected  # from the cache


def test_the_cached_yaml_reader_hands_out_copies_and_rereads_a_changed_file(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: {b: 1}\n")
    config.load_yaml_file(path)["a"]["b"] = 99
    assert config.load_yaml_file(path) == {"a": {"b": 1}}
    path.write_text("a: {b: 22}\n")  # another size: a new stamp
    assert config.load_yaml_file(path) == {"a": {"b": 22}}
