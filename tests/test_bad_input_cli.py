"""A user's mistake in the config, a score file, an annotation file, a translate argument or a model
file ends in one line naming the file, line or key, with no traceback."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from qbslt import config
from qbslt.cli import main
from qbslt.errors import AnnotationError, ConfigError, QbsltError

TEST_CONFIG = REPO / ".test" / "config" / "params.yaml"


def raw_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


def set_key(tree: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[last] = value
    return tree


def write_yaml(path, tree) -> None:
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")


def dry_run(workdir, *args) -> subprocess.CompletedProcess:
    """`snakemake -n` of the repository's Snakefile in ``workdir`` (which holds the params.yaml)."""
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                           "--cores", "1", "-n", *args], cwd=workdir, capture_output=True, text=True, timeout=300)


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- 1. numbers must be finite -----------------------------------------------------------------------

@pytest.mark.parametrize("key, value, spelled", [
    ("train.stage2.lr", float("inf"), ".inf"),
    ("train.grad_clip", float("nan"), ".nan"),
    ("train.stage2.weight_decay", float("nan"), ".nan"),
    ("train.checkpoint_seconds", float("nan"), ".nan"),
    ("overrides.paper.train.stage2.lr", float("-inf"), "-.inf"),
    ("experiment.variants.ssl_tcn.train", {"stage2": {"lr": float("inf")}}, ".inf"),
])
def test_a_non_finite_number_is_a_config_error_naming_its_key(tmp_path, capsys, key, value, spelled):
    params = raw_params()
    set_key(params, key, value)
    write_yaml(tmp_path / "params.yaml", params)
    full_key = key if isinstance(value, float) else f"{key}.stage2.lr"
    expected = f"key '{full_key}': {spelled} is not a finite number"
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        config.load(tmp_path / "params.yaml")
    assert main(["validate-params", "--params", str(tmp_path / "params.yaml")]) == 2
    assert expected in one_error_line(capsys.readouterr().err)


def test_a_non_finite_number_fails_the_dry_run_naming_its_key_and_file(tmp_path):
    """The .test/ config plus a --configfile of one .inf: the dry run fails naming that file and key."""
    (tmp_path / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    write_yaml(tmp_path / "bad.yaml", {"train": {"stage2": {"lr": float("inf")}}})
    result = dry_run(tmp_path, "--configfile", str(TEST_CONFIG), str(tmp_path / "bad.yaml"))
    assert result.returncode != 0
    assert f"--configfile {tmp_path / 'bad.yaml'}: key 'train.stage2.lr': .inf is not a finite number" in \
        result.stdout + result.stderr


# --- 2. an error of a --config override is the override's --------------------------------------------

@pytest.mark.parametrize("override, message", [
    ('train={"stage2": {"lr": "x"}}', "key 'train.stage2.lr': 'x' is not of type 'number'"),
    ("trian=1", "unknown key 'trian'"),
])
def test_a_bad_config_override_is_blamed_on_the_command_line_not_the_file(tmp_path, override, message):
    (tmp_path / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    result = dry_run(tmp_path, "--configfile", str(TEST_CONFIG), "--config", override)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{config.CLI_CONFIG}: {message}" in output or f"{config.CLI_CONFIG} (profile embedded): {message}" \
        in output, output
    assert "params.yaml:" not in output and "params.yaml (" not in output


def test_a_nested_config_override_is_typed_as_in_the_file(tmp_path):
    """Snakemake reads a nested --config value's scalars as text ('3'); the workflow types them as
    params.yaml would, so `--config 'train={"stage2": {"epochs": 3}}'` sets a number."""
    (tmp_path / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    result = dry_run(tmp_path, "--configfile", str(TEST_CONFIG), "--config", 'train={"stage2": {"epochs": 3}}')
    assert result.returncode == 0, result.stdout + result.stderr
    assert config.typed_cli_config({"train": {"stage2": {"epochs": "3", "lr": "0.5", "x": "text"}}}) == \
        {"train": {"stage2": {"epochs": 3, "lr": 0.5, "x": "text"}}}


def test_each_config_layer_is_blamed_for_its_own_error():
    base = raw_params()
    base["overrides"]["paper"]["train"]["stage2"]["lr"] = "fast"
    layers = [("params.yaml", base), ("--configfile my.yaml", {"eval": {"num_beams": 2}}),
              (config.CLI_CONFIG, {"profile": "paper"})]
    tree = config.deep_merge(config.deep_merge(base, layers[1][1]), layers[2][1])
    # The file's paper section is wrong: `--config profile=paper` only shows it.
    with pytest.raises(ConfigError, match=r"^params\.yaml \(profile paper\): key 'train\.stage2\.lr'"):
        config.resolve_layers(tree, layers)
    layers[2] = (config.CLI_CONFIG, {"profile": "papr"})
    with pytest.raises(ConfigError, match=rf"^{config.CLI_CONFIG}: key 'profile'"):
        config.resolve_layers(config.deep_merge(raw_params(), layers[2][1]), [("params.yaml", raw_params()),
                                                                               layers[2]])
    good = raw_params()
    assert config.resolve_layers(good, [("params.yaml", good)]) == config.resolve(good)


# --- 3. a matrix that renders no table fails up front -------------------------------------------------

NO_TABLE = {"phoenix": ["ssl_ssaw", "gfslt_vlp"], "csl": ["ssl_ssaw"]}


def test_a_matrix_that_renders_no_table_fails_validation_naming_what_is_missing(tmp_path, capsys):
    params = raw_params()
    params["experiment"]["datasets"] = NO_TABLE
    write_yaml(tmp_path / "params.yaml", params)
    assert main(["validate-params", "--params", str(tmp_path / "params.yaml")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "key 'experiment.datasets'" in line and "none of Tables 1-8" in line
    assert "Table 1, needs qb_concat on phoenix (experiment.datasets.phoenix)" in line


def test_a_matrix_that_renders_no_table_fails_the_dry_run(tmp_path):
    """Before: the dry run passed, every run trained, and the `tables` job failed at the very end
    (`qbslt tables --tables` with no table numbers)."""
    (tmp_path / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    result = dry_run(tmp_path, "--configfile", str(TEST_CONFIG), "--config",
                     f"experiment={json.dumps({'datasets': NO_TABLE})}")
    assert result.returncode != 0
    assert "renders none of Tables 1-8" in result.stdout + result.stderr


@pytest.mark.parametrize("datasets, data_datasets", [
    (NO_TABLE, ["phoenix", "csl"]),
    ({"phoenix": ["gfslt_vlp", "qb_concat", "ssl_ssaw"], "csl": ["ssl_ssaw"]}, ["phoenix", "csl"]),
    ({"phoenix": ["ssl_ssaw"], "csl": ["gfslt_vlp", "qb_concat", "ssl_ssaw"]}, ["phoenix", "csl"]),
    ({"phoenix": ["ssl_ssaw"], "csl": ["gfslt_vlp", "qb_concat", "ssl_ssaw"]}, ["phoenix"]),
    ({"phoenix": ["question_only", "sign_only", "ssl_ssaw"], "csl": ["ssl_ssaw"]}, ["phoenix"]),
    ({"phoenix": ["question_only", "ssl_ssaw"], "csl": ["ssl_ssaw"]}, ["phoenix"]),
])
def test_the_config_check_agrees_with_the_report_layout(datasets, data_datasets):
    """config reads layout.yaml itself (it sits below qbslt.reports): both must agree."""
    from qbslt.reports.layout import renderable_tables

    params = raw_params()
    params["experiment"]["datasets"] = datasets
    params["data"]["datasets"] = data_datasets
    try:
        tree = config.resolve(params)
    except ConfigError as exc:
        assert "none of Tables 1-8" in str(exc)
        tree = None
    matrix = {d: set(datasets.get(d, [])) | set(config.REFERENCE_SYSTEMS) for d in data_datasets}
    assert (tree is not None) == bool(renderable_tables(matrix))


# --- 4. qbslt score: BOM and empty files ---------------------------------------------------------------

def test_score_ignores_a_byte_order_mark(tmp_path, capsys):
    text = "am montag regnet es im norden\nim süden scheint die sonne heute\n"
    (tmp_path / "hyp.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "ref.txt").write_text(text, encoding="utf-8")
    assert main(["score", "--hypotheses", str(tmp_path / "hyp.txt"), "--references", str(tmp_path / "ref.txt"),
                 "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["bleu4"] == 100.0 and scores["rouge_l"] == 100.0 and scores["sentences"] == 2


def test_score_counts_an_empty_file_as_no_lines(tmp_path, capsys):
    (tmp_path / "hyp.txt").write_bytes(b"")
    (tmp_path / "ref.txt").write_text("es regnet\n", encoding="utf-8")
    assert main(["score", "--hypotheses", str(tmp_path / "hyp.txt"), "--references", str(tmp_path / "ref.txt")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{tmp_path / 'hyp.txt'}: 0 lines, but {tmp_path / 'ref.txt'} has 1" in line


# --- 5. an empty translation is refused ----------------------------------------------------------------

def test_an_empty_translation_is_refused_naming_the_file_and_line(tmp_path, capsys):
    from test_join import _phoenix

    from qbslt.data import layout

    base = _phoenix(tmp_path)
    qa = layout.qa_path(base / "qa", "dev")
    lines = qa.read_text().splitlines()
    lines[6] = "dev/e   %Wie wird das Wetter?%SCHNEE"  # line 7: only spaces where the translation is
    qa.write_text("\n".join(lines))
    frames = tmp_path / "frames"
    for split in layout.SPLITS:
        assert main(["extract-frames", "--manifest", str(base / "manifest.json"), "--split", split, "--size", "6",
                     "5", "--out-npy", str(frames / f"{split}.npy"), "--out-index",
                     str(frames / f"{split}.index.tsv"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["join", "--manifest", str(base / "manifest.json"), "--frames-dir", str(frames),
                 "--out-dir", str(tmp_path / "examples"), "--report-json", str(tmp_path / "report.json"),
                 "--report-md", str(tmp_path / "report.md")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{qa}:7: empty translation (sample e; 1 row(s) of this file have none)" in line


def test_the_real_annotations_have_no_empty_translation(shared_data):
    from qbslt.data import annotations
    from qbslt.data.join import check_translations

    files = [(annotations.read_phoenix_qa, shared_data / "phoenix-2014t-qa" / f"{s}.txt")
             for s in ("train", "dev", "test")]
    files += [(annotations.read_csl_qa, shared_data / "csl-daily-qa" / f"{s}.txt") for s in ("dev", "test")]
    for read, path in files:
        records = read(path)
        assert records
        check_translations(records)  # raises AnnotationError on an empty one
    with pytest.raises(AnnotationError, match=r":2: empty translation"):
        check_translations([records[0], annotations.QARecord("x", " ", "q?", "G", f"{path}:2")])


# --- 6. qbslt translate --beams ------------------------------------------------------------------------

@pytest.mark.parametrize("beams", ["-1", "0", "two"])
def test_translate_refuses_a_beam_count_below_one(tmp_path, capsys, beams):
    with pytest.raises(SystemExit) as exited:
        main(["translate", "--checkpoint", str(tmp_path), "--frames", str(tmp_path), "--beams", beams])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --beams: expected an integer >= 1, got {beams if beams != 'two' else repr(beams)}" in err
    assert "Traceback" not in err


# --- 7. a truncated or foreign weights file ------------------------------------------------------------

@pytest.fixture
def model_folder(tmp_path):
    """A tiny model folder as `qbslt translate` reads it (the weights are loaded before the tokenizers)."""
    import torch
    from test_model import tiny_config

    from qbslt.ssl_ssaw import QBSLTModel

    torch.manual_seed(0)
    folder = tmp_path / "model"
    QBSLTModel(tiny_config()).save_pretrained(folder)
    (folder / "pipeline.json").write_text("{}")
    (folder / "tokenizer").mkdir()
    (folder / "text_tokenizer").mkdir()
    (tmp_path / "frames").mkdir()
    return folder


def translate(folder, capsys) -> str:
    capsys.readouterr()
    assert main(["translate", "--checkpoint", str(folder), "--frames", str(folder.parent / "frames")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--device" not in line
    return line


def test_a_truncated_weights_file_is_named_as_corrupt(model_folder, capsys):
    weights = model_folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    line = translate(model_folder, capsys)
    assert f"{weights}: corrupt or truncated safetensors file" in line and "rerun the step that wrote it" in line


def test_weights_of_another_model_name_the_keys_that_do_not_fit(model_folder, capsys):
    import torch
    from test_model import V, tiny_config

    from qbslt.ssl_ssaw import QBSLTModel
    from qbslt.model.pretrained import load_weights, save_weights

    weights = model_folder / "model.safetensors"
    state = load_weights(weights)
    first = next(iter(state))
    save_weights(weights, {k: v for k, v in state.items() if k != first} | {"extra.weight": torch.zeros(1)})
    line = translate(model_folder, capsys)
    assert f"{weights}: weights do not fit the model" in line
    assert f"missing keys: {first}" in line and "unexpected keys: extra.weight" in line

    QBSLTModel(tiny_config(vocab_size=V + 1)).save_pretrained(model_folder.parent / "other")
    (model_folder.parent / "other" / "model.safetensors").replace(weights)
    line = translate(model_folder, capsys)
    assert "shape mismatch: " in line and f"[{V + 1}, " in line and "Error(s) in loading" not in line
    with pytest.raises(QbsltError, match="shape mismatch"):
        QBSLTModel.from_pretrained(model_folder)


def test_a_number_that_yaml_reads_as_text_is_explained():
    """`lr: 1e-3` is text to YAML 1.1: the error says so, not only that a number was expected."""
    raw = yaml.safe_load("train: {stage2: {lr: 1e-3}}")
    assert raw["train"]["stage2"]["lr"] == "1e-3"
    tree = raw_params()
    set_key(tree, "train.stage2.lr", raw["train"]["stage2"]["lr"])
    with pytest.raises(ConfigError, match=r"train.stage2.lr.*YAML reads 1e-3 as text.*1\.0e-3"):
        config.resolve(tree)


# --- 8. qbslt translate: the inputs the model reads -------------------------------------------------------

@pytest.mark.parametrize("inputs, has_video, question, outcome", [
    ("both", True, "Wird es regnen", []),
    ("both", False, "Wird es regnen", "reads the sign video (model.inputs = both): give --frames or --video"),
    ("both", True, "  ", "reads the question asked before the answer (model.inputs = both): give --question"),
    ("question", False, "Wird es regnen", []),
    ("question", True, "Wird es regnen", ["this model reads no video (model.inputs = question): the video is not read"]),
    ("question", False, "", "reads the question asked before the answer (model.inputs = question)"),
    ("sign", True, "", []),
    ("sign", True, "Wird es regnen", ["this model reads no question (model.inputs = sign): the question is not read"]),
    ("sign", False, "", "reads the sign video (model.inputs = sign)"),
])
def test_translate_asks_for_the_inputs_the_model_reads(inputs, has_video, question, outcome):
    from types import SimpleNamespace

    from qbslt.translate import Translator

    translator = Translator(SimpleNamespace(config=SimpleNamespace(inputs=inputs)), {}, None, None)
    if isinstance(outcome, str):
        with pytest.raises(QbsltError, match=re.escape(outcome)):
            translator.check_inputs(has_video, question)
    else:
        assert translator.check_inputs(has_video, question) == outcome


def test_translate_without_a_video_reaches_the_model_folder_check(tmp_path, capsys):
    """No --frames / --video is not an argument error (a question-only model reads none); the folder is checked."""
    assert main(["translate", "--checkpoint", str(tmp_path), "--question", "Wird es regnen"]) == 2
    err = capsys.readouterr().err
    assert "not a model folder written by the pipeline" in err and "Traceback" not in err


def test_docs_refuses_a_results_folder_that_is_not_there(tmp_path, capsys):
    """A mistyped --results would otherwise skip every block and report success."""
    assert main(["docs", "--results", str(tmp_path / "reslts"), "--check"]) == 2
    err = capsys.readouterr().err
    assert f"--results {tmp_path / 'reslts'}: no such folder" in err and "Traceback" not in err
