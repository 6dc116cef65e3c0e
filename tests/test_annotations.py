import json

import pytest

from qbslt.cli import main
from qbslt.data import annotations
from qbslt.errors import AnnotationError

REAL_COUNTS = {"train": 7096, "dev": 519, "test": 642}


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_real_phoenix_qa_and_corpus_parse(shared_data, split):
    qa = annotations.read_phoenix_qa(shared_data / "phoenix-2014t-qa" / f"{split}.txt", expected_split=split)
    corpus = annotations.read_phoenix_corpus(shared_data / "phoenix-2014t-qa" / f"PHOENIX-2014-T.{split}.corpus.csv")
    assert len(qa) == len(corpus) == REAL_COUNTS[split]
    assert all(r.question for r in qa)
    assert qa[0].gloss.isupper() and qa[0].translation == qa[0].translation.lower()


def test_corpus_with_and_without_header(tmp_path):
    row = "n1|n1/*.png|-1|-1|Signer01|REGEN NORD|im norden regnet es"
    (tmp_path / "a.csv").write_text("name|video|start|end|speaker|orth|translation\n" + row + "\n")
    (tmp_path / "b.csv").write_text(row)
    a = annotations.read_phoenix_corpus(tmp_path / "a.csv")
    b = annotations.read_phoenix_corpus(tmp_path / "b.csv")
    assert [(r.name, r.speaker, r.translation) for r in a] == [(r.name, r.speaker, r.translation) for r in b]
    assert a[0].source.endswith("a.csv:2") and b[0].source.endswith("b.csv:1")


@pytest.mark.parametrize("line, message", [
    ("train/x eins%zwei", "expected 3 '%'-separated fields"),
    ("train/x eins%zwei%DREI%VIER", "found 4"),
    ("valid/x eins%zwei%DREI", "bad split prefix 'valid'"),
    ("trainx eins%zwei%DREI", "expected '<split>/<name>'"),
    ("train/x", "no space after the name"),
])
def test_malformed_phoenix_qa_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "train.txt"
    path.write_text("train/ok eins%Frage%EINS\n" + line + "\n")
    with pytest.raises(AnnotationError, match=message) as info:
        annotations.read_phoenix_qa(path)
    assert str(info.value).startswith(f"{path}:2:")


def test_phoenix_split_must_match_file(tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("train/x eins%Frage%EINS")
    with pytest.raises(AnnotationError, match=r"dev\.txt:1: bad split prefix 'train' in the dev file"):
        annotations.read_phoenix_qa(path, expected_split="dev")


def test_csl_trailing_bar_optional_and_empty_question(tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("000001|S1_P0001_T00|30|我 去|我 去 。|我 去 。|你 去 哪？|\n"
                    "000002|S2_P0002_T00|31|他 来|他 来 。|他 来 。|\n"
                    "000003|S3_P0003_T00|32|他 来|他 来 。|他 来 。|谁 来？")
    records = annotations.read_csl_qa(path)
    assert [r.question for r in records] == ["你 去 哪？", "", "谁 来？"]
    assert records[0].num_frames == 30 and records[0].words == "我 去 。"


@pytest.mark.parametrize("line, message", [
    ("000001|S1|30|g|c|w", "expected 7 '|'-separated fields"),
    ("000001|S1|many|g|c|w|q|", "num_frames must be an integer"),
    ("000001||30|g|c|w|q|", "empty name field"),
])
def test_malformed_csl_line(tmp_path, line, message):
    path = tmp_path / "test.txt"
    path.write_text(line)
    with pytest.raises(AnnotationError, match=f"{path}:1: {message}"):
        annotations.read_csl_qa(path)


def test_undecodable_file(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(b"train/x \xff\xfe%q%G")
    with pytest.raises(AnnotationError, match="not UTF-8"):
        annotations.read_phoenix_qa(path)


def test_check_annotations_cli_real_files(shared_data, capsys):
    files = [str(shared_data / "csl-daily-qa" / f"{s}.txt") for s in ("dev", "test")]
    assert main(["check-annotations", "--dataset", "csl", *files]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 1077 + 1176
    assert summary["dropped"] == {"empty question": 3}
    per_file = {f["path"].rsplit("/", 1)[-1]: len(f["dropped"]) for f in summary["files"]}
    assert per_file == {"dev.txt": 1, "test.txt": 2}

    phoenix = shared_data / "phoenix-2014t-qa"
    files = [str(p) for p in sorted(phoenix.iterdir())]
    assert main(["check-annotations", "--dataset", "phoenix", *files]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 2 * sum(REAL_COUNTS.values()) and summary["dropped"] == {}
    kinds = sorted(f["kind"] for f in summary["files"])
    assert kinds == ["corpus"] * 3 + ["qa"] * 3


def test_check_annotations_cli_malformed_exits_nonzero(tmp_path, capsys):
    path = tmp_path / "train.txt"
    path.write_text("train/a eins%Frage%EINS\ntrain/b zwei Frage ZWEI\n")
    assert main(["check-annotations", "--dataset", "phoenix", str(path)]) != 0
    err = capsys.readouterr().err
    assert f"{path}:2:" in err


def test_check_annotations_reports_duplicates(tmp_path, capsys):
    path = tmp_path / "dev.txt"
    path.write_text("dev/a eins%Frage%EINS\ndev/a eins%Frage%EINS\ndev/b zwei%%ZWEI")
    assert main(["check-annotations", "--dataset", "phoenix", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dropped"] == {"duplicate name": 1, "empty question": 1}
    assert [d["source"].rsplit(":", 1)[1] for d in summary["files"][0]["dropped"]] == ["2", "3"]
