"""The command line a user sees: the user's commands first, --version, examples, `qbslt score`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from qbslt import __version__
from qbslt.cli import USER_COMMANDS, build_parser, main


def listed_commands(help_text: str) -> list[tuple[str, str]]:
    """(name, summary) of each subcommand, in the order `qbslt --help` lists them (a long name puts
    its summary on the next, deeper indented line)."""
    entries: list[list[str]] = []
    for line in help_text.split("  COMMAND\n", 1)[1].split("\n\n")[0].splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            entries.append(line.split())
        else:
            entries[-1] += line.split()
    return [(words[0], " ".join(words[1:])) for words in entries]


def test_help_lists_the_users_commands_first_and_marks_the_steps(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per subcommand
    listed = listed_commands(build_parser().format_help())
    names = [name for name, _ in listed]
    assert tuple(names[:len(USER_COMMANDS)]) == USER_COMMANDS
    assert {"train", "pretrain", "tables", "generate", "slslr-run"} <= set(names[len(USER_COMMANDS):])
    for name, summary in listed:
        assert summary.startswith("step: ") == (name not in USER_COMMANDS), (name, summary)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"qbslt {__version__}"


@pytest.mark.parametrize("command", USER_COMMANDS)
def test_each_user_command_has_an_example(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "example:" in out and f"qbslt {command}" in out.split("example:", 1)[1]


def test_translate_has_a_device_option(capsys):
    with pytest.raises(SystemExit):
        main(["translate", "--help"])
    assert "--device" in capsys.readouterr().out


@pytest.mark.parametrize("folder, frame_size, expected", [
    ("work/models/embedded/phoenix/ssl_ssaw/seed0", [40, 32], "embedded"),
    ("work/models/realtext/phoenix/ssl_ssaw/seed0", [40, 32], "realtext"),
    ("elsewhere/my_model", [40, 32], "embedded or realtext"),
    ("work/models/paper/phoenix/ssl_ssaw/seed0", [256, 256], None),
    ("elsewhere/my_model", [256, 256], None),
])
def test_translate_knows_a_model_trained_on_rendered_video(tmp_path, folder, frame_size, expected):
    from qbslt.translate import Translator

    translator = Translator(model=None, pipeline={"frame_size": frame_size}, decoder_tok=None, text_tok=None)
    assert translator.trained_on_rendered_video(tmp_path / folder) == expected


# --- qbslt score ------------------------------------------------------------------------------------

EXAMPLE_COLUMNS = ["name", "signer", "split", "frame_offset", "num_frames", "translation", "question", "gloss"]
PHOENIX_ROWS = [  # (translation, question)
    ("am montag regnet es im norden", "Regnet es am Montag im Norden"),
    ("im süden scheint die sonne", "Wie ist das Wetter im Süden"),
    ("morgen wird es kälter", "Wird es morgen wärmer"),
    ("am abend gibt es gewitter im westen", "Gibt es am Abend Gewitter"),
]
CSL_ROWS = [("他 来 了", "他 来 吗"), ("今天 天气 很 好", "今天 天气 怎么样"), ("我 喜欢 吃 苹果", "你 喜欢 吃 什么")]


def write_examples(folder, rows) -> None:
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        table = pd.DataFrame([(f"{split}{i}", "s1", split, 0, 1, t, q, "") for i, (t, q) in enumerate(rows)],
                             columns=EXAMPLE_COLUMNS)
        table.to_csv(folder / f"{split}.tsv", sep="\t", index=False)


@pytest.mark.parametrize("dataset, rows, level", [("phoenix", PHOENIX_ROWS, "word"), ("csl", CSL_ROWS, "char")])
def test_score_matches_the_metrics_of_a_results_file(tmp_path, capsys, dataset, rows, level):
    """A reference system's run (metrics JSON + predictions TSV, as the tables read them): scoring its
    predictions with `qbslt score` gives the test metrics of its results file."""
    examples, metrics, predictions = tmp_path / "examples", tmp_path / "seed0.json", tmp_path / "seed0.tsv"
    write_examples(examples, rows)
    assert main(["reference", "--system", "copy_question", "--dataset", dataset, "--examples-dir", str(examples),
                 "--metrics", str(metrics), "--predictions", str(predictions),
                 "--dev-predictions", str(tmp_path / "seed0.dev.tsv")]) == 0
    table = pd.read_csv(predictions, sep="\t", dtype=str, keep_default_na=False)
    (tmp_path / "hyp.txt").write_text("\n".join(table["hypothesis"]) + "\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("\n".join(table["reference"]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["score", "--hypotheses", str(tmp_path / "hyp.txt"), "--references", str(tmp_path / "ref.txt"),
                 "--level", level, "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    expected = json.loads(metrics.read_text())["test"]
    assert {k: scored[k] for k in expected} == expected
    assert scored["sentences"] == len(rows) and 0 < scored["bleu1"] < 100

    assert main(["score", "--hypotheses", str(tmp_path / "hyp.txt"), "--references", str(tmp_path / "ref.txt"),
                 "--level", level]) == 0
    assert f"BLEU-4 {expected['bleu4']:.2f}" in capsys.readouterr().out


def test_score_rejects_files_of_different_lengths(tmp_path, capsys):
    (tmp_path / "hyp.txt").write_text("a b\nc d\n")
    (tmp_path / "ref.txt").write_text("a b\n")
    assert main(["score", "--hypotheses", str(tmp_path / "hyp.txt"), "--references", str(tmp_path / "ref.txt")]) == 2
    err = capsys.readouterr().err
    assert "hyp.txt: 2 lines" in err and "ref.txt has 1" in err
