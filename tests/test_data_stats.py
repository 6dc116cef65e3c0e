"""`qbslt data-stats`: statistics of the real and the embedded annotations (qbslt.data.stats)."""

from pathlib import Path

import pytest
import yaml

from qbslt import config
from qbslt.cli import main
from qbslt.data import annotations, stats
from qbslt.data.join import copy_question_bleu4
from qbslt.data.synth.generate import generate_dataset

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "embedded-data.md"
SHARED_DATA = REPO.parent / "shared" / "data"  # as tests/conftest.py's shared_data fixture
RENDER = {"frames_per_gloss": [2, 3], "transition_frames": [1, 1], "noise_std": 4.0}


def tiny_cfg() -> dict:
    return {"seed": 11, "phoenix": {"signers": 3, "train": 8, "dev": 4, "test": 4},
            "csl": {"signers": 4, "train": 8, "dev": 4, "test": 4}, "render": RENDER,
            "hard_video": {"drop_frames": 0.1, "coarticulation": 0.5},
            "questions": {"partial": 0.4, "disambiguating": 0.2, "unrelated": 0.1, "yes_no": 0.3},
            "inject_defects": True}


def record(name: str, translation: str, question: str, words: str | None = None) -> annotations.QARecord:
    return annotations.QARecord(name=name, translation=translation, question=question, gloss="X", source="t:1",
                                words=words)


def test_split_stats_on_a_handmade_split():
    rows = [stats.Row("am montag regen im norden", "am montag regen im norden", "Regnet es am Montag"),
            stats.Row("morgen sonne", "morgen sonne", "Wer hat gewonnen"),
            stats.Row("regen regen", "regen regen", "Regen?")]
    s = stats.split_stats(rows, "word")
    assert s["samples"] == 3
    assert s["translation_words_mean"] == pytest.approx(3.0)
    assert s["vocabulary"] == 7 and s["hapax_share"] == pytest.approx(6 / 7)  # all but "regen" seen once
    assert s["top10_share"] == pytest.approx(1.0)
    assert s["question_overlap"] == pytest.approx((2 / 5 + 0 + 1) / 3)
    assert s["no_shared_word"] == pytest.approx(1 / 3)
    assert s["question_words_mean"] == pytest.approx((4 + 3 + 1) / 3)
    assert s["copy_question_bleu4"] == copy_question_bleu4([r.question for r in rows], [r.translation for r in rows],
                                                           "word")
    assert s["types_per_500"] is None  # fewer tokens than the sample size


def test_usable_rows_keep_what_the_join_keeps():
    records = [record("a", "x y", "X"), record("a", "x y", "X"), record("b", "x y", ""), record("c", "x y", "Y"),
               record("d", "x z", "Z"), record("e", "x y", "X"), record("f", "x y", "X")]
    known = {"a": "x y", "b": "x y", "d": "x y", "e": None, "f": "x y"}  # c unknown, d mismatching
    rows = stats.usable_rows(records, known, has_frames={"a": True, "b": True, "d": True, "e": True, "f": False})
    assert [r.question for r in rows] == ["X", "X"]  # a (once) and e
    assert len(stats.usable_rows(records)) == 5  # without corpus and frames: duplicates and empty questions only


@pytest.mark.parametrize("dataset", ["phoenix", "csl"])
def test_generated_files_and_the_config_give_the_same_rows(tmp_path, dataset):
    """The doc table is computed from the config without rendering: it must equal the files' kept rows."""
    cfg = tiny_cfg()
    generate_dataset(dataset, tmp_path / dataset, cfg, (16, 16), progress=False)
    from_files = stats.generated_rows(dataset, tmp_path / dataset)
    from_config = stats.config_rows(dataset, cfg)
    assert from_files == from_config
    assert [len(from_config[s]) for s in ("train", "dev", "test")] == [8, 4, 4]


def test_doc_block_roundtrip_and_missing_markers():
    doc = f"intro\n{stats.BEGIN}\nold table\n{stats.END}\noutro\n"
    new = stats.replace_block(doc, "| new |\n")
    assert new == f"intro\n{stats.BEGIN}\n| new |\n{stats.END}\noutro\n"
    assert stats.doc_block(new) == "| new |"
    with pytest.raises(ValueError, match="no data-stats block"):
        stats.replace_block("no markers here", "x")


def write_fake_real(root: Path) -> None:
    (root / "phoenix-2014t-qa").mkdir(parents=True)
    (root / "csl-daily-qa").mkdir()
    for split in ("train", "dev", "test"):
        (root / "phoenix-2014t-qa" / f"{split}.txt").write_text(
            f"{split}/n1 am montag regen%Regnet es am Montag%MONTAG REGEN\n"
            f"{split}/n2 morgen sonne im süden%Wie wird es morgen%MORGEN SONNE SUED", encoding="utf-8")
    for split in ("dev", "test"):
        (root / "csl-daily-qa" / f"{split}.txt").write_text(
            "0|S1_P0001_T00|20|我 去|我 去 。|我 去 。|你 去 吗？|\n1|S2_P0001_T00|20|他|他 好 。|他 好 。|", encoding="utf-8")


def test_command_prints_and_writes_the_table(tmp_path, capsys):
    write_fake_real(tmp_path / "real")
    for dataset in ("phoenix", "csl"):
        generate_dataset(dataset, tmp_path / "raw" / dataset, tiny_cfg(), (16, 16), progress=False)
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Doc\n\n{stats.BEGIN}\n{stats.END}\n", encoding="utf-8")
    out = tmp_path / "table.md"
    assert main(["data-stats", "--real", str(tmp_path / "real"), "--embedded", str(tmp_path / "raw"),
                 "--markdown", str(out), "--doc", str(doc)]) == 0
    printed = capsys.readouterr().out
    table = out.read_text(encoding="utf-8")
    assert printed.strip() == table.strip() and stats.doc_block(doc.read_text(encoding="utf-8")) == table.strip()
    assert "| statistic | real train | real dev | real test | embedded train | embedded dev | embedded test |" in table
    assert "| statistic | real dev | real test | embedded train | embedded dev | embedded test |" in table  # CSL
    assert "copy-question BLEU-4" in table and "translation length, characters: mean" in table


@pytest.fixture(scope="module")
def committed_stats():
    """Statistics of the real files and of the committed generator config (params.yaml)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_DATA}")
    params = config.resolve(yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")))
    return stats.compute(SHARED_DATA, synthetic_cfg=params["data"]["synthetic"])


def test_real_statistics_match_the_known_facts(committed_stats):
    phoenix, csl = committed_stats["phoenix"]["real"], committed_stats["csl"]["real"]
    assert [phoenix[s]["samples"] for s in ("train", "dev", "test")] == [7096, 519, 642]
    assert phoenix["test"]["copy_question_bleu4"] == 32.40 and phoenix["dev"]["copy_question_bleu4"] == 11.67
    assert round(phoenix["test"]["question_overlap"], 2) == 0.62 and round(phoenix["dev"]["question_overlap"], 2) == 0.34
    assert set(csl) == {"dev", "test"}  # no public train split
    assert [csl[s]["samples"] for s in ("dev", "test")] == [1076, 1174]  # empty questions left out


def test_committed_generator_sits_in_the_real_regime(committed_stats):
    """Issue 12's text-side target: embedded PHOENIX test copy-question BLEU-4 within 26-39 (real 32.4)."""
    assert 26 <= committed_stats["phoenix"]["embedded"]["test"]["copy_question_bleu4"] <= 39


def test_doc_table_is_what_the_command_writes(committed_stats):
    """docs/embedded-data.md's table is generated: `qbslt data-stats --from-params --doc docs/embedded-data.md`."""
    assert stats.doc_block(DOC.read_text(encoding="utf-8")) == stats.markdown(committed_stats).strip(), (
        "docs/embedded-data.md is stale: run `qbslt data-stats --from-params --doc docs/embedded-data.md`")
