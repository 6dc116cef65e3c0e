import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from qbslt.cli import main
from qbslt.data import layout
from qbslt.data.datasets import get_dataset
from qbslt.data.join import join_split, question_overlap, read_examples, render_report_md
from qbslt.data.sources import RawDataset
from qbslt.eval.metrics import corpus_scores
from qbslt.eval.references import copy_question


def _frames(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((12, 10, 3), i, np.uint8)).save(folder / layout.phoenix_frame_name(i))


def _phoenix(tmp_path):
    base = tmp_path / "raw"
    root, qa_dir = get_dataset("phoenix").embedded_roots(base)
    header = "name|video|start|end|speaker|orth|translation"
    corpus = {"a": ("Signer01", "REGEN NORD", "im norden regnet es"),
              "b": ("Signer02", "SONNE SUED", "im süden scheint die sonne"),
              "c": ("Signer01", "NEBEL", "es ist neblig"),
              "d": ("Signer03", "WIND", "es ist windig"),
              "e": ("Signer02", "SCHNEE", "es schneit")}
    for split in layout.SPLITS:
        lines = [header] + [f"{n}|{n}/*.png|-1|-1|{s}|{o}|{t}" for n, (s, o, t) in corpus.items()]
        path = layout.phoenix_corpus_path(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        for name in "abde":
            _frames(layout.phoenix_frames_dir(root, split, name), 3)
        layout.phoenix_frames_dir(root, split, "c").mkdir(parents=True)  # exists, no frames
        qa = [f"{split}/a im norden regnet es%Regnet es im Norden?%REGEN NORD",
              f"{split}/a im norden regnet es%Regnet es im Norden?%REGEN NORD",  # duplicate name
              f"{split}/b im süden scheint die sonne%%SONNE SUED",  # empty question
              f"{split}/zz es ist kalt%Wie kalt?%KALT",  # unknown video
              f"{split}/c es ist neblig%Ist es neblig?%NEBEL",  # no frames
              f"{split}/d es ist stürmisch%Wie ist der Wind?%WIND",  # translation mismatch
              f"{split}/e es schneit%Wie wird das Wetter?%SCHNEE"]
        layout.qa_path(qa_dir, split).parent.mkdir(parents=True, exist_ok=True)
        layout.qa_path(qa_dir, split).write_text("\n".join(qa))
    (base / "manifest.json").write_text(json.dumps({"dataset": "phoenix", "root": str(root.relative_to(base)),
                                                    "qa_dir": "qa"}))
    return base


def _run_prepare(tmp_path, base):
    frames = tmp_path / "frames"
    for split in layout.SPLITS:
        assert main(["extract-frames", "--manifest", str(base / "manifest.json"), "--split", split, "--size", "6", "5",
                     "--out-npy", str(frames / f"{split}.npy"), "--out-index", str(frames / f"{split}.index.tsv"),
                     "--no-progress"]) == 0
    out = tmp_path / "examples"
    assert main(["join", "--manifest", str(base / "manifest.json"), "--frames-dir", str(frames),
                 "--out-dir", str(out), "--report-json", str(tmp_path / "report.json"),
                 "--report-md", str(tmp_path / "report.md")]) == 0
    return out, json.loads((tmp_path / "report.json").read_text())


def test_phoenix_join_drops_with_reasons(tmp_path):
    out, report = _run_prepare(tmp_path, _phoenix(tmp_path))
    entry = report["splits"]["dev"]
    assert (entry["annotated"], entry["kept"], entry["dropped"]) == (7, 2, 5)
    assert entry["dropped_by_reason"] == {"duplicate name": 1, "empty question": 1, "unknown video": 1,
                                          "no frames": 1, "translation mismatch": 1}
    assert [d["source"].rsplit(":", 1)[1] for d in entry["dropped_rows"]] == ["2", "3", "4", "5", "6"]
    table = read_examples(out / "dev.tsv")
    assert list(table["name"]) == ["a", "e"]
    assert list(table["signer"]) == ["Signer01", "Signer02"]
    assert list(table["num_frames"]) == [3, 3] and list(table["frame_offset"]) == [0, 9]
    # "im norden regnet es" vs "Regnet es im Norden?": all 4 words; "es schneit" vs unrelated: 0
    assert entry["mean_question_overlap"] == 0.5
    md = (tmp_path / "report.md").read_text()
    assert "translation mismatch" in md and "| dev | 7 | 2 | 5 |" in md


def test_csl_join(tmp_path):
    base = tmp_path / "raw"
    root, qa_dir = get_dataset("csl").embedded_roots(base)
    split_file = layout.csl_split_path(root)
    split_file.parent.mkdir(parents=True)
    split_file.write_text("name|split\nS1_P0001_T00|train\nS2_P0002_T00|dev\nS3_P0003_T00|test\n")
    for name in ("S1_P0001_T00", "S2_P0002_T00", "S3_P0003_T00"):
        folder = layout.csl_frames_dir(root, name)
        folder.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / layout.csl_frame_name(i))
    qa_dir.mkdir()
    rows = {"train": ["000001|S1_P0001_T00|2|我 去|我 去 医 院 。|我 去 医院 。|你 去 哪里？|"],
            "dev": ["000002|S2_P0002_T00|2|他 来|他 来 了 。|他 来 了 。|谁 来 了？|",
                    "000003|S9_P0009_T00|2|他 来|他 来 了 。|他 来 了 。|谁 来 了？|"],
            "test": ["000004|S3_P0003_T00|2|他 来|他 来 了 。|他 来 了 。||"]}
    for split, lines in rows.items():
        layout.qa_path(qa_dir, split).write_text("\n".join(lines))
    (base / "manifest.json").write_text(json.dumps({"dataset": "csl", "root": "CSL-Daily", "qa_dir": "qa"}))
    out, report = _run_prepare(tmp_path, base)
    assert report["splits"]["train"]["kept"] == 1
    # words 我 去 医院 (。 removed) vs question 你 去 哪里: one of three
    assert report["splits"]["train"]["mean_question_overlap"] == 0.3333
    assert report["splits"]["dev"]["dropped_by_reason"]["unknown video"] == 1
    assert report["splits"]["test"]["dropped_by_reason"]["empty question"] == 1
    assert read_examples(out / "train.tsv")["signer"].tolist() == ["P0001"]


def test_question_overlap():
    assert question_overlap("fällt schnee", "Fällt Schnee?") == 1.0
    assert question_overlap("a b c d", "x b") == 0.25
    assert question_overlap("", "x") == 0.0


# --- copy-question BLEU-4 and empty questions in the report -------------------------------------

def _frame_index(names) -> pd.DataFrame:
    """A frame index giving every video one frame: the join only needs names, lengths and offsets."""
    names = sorted(names)
    return pd.DataFrame({"name": names, "length": 1, "offset": range(len(names))})


def _join_report(raw: RawDataset, splits) -> dict:
    return {"dataset": raw.dataset,
            "splits": {s: join_split(raw, s, _frame_index(raw.videos(s)))[1] for s in splits}}


def test_copy_question_bleu4_and_empty_question_note_by_hand(tmp_path):
    root, qa_dir = get_dataset("phoenix").embedded_roots(tmp_path)
    corpus = {"r1": "es regnet im norden", "r2": "morgen ist es kalt", "r3": "es schneit"}
    qa = {"dev": ["dev/r1 es regnet im norden%Es regnet im Norden?%REGEN",
                  "dev/r2 morgen ist es kalt%Ist es morgen kalt?%KALT"],
          "test": ["test/r1 es regnet im norden%Es regnet im Norden?%REGEN",
                   "test/r3 es schneit%%SCHNEE"]}  # empty question
    for split, lines in qa.items():
        path = layout.phoenix_corpus_path(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(f"{n}|{n}/*.png|-1|-1|Signer01|X|{t}" for n, t in corpus.items()))
        layout.qa_path(qa_dir, split).parent.mkdir(parents=True, exist_ok=True)
        layout.qa_path(qa_dir, split).write_text("\n".join(lines))
    report = _join_report(RawDataset("phoenix", root, qa_dir), ("dev", "test"))

    # dev copies "es regnet im norden" (exact) and "ist es morgen kalt" vs "morgen ist es kalt":
    # 1-grams 8/8; 2-grams 3 + 1 ("ist es") of 6; 3-grams 2 + 0 of 4; 4-grams 1 + 0 of 2; 8 vs 8 tokens, BP = 1
    # BLEU-4 = (1 * 4/6 * 2/4 * 1/2) ** (1/4) = (1/6) ** (1/4) = 63.89
    assert report["splits"]["dev"]["copy_question_bleu4"] == round(100 * (1 / 6) ** 0.25, 2)
    assert report["splits"]["test"]["copy_question_bleu4"] == 100.0  # only r1 is kept: an exact copy
    md = render_report_md("phoenix", report)
    assert "| 63.89 |" in md and "| 100.00 |" in md and "different regimes" in md
    assert "**test**: 1 of the 2 annotated rows have an empty question" in md and "50.00%" in md
    assert "**dev**" not in md  # no empty questions in dev, no note


def _real_phoenix(shared_data, tmp_path) -> RawDataset:
    """The real PHOENIX-2014T-QA files in the release layout (links, no copies)."""
    real = shared_data / "phoenix-2014t-qa"
    root = tmp_path / "PHOENIX-2014-T"
    for split in layout.SPLITS:
        link = layout.phoenix_corpus_path(root, split)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real / f"PHOENIX-2014-T.{split}.corpus.csv")
    return RawDataset("phoenix", root, real)


@pytest.mark.parametrize("split, lo, hi", [("dev", 10.5, 12.5), ("test", 31.0, 34.0)])
def test_real_phoenix_report_copy_question_bleu4(shared_data, tmp_path, split, lo, hi):
    raw = _real_phoenix(shared_data, tmp_path)
    report = _join_report(raw, (split,))
    entry = report["splits"][split]
    records = raw.qa_records(split)
    assert entry["kept"] == len(records)  # every real PHOENIX row joins
    expected = corpus_scores(copy_question([r.question for r in records], "word"),
                             [r.translation for r in records], "word")["bleu4"]
    assert entry["copy_question_bleu4"] == pytest.approx(expected, abs=0.1)
    assert lo < entry["copy_question_bleu4"] < hi  # ~11.6 on dev, ~32.4 on test
    assert f"| {entry['copy_question_bleu4']:.2f} |" in render_report_md("phoenix", report)


def test_real_csl_test_drops_two_empty_questions(shared_data, tmp_path):
    qa = shared_data / "csl-daily-qa"
    records = get_dataset("csl").read_qa(qa / "test.txt", expected_split="test")
    root = tmp_path / "CSL-Daily"
    split_file = layout.csl_split_path(root)
    split_file.parent.mkdir(parents=True)
    split_file.write_text("name|split\n" + "".join(f"{r.name}|test\n" for r in records))
    report = _join_report(RawDataset("csl", root, qa), ("test",))
    entry = report["splits"]["test"]
    assert (entry["annotated"], entry["kept"], entry["dropped_by_reason"]["empty question"]) == (1176, 1174, 2)
    md = render_report_md("csl", report)
    assert "2 of the 1,176 annotated rows have an empty question" in md and "by 0.17% of its rows" in md
