"""Tables 1-8 and Figure 4 from hand-made result files (qbslt.reports)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from qbslt.errors import ConfigError
from qbslt.reports.example_translations import mark
from qbslt.reports.figure4 import merge_subwords, render_figure4, weights_frame, word_weights
from qbslt.reports.results import Results
from qbslt.reports.layout import DEFAULT_LAYOUT, DEFAULT_PAPER
from qbslt.reports.tables import render_all

REPO = Path(__file__).resolve().parents[1]

EMBEDDED = "Embedded synthetic data, not the paper's datasets"
N_BOOT = 200

# Hand-made test scores [B1, B2, B3, B4, ROUGE] per (dataset, variant, seed).
SCORES = {
    ("phoenix", "ssl_ssaw", 0): [70.00, 60.00, 50.00, 40.00, 72.00],
    ("phoenix", "ssl_ssaw", 1): [71.00, 61.50, 50.50, 42.00, 73.00],
    ("phoenix", "gfslt_vlp", 0): [40.00, 30.00, 20.00, 10.00, 41.00],
    ("phoenix", "gfslt_vlp", 1): [42.00, 31.00, 21.00, 13.00, 40.00],
    ("phoenix", "qb_concat", 0): [55.55, 44.44, 33.33, 22.22, 50.00],  # one seed only
    ("phoenix", "copy_question", 0): [50.00, 40.00, 30.00, 20.00, 55.00],
    ("csl", "ssl_ssaw", 0): [60.00, 50.00, 40.00, 30.00, 60.00],
    ("csl", "gfslt_vlp", 0): [30.00, 20.00, 10.00, 5.00, 30.00],
    ("csl", "qb_concat", 0): [35.00, 25.00, 15.00, 7.00, 33.00],
}
# ssl_concat (and every other phoenix ablation) is deliberately missing: "not run".

# Every reference has 6 words, so that equal-quality hypotheses get equal sentence BLEU.
REGIONS = ["im norden", "im süden", "im osten", "im westen", "im nordwesten", "im südosten"]
DAYS = ["am montag", "am dienstag", "am mittwoch", "am donnerstag", "am freitag", "am samstag"]
WEATHER = ["regnet es", "schneit es", "hagelt es", "stürmt es", "nieselt es"]


def _phoenix_corpus() -> list[tuple[str, str, str]]:
    rows = []
    for i in range(48):
        day, region, weather = DAYS[i % 6], REGIONS[(i // 6) % 6], WEATHER[i % 5]
        ref = f"{day} {weather} {region}"
        rows.append((f"ex{i:03d}", ref, f"Was passiert {day.title()} {region.title()}"))
    return rows


def _write_predictions(root: Path, dataset: str, variant: str, seed: int, rows, hyp_of) -> None:
    path = root / "predictions" / dataset / variant / f"seed{seed}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([{"name": n, "reference": r, "question": q, "hypothesis": hyp_of(i, r)}
                          for i, (n, r, q) in enumerate(rows)])
    frame.to_csv(path, sep="\t", index=False)


REFERENCE_SYSTEMS = ("copy_question", "retrieve")


def _history(seed: int) -> list[dict]:
    """Two stage-2 epochs as the training loop records them (dev BLEU-4 only where evaluated)."""
    return [{"epoch": 1, "loss": 3.0 + seed, "l_d": 1.0, "l_s": 2.0 + seed},
            {"epoch": 2, "loss": 2.0 + seed, "l_d": 0.5, "l_s": 1.5 + seed, "dev_score": 12.5 + seed}]


def write_metrics(root: Path, dataset: str, variant: str, seed: int, scores: list[float]) -> Path:
    test = dict(zip(["bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"], scores))
    dev = {**test, "bleu4": test["bleu4"] - 2.0}  # dev differs from test, as on the QA data
    if variant not in REFERENCE_SYSTEMS:  # the input-reliance check of a trained run
        for split in (dev, test):
            split["shuffled_video"] = {"bleu4": split["bleu4"] - 5.0 - seed}
            if variant != "gfslt_vlp":  # gfslt_vlp reads no question
                split["shuffled_question"] = {"bleu4": split["bleu4"] - 1.0}
    data = {"dataset": dataset, "variant": variant, "seed": seed, "dev": dev, "test": test, "epochs": 1,
            "best_epoch": 1, "train_seconds": 1.0, "samples_per_second": 1.0, "parameters": 1, "config_hash": "x"}
    if variant not in REFERENCE_SYSTEMS:  # the reference systems are not trained: no history
        data["history"] = _history(seed)
    path = root / "metrics" / dataset / variant / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _build_results(root: Path) -> None:
    for (dataset, variant, seed), s in SCORES.items():
        write_metrics(root, dataset, variant, seed, s)

    phoenix = _phoenix_corpus()
    for seed in (0, 1):
        # ssl_ssaw: perfect except two sentences; gfslt_vlp: mostly wrong.
        _write_predictions(root, "phoenix", "ssl_ssaw", seed, phoenix,
                           lambda i, r: r if i % 20 else " ".join(r.split()[1:]))
        _write_predictions(root, "phoenix", "gfslt_vlp", seed, phoenix,
                           lambda i, r: "sonntag kalt und windig" if i % 3 else r)
    _write_predictions(root, "phoenix", "qb_concat", 0, phoenix,
                       lambda i, r: r if i % 2 else r.split()[0] + " " + r.split()[1] + " fällt regen")
    _write_predictions(root, "phoenix", "copy_question", 0, phoenix, lambda i, r: r.split()[0] + " passiert")

    csl_refs = ["我明天去北京。", "他在商店买苹果。", "我们下午见面。", "她今年二十岁。", "医生说我感冒了。"]
    csl = [(f"c{i}", ref, "你去哪里？") for i, ref in enumerate(csl_refs)]
    _write_predictions(root, "csl", "ssl_ssaw", 0, csl, lambda i, r: r)
    _write_predictions(root, "csl", "gfslt_vlp", 0, csl, lambda i, r: "我去商店。")
    _write_predictions(root, "csl", "qb_concat", 0, csl, lambda i, r: r[:3] + "医院。")

    ssaw = {"fusion": "ssaw", "examples": [
        {"name": "ex000", "question": "Wie wird das Wetter", "reference": "am montag regnet es", "split": 6,
         "video_len": 3, "question_tokens": ["▁Wie", "▁wird", "▁das", "▁Wet", "ter", "</s>"],
         "weights": [0.6, 0.5, 0.4, 0.9, 0.7, 0.55, 0.3, 0.2, 0.1]},
        {"name": "ex001", "question": "Regnet es", "reference": "am dienstag scheint die sonne", "split": 3,
         "video_len": 4, "question_tokens": ["Reg", "##net", "es"], "weights": [0.8, 0.6, 0.5, 0.2, 0.3, 0.4, 0.1]},
        {"name": "ex002", "question": "wo schneit es", "reference": "im norden schneit es", "split": 3,
         "video_len": 2, "question_tokens": ["wo", "schneit", "es"], "weights": [0.5, 0.9, 0.6, 0.2, 0.3]},
        {"name": "ex003", "question": "x", "reference": "y", "split": 1, "video_len": 1,
         "question_tokens": ["x"], "weights": [0.5, 0.5]},
    ]}
    path = root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ssaw, ensure_ascii=False))


def matrix(root: Path) -> Results:
    """The configured runs of these tests: those of SCORES (what the Snakemake rule passes)."""
    return Results.from_metrics_files(root, [root / "metrics" / d / v / f"seed{s}.json" for d, v, s in SCORES])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path, list[Path]]:
    root = tmp_path_factory.mktemp("results")
    _build_results(root)
    out = tmp_path_factory.mktemp("tables")
    written = render_all(matrix(root), out, bootstrap_samples=N_BOOT,
                         figure4_ssaw=root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json", reliance=True)
    return root, out, written


def test_tables_show_dev_bleu4_beside_test(rendered):
    _, out, _ = rendered
    t1 = _csv(out, 1)
    ssl = _row(t1, "ssl_ssaw")
    assert ssl["dev_bleu4_mean"] == pytest.approx(39.0) and ssl["bleu4_mean"] == pytest.approx(41.0)
    assert pd.isna(_row(t1, "copy_question")["dev_bleu4_mean"]) is False  # reference systems score dev too
    md = (out / "table1.md").read_text()
    assert "dev B4" in md.splitlines()[2] and "39.00 ± 1.41" in _md_row(md, "ssl_ssaw")


def test_reliance_table_gives_the_drop_per_input(rendered):
    _, out, written = rendered
    assert out / "reliance.md" in written and out / "reliance.csv" in written
    frame = pd.read_csv(out / "reliance.csv")
    assert set(frame["variant"]) == {"ssl_ssaw", "gfslt_vlp", "qb_concat"}  # trained runs only
    ssl = frame[(frame["dataset"] == "phoenix") & (frame["variant"] == "ssl_ssaw")].iloc[0]
    assert ssl["test_bleu4_mean"] == pytest.approx(41.0)
    assert ssl["test_delta_video_mean"] == pytest.approx(5.5) and ssl["test_delta_video_std"] == pytest.approx(0.7071, 1e-3)
    assert ssl["dev_delta_question_mean"] == pytest.approx(1.0)
    gf = frame[(frame["dataset"] == "phoenix") & (frame["variant"] == "gfslt_vlp")].iloc[0]
    assert pd.isna(gf["test_delta_question_mean"])
    line = _md_row((out / "reliance.md").read_text(), "phoenix | gfslt_vlp")
    assert line.count("–") == 4  # no question: its shuffled score and Δ, on dev and test


def _csv(out: Path, n: int) -> pd.DataFrame:
    return pd.read_csv(out / f"table{n}.csv", dtype={"variant": str}, keep_default_na=True)


def _row(frame: pd.DataFrame, variant: str) -> pd.Series:
    rows = frame[frame["variant"] == variant]
    assert len(rows) == 1, variant
    return rows.iloc[0]


def _md_row(md: str, needle: str) -> str:
    (line,) = [ln for ln in md.splitlines() if ln.startswith("|") and f"| {needle} |" in ln]
    return line


# ---------------------------------------------------------------------------------------------
# Tables 1-7


def test_all_outputs_written(rendered):
    _, out, written = rendered
    names = {p.name for p in written}
    for n in range(1, 9):
        for ext in ("md", "csv", "tex"):
            assert f"table{n}.{ext}" in names
    assert {"table8.html", "summary.json", "bleu4_by_variant.csv", "training_curves.csv",
            "figure4_weights.csv"} <= names
    assert {p.relative_to(out).as_posix() for p in written if p.parent.parent == out / "scores"} == \
        {f"scores/{d}/{v}.json" for d, v, _ in SCORES}
    assert all(p.exists() and p.stat().st_size > 0 for p in written)


def test_mean_std_exact(rendered):
    _, out, _ = rendered
    t4 = _csv(out, 4)
    ssaw = _row(t4, "ssl_ssaw")
    assert ssaw["n_seeds"] == 2 and ssaw["seeds"] == "0;1"
    # bleu4: 40, 42 -> mean 41, std (ddof=1) = sqrt(((−1)^2 + 1^2) / 1) = sqrt(2)
    assert ssaw["bleu4_mean"] == pytest.approx(41.0, abs=1e-9)
    assert ssaw["bleu4_std"] == pytest.approx(round(math.sqrt(2), 6), abs=1e-9)
    # bleu2: 60, 61.5 -> mean 60.75, std 1.5 / sqrt(2)
    assert ssaw["bleu2_mean"] == pytest.approx(60.75, abs=1e-9)
    assert ssaw["bleu2_std"] == pytest.approx(round(1.5 / math.sqrt(2), 6), abs=1e-9)
    gf = _row(t4, "gfslt_vlp")
    assert gf["bleu4_mean"] == pytest.approx(11.5) and gf["bleu4_std"] == pytest.approx(round(3 / math.sqrt(2), 6))
    assert gf["rouge_l_mean"] == pytest.approx(40.5) and gf["rouge_l_std"] == pytest.approx(round(1 / math.sqrt(2), 6))
    qb = _row(t4, "qb_concat")  # one seed: std 0, shown as ± 0.00
    assert qb["n_seeds"] == 1 and qb["bleu4_mean"] == pytest.approx(22.22) and qb["bleu4_std"] == 0.0
    md = (out / "table4.md").read_text()
    assert "22.22 ± 0.00" in _md_row(md, "qb_concat")
    assert "41.00 ± 1.41" in _md_row(md, "ssl_ssaw")


def test_paper_values_and_delta(rendered):
    _, out, _ = rendered
    paper = yaml.safe_load(DEFAULT_PAPER.read_text())
    t4 = _csv(out, 4)
    ssaw = _row(t4, "ssl_ssaw")
    assert ssaw["bleu4_paper"] == 35.42
    assert ssaw["bleu4_delta"] == pytest.approx(41.0 - 35.42, abs=1e-6)
    assert ssaw["rouge_l_paper"] == 60.16
    assert ssaw["rouge_l_delta"] == pytest.approx(72.5 - 60.16, abs=1e-6)
    gf = _row(t4, "gfslt_vlp")
    assert gf["bleu1_paper"] == paper["table4"]["✗ ✗ ✗"][0]
    assert gf["bleu1_delta"] == pytest.approx(41.0 - 43.71, abs=1e-6)
    # Table 4's SSL-Concat row is the ✓✓✗ row; Table 5's is the one printed there (docs/paper-notes.md).
    assert _row(t4, "ssl_concat")["bleu4_paper"] == 27.69
    assert _row(_csv(out, 5), "ssl_concat")["bleu4_paper"] == 25.75
    md = (out / "table4.md").read_text()
    assert "35.42 (+5.58)" in md and "43.71 (-2.71)" in md


def test_missing_variant_not_run(rendered):
    _, out, _ = rendered
    t4 = _csv(out, 4)
    missing = _row(t4, "ssl_concat")
    assert missing["status"] == "not run"
    assert missing["n_seeds"] == 0 and pd.isna(missing["bleu4_mean"]) and pd.isna(missing["bleu4_delta"])
    assert pd.isna(missing["p_value"])
    line = _md_row((out / "table4.md").read_text(), "ssl_concat")
    assert line.count("not run") == 6  # the five test metrics and dev BLEU-4
    for n in (3, 5, 6, 7):  # every ablation besides ssl_ssaw is missing (reference systems are not ablations)
        frame = _csv(out, n)
        ablations = frame[(frame["variant"] != "ssl_ssaw") & (frame["group"] != "Reference systems (not trained)")]
        assert set(ablations["status"]) == {"not run"}
    t7 = _csv(out, 7)
    assert _row(t7, "copy_question")["status"] == "measured"  # Tables 4 and 7 show the copy-question floor
    t2 = _csv(out, 2)
    assert _row(t2, "copy_question")["status"] == "not run"  # no CSL reference systems written


def test_caption_mentions_embedded_data(rendered):
    _, out, _ = rendered
    for n in range(1, 9):
        first = (out / f"table{n}.md").read_text().splitlines()[0]
        assert first.startswith(f"Table {n}:") and EMBEDDED in first
    assert "1-2 seeds per row (column n); seeds found: 0, 1" in (out / "table4.md").read_text().splitlines()[0]
    assert EMBEDDED in (out / "table1.tex").read_text()


def test_caption_paper_profile(tmp_path, rendered):
    root, _, _ = rendered
    render_all(root, tmp_path, bootstrap_samples=N_BOOT, profile="paper")
    first = (tmp_path / "table1.md").read_text().splitlines()[0]
    assert EMBEDDED not in first and "PHOENIX-2014T-QA" in first
    assert "CSL-Daily-QA" in (tmp_path / "table2.md").read_text().splitlines()[0]
    with pytest.raises(ConfigError, match="unknown profile"):
        render_all(root, tmp_path, profile="nonsense")


def test_bootstrap_significance(rendered):
    _, out, _ = rendered
    t4 = _csv(out, 4)
    assert "p_value" in t4.columns
    gf = _row(t4, "gfslt_vlp")
    assert gf["p_value"] < 0.05 and bool(gf["significant"]) and gf["bootstrap_run_seed"] == 0
    assert gf["bootstrap_bleu4_delta"] < 0  # the row is worse than the reference
    ref = _row(t4, "ssl_ssaw")
    assert bool(ref["is_reference"]) and pd.isna(ref["p_value"])
    md = (out / "table4.md").read_text()
    assert "†" in _md_row(md, "gfslt_vlp") and "†" not in _md_row(md, "ssl_ssaw")
    assert r"$^\dagger$" in (out / "table4.tex").read_text()
    # Table 1 tests the reference system against SSL-SSAW too (first common seed: 0).
    copy = _row(_csv(out, 1), "copy_question")
    assert copy["p_value"] < 0.05 and copy["bootstrap_run_seed"] == 0


def test_comparison_table_layout(rendered):
    _, out, _ = rendered
    t1 = _csv(out, 1)
    reported = t1[t1["status"] == "reported (not run)"]
    assert "NSLT" in set(reported["label"]) and "GBT" in set(reported["label"])
    assert pd.isna(reported["bleu4_mean"]).all() and reported["bleu4_paper"].notna().all()
    assert list(t1.loc[t1["label"] == "TS-SLT", "group"]) == ["Gloss-based SLT (GB-SLT)"]
    # The measured rows replace their paper rows (no duplicate GFSLT-VLP line).
    assert list(t1["label"]).count("GFSLT-VLP") == 1
    assert _row(t1, "gfslt_vlp")["bleu4_paper"] == 21.44
    md = (out / "table1.md").read_text()
    assert "**Question-based SLT (QB-SLT)**" in md and "**Reference systems (not trained)**" in md
    assert "| NSLT | reported (not run) |" in md


def test_summary_and_runs(rendered):
    _, out, _ = rendered
    summary = json.loads((out / "summary.json").read_text())
    assert summary["phoenix"]["ssl_ssaw"] == {"test_bleu4": 41.0, "test_rouge_l": 72.5, "n_seeds": 2}
    assert "ssl_concat" not in summary["phoenix"]
    runs = pd.read_csv(out / "bleu4_by_variant.csv")
    assert list(runs.columns) == ["dataset", "variant", "seed", "bleu4", "rouge_l"]
    assert len(runs) == len(SCORES)


def test_scores_one_file_per_dataset_and_variant(rendered):
    _, out, _ = rendered
    ssaw = json.loads((out / "scores" / "phoenix" / "ssl_ssaw.json").read_text())
    assert ssaw == {"test_bleu4": 41.0, "test_bleu4_std": 1.41, "test_rouge_l": 72.5, "test_rouge_l_std": 0.71,
                    "n_seeds": 2}
    qb = json.loads((out / "scores" / "phoenix" / "qb_concat.json").read_text())
    assert qb["n_seeds"] == 1 and qb["test_bleu4_std"] == 0.0
    assert not (out / "scores" / "phoenix" / "ssl_concat.json").exists()  # not run


def test_scores_drop_pairs_no_longer_in_the_matrix(tmp_path, rendered):
    root, out, _ = rendered
    scores = tmp_path / "scores"
    shutil.copytree(out / "scores", scores)
    stale = (scores / "phoenix" / "ssl_ssaw.json").read_text()
    (scores / "phoenix" / "old_variant.json").write_text(stale)
    (scores / "how2sign").mkdir()
    (scores / "how2sign" / "ssl_ssaw.json").write_text(stale)
    (scores / "notes").mkdir()
    (scores / "notes" / "other.json").write_text("{}")  # not a scores file: left alone
    render_all(matrix(root), tmp_path / "t", bootstrap_samples=N_BOOT, numbers=[4], scores_dir=scores)
    assert sorted(p.relative_to(scores).as_posix() for p in scores.rglob("*")) == sorted(
        {d for d, _, _ in SCORES} | {f"{d}/{v}.json" for d, v, _ in SCORES} | {"notes", "notes/other.json"})


def test_training_curves(rendered):
    _, out, _ = rendered
    curves = pd.read_csv(out / "training_curves.csv")
    assert list(curves.columns) == ["dataset", "variant", "seed", "epoch", "quantity", "value"]
    trained = {(d, v, s) for d, v, s in SCORES if v not in REFERENCE_SYSTEMS}
    assert set(curves[["dataset", "variant", "seed"]].itertuples(index=False, name=None)) == trained
    run = curves[(curves["dataset"] == "phoenix") & (curves["variant"] == "ssl_ssaw") & (curves["seed"] == 1)]
    assert sorted(run[run["epoch"] == 1]["quantity"]) == ["l_d", "l_s", "loss"]
    dev = run[run["quantity"] == "dev_bleu4"]
    assert list(dev["epoch"]) == [2] and list(dev["value"]) == [13.5]  # only the evaluated epoch


def test_layout_covers_every_variant():
    layout = yaml.safe_load(DEFAULT_LAYOUT.read_text())
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    in_layout = {r["variant"] for t in layout["tables"].values() for r in t.get("rows", []) + t.get("measured", [])}
    assert set(params["experiment"]["variants"]) == in_layout


# ---------------------------------------------------------------------------------------------
# Table 8


def _states(hyp: str, ref: str) -> list[tuple[str, str]]:
    return mark(hyp.split(), ref.split())


def _paper_form(marked: list[tuple[str, str]]) -> str:
    return " ".join("[Miss]" if s == "miss" else t for t, s in marked)


C, W, M = "correct", "wrong", "miss"


def test_mark_paper_example_1():
    ref = "auch am wochenende schneit es zeitweise"
    assert _states("am wochenende schneit es zeitweise", ref) == \
        [("auch", M), ("am", C), ("wochenende", C), ("schneit", C), ("es", C), ("zeitweise", C)]
    assert _states("schneit es auch am wochenende zeitweise", ref) == \
        [("schneit", W), ("es", W), ("auch", C), ("am", C), ("wochenende", C), ("schneit", M), ("es", M),
         ("zeitweise", C)]
    got = _states("am wochenende fällt hier und da etwas regen oder schnee", ref)
    assert _paper_form(got) == "[Miss] am wochenende fällt hier und da etwas regen oder schnee"
    assert [s for _, s in got] == [M, C, C] + [W] * 8


def test_mark_paper_example_2():
    ref = "heute nacht gibt es an der oder noch einzelne schneeschaer"
    got = _states("heute nacht gibt es verbreitet schneeschaer", ref)
    assert _paper_form(got) == "heute nacht gibt es verbreitet [Miss] [Miss] [Miss] [Miss] schneeschaer"
    assert [s for _, s in got] == [C] * 4 + [W] + [M] * 4 + [C]
    got = _states("gibt es heute abend eine schneeschaer gibt", ref)
    assert _paper_form(got) == "[Miss] [Miss] gibt es heute abend eine [Miss] [Miss] schneeschaer gibt"
    assert [s for _, s in got] == [M, M, C, C, W, W, W, M, M, C, W]
    got = _states("heute nacht schneit es stellenweise im norden auch schneeregen", ref)
    assert _paper_form(got) == "heute nacht schneit es stellenweise im norden auch schneeregen [Miss]"
    assert [s for _, s in got] == [C, C, W, C] + [W] * 5 + [M]


def test_mark_paper_example_3():
    ref = "am tag ist es meist stark bewölkt oder neblig trüb"
    got = _states("am tag meist stark bewölkt oder neblig trüb", ref)
    assert _paper_form(got) == "am tag [Miss] [Miss] meist stark bewölkt oder neblig trüb"
    got = _states("ist es am tag meist stark bewölkt oder neblig trüb am alpenrand regnet oder neblig", ref)
    assert _paper_form(got) == ("ist es am tag [Miss] [Miss] meist stark bewölkt oder neblig trüb "
                                "am alpenrand regnet oder neblig")
    assert [s for _, s in got] == [W, W, C, C, M, M] + [C] * 6 + [W] * 5
    got = _states("am tag gibt es neben wolken und nebelfeldern auch gebietsweise wolken", ref)
    assert [s for _, s in got] == [C, C, W, C] + [W] * 7


def test_mark_edge_cases():
    assert mark([], ["a", "b"]) == [("a", M), ("b", M)]
    assert mark(["a"], []) == [("a", W)]
    assert mark([], []) == []
    assert mark(list("我去北京"), list("我明天去北京")) == \
        [("我", C), ("明", M), ("天", M), ("去", C), ("北", C), ("京", C)]


def test_table8_rendering(rendered):
    _, out, _ = rendered
    t8 = pd.read_csv(out / "table8.csv", keep_default_na=False)
    ph = t8[t8["dataset"] == "phoenix"]
    assert sorted(set(ph["rank"])) == [1, 2, 3]
    assert set(ph["system"]) == {"question", "reference", "ssl_ssaw", "qb_concat", "gfslt_vlp"}
    assert set(ph["label"]) >= {"QB-GFSLT-VLP", "GFSLT-VLP", "SSL-SSAW"}
    # Largest gain first, ties by name: ssl_ssaw is perfect where gfslt_vlp is wrong (i % 3 != 0).
    firsts = ph[ph["system"] == "ssl_ssaw"].sort_values("rank")
    assert list(firsts["name"]) == ["ex001", "ex002", "ex004"]
    assert (firsts["n_wrong"].astype(int) == 0).all()
    md = (out / "table8.md").read_text()
    assert "DB-GFSLT" in md and "~~" in md and "**" in md
    html = (out / "table8.html").read_text()
    assert 'class="correct"' in html and 'class="wrong"' in html
    tex = (out / "table8.tex").read_text()
    assert r"\textcolor{green}" in tex and r"\textcolor{red}" in tex
    # CSL: characters are the tokens.
    csl = t8[(t8["dataset"] == "csl") & (t8["system"] == "qb_concat")]
    assert len(csl) == 3 and all(" " in m for m in csl["marked"])


# ---------------------------------------------------------------------------------------------
# Figure 4


def test_merge_subwords():
    words = merge_subwords(["▁Wie", "▁wird", "▁das", "▁Wet", "ter", "</s>"])
    assert [(w.text, w.indices, w.special) for w in words] == [
        ("Wie", [0], False), ("wird", [1], False), ("das", [2], False), ("Wetter", [3, 4], False),
        ("</s>", [5], True)]
    words = merge_subwords(["[CLS]", "Reg", "##net", "es", "[SEP]"])
    assert [w.text for w in words] == ["[CLS]", "Regnet", "es", "[SEP]"]
    assert [w.text for w in merge_subwords(["wo", "schneit", "es"])] == ["wo", "schneit", "es"]


def test_word_weights_average_subwords():
    ex = {"name": "e", "split": 3, "video_len": 2, "question_tokens": ["Reg", "##net", "es"],
          "weights": [0.8, 0.6, 0.5, 0.2, 0.3]}
    words, q, video = word_weights(ex)
    assert [w.text for w in words] == ["Regnet", "es"]
    assert q.tolist() == pytest.approx([0.7, 0.5]) and video.tolist() == pytest.approx([0.2, 0.3])
    with pytest.raises(ValueError, match="split"):
        word_weights({**ex, "split": 2})


def test_figure4_written(rendered, tmp_path):
    root, _, _ = rendered
    png, pdf = tmp_path / "figure4.png", tmp_path / "figure4.pdf"
    render_figure4(root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json", png, pdf)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


def test_figure4_bytes_carry_no_date(rendered, tmp_path, monkeypatch):
    """The same weights give the same PNG and PDF bytes at another time: no creation date inside."""
    root, _, _ = rendered
    ssaw = root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json"
    render_figure4(ssaw, tmp_path / "a.png", tmp_path / "a.pdf")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")  # matplotlib's date for the PDF, when it writes one
    render_figure4(ssaw, tmp_path / "b.png", tmp_path / "b.pdf")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()


def test_figure4_weights_frame(rendered):
    root, out, _ = rendered
    frame = pd.read_csv(out / "figure4_weights.csv", keep_default_na=False)
    assert frame.equals(weights_frame(root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json"))
    assert sorted(set(frame["rank"])) == [1, 2, 3]  # the first three examples, as in the figure
    first = frame[frame["rank"] == 1]
    assert list(first["token"]) == ["Wie", "wird", "das", "Wetter", "</s>", "v0", "v1", "v2"]
    assert list(first["part"]) == ["question"] * 5 + ["video"] * 3
    assert list(first["cell"])[:4] == ["0 Wie", "1 wird", "2 das", "3 Wetter"]
    assert first.loc[first["token"] == "Wetter", "weight"].item() == pytest.approx(0.8)  # mean of "▁Wet", "ter"
    assert sorted(first.loc[first["highlight"] == 1, "token"]) == ["Wetter", "Wie"]  # top 2, specials never
    assert first["example"].iloc[0] == "1. Wie wird das Wetter % am montag regnet es"


@pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not installed")
def test_dvc_metrics_and_plots(tmp_path, rendered):
    """`dvc metrics show`: one row per (dataset, variant); `dvc plots show`: training curves, Figure 4."""
    root, _, _ = rendered

    def dvc(*args) -> str:
        done = subprocess.run(["dvc", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    (tmp_path / ".dvc").mkdir()  # what `dvc init --no-scm` writes (one dvc start-up less)
    (tmp_path / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
    for name in ("dvc.yaml", "params.yaml", ".dvc/plots/training_curves.json", ".dvc/plots/figure4.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    results = tmp_path / "results" / "embedded"  # params.yaml: profile embedded
    render_all(matrix(root), results / "tables", bootstrap_samples=N_BOOT, numbers=[4],
               summary_path=results / "summary.json", runs_path=results / "plots" / "bleu4_by_variant.csv",
               scores_dir=results / "scores", curves_path=results / "plots" / "training_curves.csv",
               figure4_ssaw=root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json",
               figure4_data=results / "plots" / "figure4_weights.csv")
    header, *lines = [ln.split() for ln in dvc("metrics", "show").splitlines() if ln.strip()]
    assert header == ["Path", "n_seeds", "test_bleu4", "test_bleu4_std", "test_rouge_l", "test_rouge_l_std"]
    rows = {line[0]: dict(zip(header[1:], map(float, line[1:]))) for line in lines}
    assert sorted(rows) == sorted({f"results/embedded/scores/{d}/{v}.json" for d, v, _ in SCORES})  # one row per pair
    assert rows["results/embedded/scores/phoenix/ssl_ssaw.json"] == {
        "n_seeds": 2, "test_bleu4": 41.0, "test_bleu4_std": 1.41, "test_rouge_l": 72.5, "test_rouge_l_std": 0.71}
    plots = json.loads(dvc("plots", "show", "--json"))["data"]
    for name in ("training_curves", "figure4_weights"):
        (plot,) = plots[f"results/embedded/plots/{name}.csv"]
        assert "facet" in plot["content"]  # our template (.dvc/plots), filled with the data
        assert plot["content"]["data"]["values"]


def test_figure4_rejects_non_ssaw(tmp_path):
    path = tmp_path / "seed0.json"
    path.write_text(json.dumps({"fusion": "concat", "examples": None}))
    with pytest.raises(ValueError, match="SSAW"):
        render_figure4(path, tmp_path / "a.png", tmp_path / "a.pdf")


def test_docs_check_on_the_rendered_tables(rendered, tmp_path, capsys):
    """`qbslt docs` fills a doc's blocks from a results tree of rendered tables; `--check` then passes,
    and fails again once a table changes."""
    from qbslt.cli import main

    _, out, _ = rendered
    tables = tmp_path / "results" / "embedded" / "tables"
    shutil.copytree(out, tables)
    numbers = sorted(int(p.stem[5:]) for p in tables.glob("table*.md"))
    assert numbers
    doc = tmp_path / "doc.md"
    doc.write_text("".join(f"## Table {n}\n\n<!-- results/embedded/tables/table{n}.md -->\nstale\n<!-- end -->\n\n"
                           for n in numbers))
    measurements = tmp_path / "measurements.yaml"
    measurements.write_text("{}\n")
    args = ["docs", "--results", str(tmp_path / "results"), "--doc", str(doc), "--measurements", str(measurements)]
    assert main([*args, "--check"]) == 1
    assert main(args) == 0
    assert main([*args, "--check"]) == 0
    assert f"0 block(s) differs, {len(numbers)} unchanged, 0 skipped" in capsys.readouterr().out
    text = doc.read_text()
    for n in numbers:
        assert (tables / f"table{n}.md").read_text().strip("\n") in text
    (tables / f"table{numbers[0]}.md").write_text("changed\n")
    assert main([*args, "--check"]) == 1


def test_docs_figure_blocks_copy_the_results_figure(tmp_path, capsys):
    """A figure block's image holds the results file's bytes: `qbslt docs` copies it, `--check` compares."""
    from qbslt.cli import main

    figure = tmp_path / "results" / "embedded" / "figures" / "figure4.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"\x89PNG new figure")
    doc = tmp_path / "docs" / "doc.md"
    doc.parent.mkdir()
    doc.write_text("<!-- results/embedded/figures/figure4.png -->![Figure 4](figures/f4.png)<!-- end -->\n")
    (tmp_path / "docs" / "figures").mkdir()
    (tmp_path / "docs" / "figures" / "f4.png").write_bytes(b"\x89PNG stale figure")
    measurements = tmp_path / "measurements.yaml"
    measurements.write_text("{}\n")
    args = ["docs", "--results", str(tmp_path / "results"), "--doc", str(doc), "--measurements", str(measurements)]
    assert main([*args, "--check"]) == 1
    assert "the image's bytes differ" in capsys.readouterr().err
    assert main(args) == 0
    assert (tmp_path / "docs" / "figures" / "f4.png").read_bytes() == figure.read_bytes()
    assert main([*args, "--check"]) == 0
    figure.unlink()  # no results: skipped, the committed image stays
    assert main([*args, "--check"]) == 0 and "1 skipped" in capsys.readouterr().out
    doc.write_text("<!-- results/embedded/figures/figure4.png -->see the figure<!-- end -->\n")
    assert main([*args, "--check"]) == 2
    assert "doc.md:1: a figure block holds one Markdown image" in capsys.readouterr().err
