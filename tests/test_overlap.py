"""Where the gains come from: question–translation overlap per example (qbslt.eval.overlap), its
terciles, the claims page's BLEU-4 per tercile (qbslt.reports.overlap), and the dev predictions
the runs keep for it."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from qbslt.data.join import EXAMPLE_COLUMNS
from qbslt.errors import ResultError
from qbslt.eval.metrics import corpus_bleu, corpus_scores, tokenize_for_eval
from qbslt.eval.references import normalize_question
from qbslt.eval.overlap import TERCILES, cut_terciles, question_overlap, tercile_sizes
from qbslt.reports import overlap
from qbslt.reports.claims import render_claims
from qbslt.reports.docs import Block, Cell, cell_text
from qbslt.reports.results import METRICS, Results, read_predictions
from qbslt.training.reference_runs import run_reference

SHARED = REPO.parent / "shared" / "data"
PHOENIX_QA = SHARED / "phoenix-2014t-qa"
CSL_QA = SHARED / "csl-daily-qa"


def _phoenix_rows(split: str) -> dict[str, tuple[str, str]]:
    """``{name: (translation, question)}`` of a PHOENIX-2014T-QA split file (``<split>/<name> <translation>%<question>%<gloss>``)."""
    path = PHOENIX_QA / f"{split}.txt"
    if not path.is_file():
        pytest.skip(f"{path} absent: the real PHOENIX-2014T-QA annotations are not in ../shared/data")
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, rest = line.split(" ", 1)
        translation, question, _gloss = rest.split("%")
        rows[name.split("/", 1)[1]] = (translation, question)
    return rows


# ---------------------------------------------------------------------------------------------
# Overlap of one example


@pytest.mark.parametrize("split, name, expected", [
    # "Was bestimmt das Wetter in den nächsten Tagen": bestimmt in den nächsten tagen wetter (case folded)
    ("dev", "11August_2010_Wednesday_tagesschau-2", Fraction(6, 9)),
    # "Viele Wolken am Himmel ...": viele wolken, of 13 words
    ("dev", "11August_2010_Wednesday_tagesschau-3", Fraction(2, 13)),
    # "Wird es trotz des schwachen Windes Schauer oder Gewitter geben": no word form shared with
    # "schwacher wind ... schauern und gewittern" (the metric's words, no stemming)
    ("dev", "11August_2010_Wednesday_tagesschau-8", Fraction(0, 18)),
    # am (twice) donnerstag wetter freitag, of 19; "regnete", "im", "ähnlich" are other words
    ("test", "25October_2010_Monday_tagesschau-24", Fraction(5, 19)),
])
def test_overlap_of_real_phoenix_rows(split, name, expected):
    translation, question = _phoenix_rows(split)[name]
    assert question_overlap(translation, question, "word") == pytest.approx(float(expected))


def test_overlap_tokens_are_the_metrics_and_the_question_is_in_evaluation_form():
    # words: whitespace split of the reference; the question lower-cased, punctuation stripped
    assert question_overlap("regen im norden", "Regnet es im Norden?", "word") == pytest.approx(2 / 3)
    assert question_overlap("regen regen sonne", "Regen?", "word") == pytest.approx(2 / 3)  # each occurrence
    assert question_overlap("", "Regen?", "word") == 0.0
    # characters (CSL-Daily-QA): spaces dropped on both sides, the word segmentation does not matter
    reference, question = "今天 星期几 ？", "今天 星期几？"
    assert tokenize_for_eval(reference, "char") == list("今天星期几？")
    assert question_overlap(reference, question, "char") == 1.0
    assert question_overlap("他 今 年 四 岁 。", "你 儿子 几 岁？", "char") == pytest.approx(1 / 6)  # 岁
    # the same texts at word level: the question's "？" is stripped there, the reference's stays a word
    assert question_overlap(reference, question, "word") == pytest.approx(2 / 3)


def test_overlap_of_real_csl_rows():
    path = CSL_QA / "dev.txt"
    if not path.is_file():
        pytest.skip(f"{path} absent: the real CSL-Daily-QA annotations are not in ../shared/data")
    rows = {f[1]: (f[4], f[6]) for f in (line.split("|") for line in path.read_text(encoding="utf-8").splitlines())}
    chars, question = rows["S000020_P0000_T00"]  # 他 今 年 四 岁 。 / 你 儿子 几 岁？
    assert question_overlap(chars, question, "char") == pytest.approx(1 / 6)
    chars, question = rows["S000040_P0000_T00"]  # 今 天 星 期 几 ？ / 今天 星期几？
    assert question_overlap(chars, question, "char") == 1.0


def test_split_means_on_the_real_phoenix_splits_show_the_shift():
    """The share of translation words found in the question: 0.54 on train, 0.34 on dev and 0.62 on
    test, as the data report gives it (docs/embedded-data.md), here with the metric's tokens."""
    means = {}
    for split in ("train", "dev", "test"):
        values = [question_overlap(t, q, "word") for t, q in _phoenix_rows(split).values()]
        means[split] = sum(values) / len(values)
    assert means["dev"] == pytest.approx(0.34, abs=0.01)
    assert means["train"] == pytest.approx(0.54, abs=0.01)
    assert means["test"] == pytest.approx(0.62, abs=0.01)


# ---------------------------------------------------------------------------------------------
# Terciles


def test_tercile_sizes_are_equal_or_the_lower_ones_take_the_extra():
    assert [tercile_sizes(n) for n in (0, 1, 2, 3, 10, 11, 519)] == [
        (0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1), (4, 3, 3), (4, 4, 3), (173, 173, 173)]


def test_ties_are_broken_by_name_whatever_the_input_order():
    overlaps = {"e": 0.5, "a": 0.0, "c": 0.5, "g": 1.0, "b": 0.5, "f": 0.0, "d": 0.5}
    # sorted by (overlap, name): a f | b c d | e g  -> sizes 3, 2, 2: the tie at 0.5 straddles both cuts
    expected = {"a": "low", "f": "low", "b": "low", "c": "mid", "d": "mid", "e": "high", "g": "high"}
    for order in itertools.islice(itertools.permutations(overlaps), 0, 5040, 97):
        names = list(order)
        assert dict(zip(names, cut_terciles(names, [overlaps[n] for n in names]))) == expected
    with pytest.raises(ValueError, match="unique"):
        cut_terciles(["a", "a"], [0.0, 1.0])


# ---------------------------------------------------------------------------------------------
# The table on a fake results tree

DEV = [  # name, reference, question (overlaps: OVERLAPS)
    ("d0", "sonne und wolken im norden heute", "Wie wird das Wetter?"),
    ("d1", "sonne und wolken im norden heute", "Sonne und Wolken im Süden?"),
    ("d2", "regen im süden und im osten", "Regen im Westen?"),
    ("d3", "regen im süden und im osten", "Regen im Süden?"),
    ("d4", "schnee in den alpen am abend", "Schnee in den Alpen am Morgen?"),
    ("d5", "schnee in den alpen am abend", "Schnee in den Alpen am Abend?"),
]
TEST = [
    ("t0", "frost in der nacht im osten", "Wie wird es?"),
    ("t1", "frost in der nacht im osten", "Was kommt?"),
    ("t2", "nebel am morgen und am mittag", "Nebel am Morgen?"),
    ("t3", "nebel am morgen und am mittag", "Und am Mittag?"),
    ("t4", "wind aus westen bei der küste", "Wind aus Westen bei Nacht?"),
    ("t5", "wind aus westen bei der küste", "Wind aus Westen bei der Küste?"),
]
OVERLAPS = {"d0": 0, "d1": 4 / 6, "d2": 3 / 6, "d3": 4 / 6, "d4": 5 / 6, "d5": 1,
            "t0": 0, "t1": 0, "t2": 4 / 6, "t3": 4 / 6, "t4": 4 / 6, "t5": 1}
# sorted (overlap, name): dev d0 d2 | d1 d3 | d4 d5 ; test t0 t1 | t2 t3 | t4 t5 (the tie at 4/6 cut by name)
TERCILE_OF = {"d0": "low", "d2": "low", "d1": "mid", "d3": "mid", "d4": "high", "d5": "high",
              "t0": "low", "t1": "low", "t2": "mid", "t3": "mid", "t4": "high", "t5": "high"}
WRONG = "x y z"


def _write(results_root: Path, dataset: str, variant: str, seed: int, hyps: dict[str, str], dev_file: bool = True):
    metrics = Results.metrics_file(results_root, dataset, variant, seed)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"test": dict.fromkeys(METRICS, 50.0), "dev": {"bleu4": 10.0}}))
    for split, rows in (("dev", DEV), ("test", TEST)):
        if split == "dev" and not dev_file:
            continue
        path = Results.predictions_file(results_root, dataset, variant, seed, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([(n, r, q, hyps.get(n, r)) for n, r, q in rows],
                     columns=["name", "reference", "question", "hypothesis"]).to_csv(path, sep="\t", index=False)
    return metrics


def _tree(root: Path, dev_file: bool = True) -> Results:
    """qb_concat seeds 0, 1: seed 0 exact everywhere, seed 1 wrong on dev's and test's mid tercile;
    copy_question (seed 0): its normalised question; ssl_ssaw seed 0 without dev predictions (when
    ``dev_file`` is False)."""
    files = [_write(root, "phoenix", "qb_concat", 0, {}),
             _write(root, "phoenix", "qb_concat", 1, {n: WRONG for n, t in TERCILE_OF.items() if t == "mid"}),
             _write(root, "phoenix", "copy_question", 0,
                    {n: normalize_question(q, "word") for n, _, q in DEV + TEST}),
             _write(root, "phoenix", "ssl_ssaw", 0, {}, dev_file=dev_file)]
    return Results.from_metrics_files(root, files)


def test_the_fake_rows_have_the_overlaps_and_terciles_stated():
    for rows in (DEV, TEST):
        names = [n for n, _, _ in rows]
        values = [question_overlap(r, q, "word") for _, r, q in rows]
        assert values == pytest.approx([OVERLAPS[n] for n in names])
        assert dict(zip(names, cut_terciles(names, values))) == {n: TERCILE_OF[n] for n in names}


def test_overlap_table_numbers(tmp_path):
    results = _tree(tmp_path / "results", dev_file=False)
    frame = overlap.overlap_frame(results)
    assert list(frame.columns) == overlap.COLUMNS
    assert list(frame["variant"]) == ["qb_concat", "ssl_ssaw", "copy_question"]  # trained, then references
    rows = frame.set_index("variant")
    concat = rows.loc["qb_concat"]
    assert concat["n"] == 2 and concat["seeds"] == "0 1" and concat["kind"] == "trained"
    for split in ("dev", "test"):
        assert concat[f"{split}_low_bleu4_mean"] == pytest.approx(100.0) and concat[f"{split}_low_bleu4_std"] == 0
        assert concat[f"{split}_mid_bleu4_mean"] == pytest.approx(50.0)  # 100 and 0
        assert concat[f"{split}_mid_bleu4_std"] == pytest.approx(math.sqrt(2) * 50)
        assert concat[f"{split}_high_bleu4_mean"] == pytest.approx(100.0)
    # the reference system: one seed, no std; each cell the corpus BLEU-4 of that tercile's rows
    copy = rows.loc["copy_question"]
    assert copy["n"] == 1 and copy["kind"] == "reference" and pd.isna(copy["dev_low_bleu4_std"])
    table = pd.concat([results.read_predictions("phoenix", "copy_question", 0, s) for s in ("dev", "test")])
    for split, prefix in (("dev", "d"), ("test", "t")):
        for tercile in TERCILES:
            part = table[table["name"].map(TERCILE_OF).eq(tercile) & table["name"].str.startswith(prefix)]
            expected = corpus_scores(list(part["hypothesis"]), list(part["reference"]), "word")["bleu4"]
            assert copy[f"{split}_{tercile}_bleu4_mean"] == pytest.approx(expected)
    assert copy["test_high_bleu4_mean"] > copy["test_low_bleu4_mean"]
    # a run without dev predictions: left out (n = 0, no cells)
    ssaw = rows.loc["ssl_ssaw"]
    assert ssaw["n"] == 0 and pd.isna(ssaw["dev_low_bleu4_mean"]) and pd.isna(ssaw["test_low_bleu4_mean"])
    # the boundaries, the same on every row of the dataset
    assert (concat["dev_low_overlap_min"], concat["dev_low_overlap_max"], concat["dev_low_examples"]) == (0, 0.5, 2)
    assert concat["dev_mid_overlap_min"] == pytest.approx(4 / 6) and concat["test_mid_overlap_max"] == 4 / 6
    assert (frame["test_high_overlap_min"] == 4 / 6).all() and (frame["dev_high_examples"] == 2).all()


def test_claims_page_keeps_table_c_first_then_the_overlap_table(tmp_path):
    results = _tree(tmp_path / "results")
    out = tmp_path / "tables"
    paths = render_claims(results, out)
    assert out / "claims_overlap.csv" in paths
    md = (out / "claims.md").read_text(encoding="utf-8")
    first, second = md.split(overlap.TITLE)
    assert first.startswith("Table C: the paper's claims") and "| Claim | Claim verdict |" in first
    assert "not for a verdict" in second and "ties broken by example name" in second
    assert ("| Dataset | System | n | dev low | dev mid | dev high | test low | test mid | test high |"
            in second)
    assert "| phoenix | overlap range (examples) |  | 0.00–0.50 (2) | 0.67–0.67 (2) | 0.83–1.00 (2) | " \
           "0.00–0.00 (2) | 0.67–0.67 (2) | 0.67–1.00 (2) |" in second
    assert ("| phoenix | qb_concat | 2 | 100.00 ± 0.00 | 50.00 ± 70.71 | 100.00 ± 0.00 | 100.00 ± 0.00 | "
            "50.00 ± 70.71 | 100.00 ± 0.00 |") in second
    assert "| phoenix | copy_question (reference system) | 1 | " in second
    # a cell quote of the docs still reads Table C's first table
    block = Block(Path("doc.md"), 1, "results/x/claims.md", "", 0, 0)
    assert cell_text(block, Cell(rows=[("Dataset", "phoenix"), ("Comparison (treatment − control)",
                                                                "qb_concat − qb_question_only")],
                                 column="Verdict", mean=False), md) == "not run"
    html = (out / "claims.html").read_text(encoding="utf-8")
    assert html.count("<table>") == 2 and html.index("Table C: the paper") < html.index(overlap.TITLE)
    csv = pd.read_csv(out / "claims_overlap.csv")
    assert list(csv.columns) == overlap.COLUMNS and len(csv) == 3


def test_a_run_with_other_examples_is_refused(tmp_path):
    results = _tree(tmp_path / "results")
    path = results.predictions_path("phoenix", "qb_concat", 1, "dev")
    frame = read_predictions(path)
    frame.iloc[:-1].to_csv(path, sep="\t", index=False)
    with pytest.raises(ResultError, match=r"seed1\.dev\.tsv: not the examples of .*seed0\.dev\.tsv \(1 example"):
        overlap.overlap_frame(results)


def test_corpus_bleu_is_the_tables_bleu():
    hyps = ["sonne und wolken im norden", "regen im osten", "x"]
    refs = ["sonne und wolken im norden heute", "regen im süden und im osten", "schnee"]
    for level in ("word", "char"):
        scores = corpus_scores(hyps, refs, level)
        assert [corpus_bleu(hyps, refs, level, n) for n in (1, 2, 3, 4)] == [scores[f"bleu{n}"] for n in (1, 2, 3, 4)]


# ---------------------------------------------------------------------------------------------
# The runs keep their dev predictions


def test_reference_systems_write_dev_and_test_predictions(tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    for split, rows in (("train", DEV), ("dev", DEV), ("test", TEST)):
        pd.DataFrame([(n, "s1", split, 0, 1, r, q, "") for n, r, q in rows], columns=EXAMPLE_COLUMNS).to_csv(
            examples / f"{split}.tsv", sep="\t", index=False)
    test, dev = tmp_path / "seed0.tsv", tmp_path / "seed0.dev.tsv"
    metrics = run_reference("copy_question", "phoenix", examples, tmp_path / "seed0.json", test, dev)
    for path, rows, split in ((test, TEST, "test"), (dev, DEV, "dev")):
        frame = read_predictions(path)
        assert list(frame["name"]) == [n for n, _, _ in rows]
        assert corpus_scores(list(frame["hypothesis"]), list(frame["reference"]), "word")["bleu4"] == \
            pytest.approx(metrics[split]["bleu4"], abs=0.005)
