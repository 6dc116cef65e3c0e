"""The paper's claims judged from the numbers (qbslt.reports.claims): paired Δ, the verdict rule, the
files, the CLI, and the workflow that writes them."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO
from qbslt import config
from qbslt.cli import main as cli_main
from qbslt.errors import ResultError
from qbslt.plan.dry_run import parse_dry_run
from qbslt.reports.claims import (COLUMNS, FAILS, HOLDS, INCONCLUSIVE, MIXED, MIN_SEEDS, NOT_MEASURED,
                                  STANDARD_ERRORS, claim_verdict, figure4_run_of, judge, render_claims)
from qbslt.reports.layout import DEFAULT_LAYOUT
from qbslt.reports.results import METRICS, Results
from qbslt.reports.tables import NOT_RUN
from test_workflow import run, write_params

CLAIMS = yaml.safe_load(DEFAULT_LAYOUT.read_text(encoding="utf-8"))["claims"]
FIGURE4_RUN = ("phoenix", "ssl_ssaw")

# (dev, test) BLEU-4 per (dataset, variant, seed). Built so that each pair's paired Δ is known:
#   qb_concat − qb_question_only: dev +5, +6, +7 (seed 3 of qb_concat has no control: left out),
#                                 test +4, +4, +4 (no spread)          -> holds
#   ssl_ssaw − question_only:     one paired seed                      -> inconclusive (n=1)
#   ssl_concat − qb_concat:       dev -3, -2, -4; test -1, -1.5, -0.5  -> fails
#   ssl_ssaw − qb_ssaw:           not run (no qb_ssaw)
#   qb_ssaw − qb_concat:          not run
#   ssl_ssaw − ssl_concat:        dev and test around 0                -> inconclusive
SCORES = {
    ("phoenix", "qb_concat", 0): (20.0, 30.0), ("phoenix", "qb_concat", 1): (21.0, 31.0),
    ("phoenix", "qb_concat", 2): (22.0, 32.0), ("phoenix", "qb_concat", 3): (99.0, 99.0),
    ("phoenix", "qb_question_only", 0): (15.0, 26.0), ("phoenix", "qb_question_only", 1): (15.0, 27.0),
    ("phoenix", "qb_question_only", 2): (15.0, 28.0),
    ("phoenix", "ssl_ssaw", 0): (18.0, 30.0), ("phoenix", "ssl_ssaw", 1): (18.5, 29.0),
    ("phoenix", "ssl_ssaw", 2): (17.0, 31.0),
    ("phoenix", "question_only", 1): (14.0, 28.0),
    ("phoenix", "ssl_concat", 0): (17.0, 29.0), ("phoenix", "ssl_concat", 1): (19.0, 29.5),
    ("phoenix", "ssl_concat", 2): (18.0, 31.5),
    ("csl", "qb_concat", 0): (40.0, 40.0),
}


def write_metrics(root: Path, dataset: str, variant: str, seed: int, dev: float, test: float) -> Path:
    path = Results.metrics_file(root, dataset, variant, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"test": {**dict.fromkeys(METRICS, 50.0), "bleu4": test}, "dev": {"bleu4": dev}}))
    return path


def build(root: Path, scores: dict = SCORES) -> Results:
    return Results.from_metrics_files(root, [write_metrics(root, *run, *dt) for run, dt in scores.items()])


def write_figure4(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def rendered(tmp_path) -> tuple[Path, pd.DataFrame]:
    results = build(tmp_path / "results")
    stats = write_figure4(tmp_path / "figure4.csv", [  # per seed, then pooled over the seeds (left out)
        {"seed": s, "n_examples": 9, "question_mean": 0.6 + d, "video_mean": 0.5, "difference": 0.1 + d,
         "ci_low": 0.05 + d, "ci_high": 0.15 + d} for s, d in ((0, 0.0), (1, 0.01), (2, -0.01), ("all", -0.5))])
    out = tmp_path / "tables"
    render_claims(results, out, FIGURE4_RUN, stats)
    return out, pd.read_csv(out / "claims.csv", keep_default_na=False, na_values=[""])


def _row(frame: pd.DataFrame, dataset: str, treatment: str, control: str) -> pd.Series:
    rows = frame[(frame["dataset"] == dataset) & (frame["treatment"] == treatment) & (frame["control"] == control)]
    assert len(rows) == 1, (dataset, treatment, control)
    return rows.iloc[0]


# ---------------------------------------------------------------------------------------------
# Paired Δ and spread


def test_paired_delta_uses_only_the_seeds_both_sides_ran(rendered):
    _, frame = rendered
    row = _row(frame, "phoenix", "qb_concat", "qb_question_only")
    assert row["seeds"] == "0 1 2" and row["n"] == 3  # qb_concat's seed 3 has no control
    assert row["dev_delta_mean"] == pytest.approx(6.0) and row["dev_delta_std"] == pytest.approx(1.0)
    assert row["test_delta_mean"] == pytest.approx(4.0) and row["test_delta_std"] == pytest.approx(0.0)
    assert row["verdict"] == HOLDS  # no spread on test: any positive mean is clear of 0

    one = _row(frame, "phoenix", "ssl_ssaw", "question_only")
    assert one["seeds"] == "1" and one["n"] == 1 and one["verdict"] == f"{INCONCLUSIVE} (n=1)"
    assert one["dev_delta_mean"] == pytest.approx(4.5) and math.isnan(one["dev_delta_std"])

    fails = _row(frame, "phoenix", "ssl_concat", "qb_concat")
    assert fails["dev_delta_mean"] == pytest.approx(-3.0) and fails["test_delta_mean"] == pytest.approx(-1.0)
    assert fails["verdict"] == FAILS


def test_a_pair_missing_from_the_matrix_is_not_run(rendered):
    _, frame = rendered
    for dataset, treatment, control in (("phoenix", "ssl_ssaw", "qb_ssaw"), ("phoenix", "qb_ssaw", "qb_concat"),
                                        ("csl", "qb_concat", "qb_question_only")):
        row = _row(frame, dataset, treatment, control)
        assert row["verdict"] == NOT_RUN and row["n"] == 0 and math.isnan(row["test_delta_mean"])


def test_every_claim_pair_on_every_dataset_of_the_matrix(rendered):
    _, frame = rendered
    pairs = [(p["treatment"], p["control"]) for c in CLAIMS for p in c.get("pairs", [])]
    weights = [c for c in CLAIMS if c.get("weights")]
    assert len(frame) == 2 * len(pairs) + len(weights)  # phoenix and csl
    assert list(frame.columns) == COLUMNS
    assert list(dict.fromkeys(frame["claim"])) == [c["claim"] for c in CLAIMS]  # layout order


# ---------------------------------------------------------------------------------------------
# The rule


def _deltas(dev: list[float], test: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"dev": dev, "test": test})


def _at_standard_errors(k: float, sign: float = 1.0) -> list[float]:
    """Three Δ with std 1 whose mean lies ``k`` standard errors (1/√3) from 0."""
    mean = sign * k / math.sqrt(3)
    return [mean - 1.0, mean, mean + 1.0]


@pytest.mark.parametrize("dev, test, verdict", [
    (_at_standard_errors(STANDARD_ERRORS + 0.01), _at_standard_errors(STANDARD_ERRORS + 0.01), HOLDS),
    (_at_standard_errors(STANDARD_ERRORS + 0.01), _at_standard_errors(STANDARD_ERRORS - 0.01), INCONCLUSIVE),
    (_at_standard_errors(STANDARD_ERRORS - 0.01), _at_standard_errors(10), INCONCLUSIVE),
    (_at_standard_errors(STANDARD_ERRORS + 0.01, -1), _at_standard_errors(STANDARD_ERRORS + 0.01, -1), FAILS),
    (_at_standard_errors(STANDARD_ERRORS - 0.01, -1), _at_standard_errors(10, -1), INCONCLUSIVE),
    (_at_standard_errors(10), _at_standard_errors(10, -1), INCONCLUSIVE),  # the splits disagree
    ([1.0, 1.0], [2.0, 2.0], HOLDS),  # no spread: the sign decides
    ([0.0, 0.0], [2.0, 2.0], INCONCLUSIVE),  # exactly 0 is not above 0
])
def test_rule_boundaries(dev, test, verdict):
    assert judge(_deltas(dev, test)) == verdict


def test_fewer_than_two_paired_seeds_is_inconclusive_with_n():
    assert MIN_SEEDS == 2
    assert judge(_deltas([50.0], [50.0])) == f"{INCONCLUSIVE} (n=1)"
    assert judge(_deltas([], [])) == f"{INCONCLUSIVE} (n=0)"


@pytest.mark.parametrize("verdicts, claim", [
    ([HOLDS, HOLDS, NOT_RUN], HOLDS),
    ([FAILS, FAILS], FAILS),
    ([HOLDS, FAILS], MIXED),
    ([HOLDS, INCONCLUSIVE], MIXED),
    ([INCONCLUSIVE, f"{INCONCLUSIVE} (n=1)", NOT_RUN], INCONCLUSIVE),
    ([NOT_RUN, NOT_RUN], NOT_RUN),
    ([NOT_MEASURED], NOT_MEASURED),
])
def test_claim_verdict(verdicts, claim):
    assert claim_verdict(verdicts) == claim


def test_claim_verdicts_in_the_table(rendered):
    _, frame = rendered
    verdict = frame.groupby("claim", sort=False)["claim_verdict"].agg(set)
    assert all(len(v) == 1 for v in verdict)  # one verdict per claim, on each of its rows
    assert verdict["sign helps beyond the question"] == {MIXED}  # holds + inconclusive (n=1)
    assert verdict["SSL helps"] == {FAILS}  # the one pair run fails
    assert verdict["SSAW helps over Concat"] == {INCONCLUSIVE}
    assert verdict["question tokens outweigh video in SSAW"] == {HOLDS}


# ---------------------------------------------------------------------------------------------
# Figure 4's statistic


def test_weights_row_from_figure4_statistic(rendered):
    _, frame = rendered
    row = frame[frame["statistic"] == "SSAW weight"].iloc[0]
    assert (row["dataset"], row["treatment"], row["control"]) == ("phoenix", "ssl_ssaw: question tokens",
                                                                   "video positions")
    assert row["seeds"] == "0 1 2" and row["test_delta_mean"] == pytest.approx(0.1)
    assert row["test_delta_std"] == pytest.approx(0.01) and math.isnan(row["dev_delta_mean"])  # test only
    assert row["verdict"] == HOLDS


def _weights_verdict(tmp_path, figure4_run, stats) -> str:
    results = build(tmp_path / "results", {("phoenix", "ssl_ssaw", 0): (1.0, 1.0)})
    frame = pd.read_csv(render_claims(results, tmp_path / "out", figure4_run, stats)[1])
    return frame[frame["statistic"] == "SSAW weight"]["verdict"].iloc[0]


def test_weights_not_measured_without_the_file_and_not_run_without_the_run(tmp_path):
    assert _weights_verdict(tmp_path, FIGURE4_RUN, tmp_path / "absent.csv") == NOT_MEASURED
    assert _weights_verdict(tmp_path, FIGURE4_RUN, None) == NOT_MEASURED
    assert _weights_verdict(tmp_path, None, None) == NOT_RUN


def test_weights_rows_of_other_runs_are_left_out(tmp_path):
    stats = write_figure4(tmp_path / "figure4.csv", [
        {"dataset": "phoenix", "variant": "ssl_ssaw", "seed": 0, "difference": -0.2},
        {"dataset": "phoenix", "variant": "ssl_ssaw", "seed": 1, "difference": -0.21},
        {"dataset": "phoenix", "variant": "qb_ssaw", "seed": 0, "difference": 0.5},
        {"dataset": "csl", "variant": "ssl_ssaw", "seed": 2, "difference": 0.5}])
    assert _weights_verdict(tmp_path, FIGURE4_RUN, stats) == FAILS
    assert _weights_verdict(tmp_path, ("csl", "ssl_ssaw"), stats) == f"{INCONCLUSIVE} (n=1)"
    assert _weights_verdict(tmp_path, ("csl", "qb_ssaw"), stats) == NOT_MEASURED


@pytest.mark.parametrize("rows, message", [
    ([{"seed": 0, "question_mean": 0.5}], "missing column(s) difference"),
    ([{"seed": 0, "difference": 0.1}, {"seed": 0, "difference": 0.2}], "seed 0 appears twice"),
    ([{"seed": 0, "difference": "n/a"}], "difference of seed 0 is not a number"),
])
def test_a_bad_figure4_statistic_names_the_file(tmp_path, rows, message):
    stats = write_figure4(tmp_path / "figure4.csv", rows)
    with pytest.raises(ResultError, match=rf"^{stats}: " + message.replace("(", r"\(").replace(")", r"\)")):
        _weights_verdict(tmp_path, FIGURE4_RUN, stats)


def test_a_metrics_file_without_dev_bleu4_is_named(tmp_path):
    results = build(tmp_path, {("phoenix", "qb_concat", 0): (1.0, 2.0), ("phoenix", "qb_question_only", 0): (1.0, 1.0)})
    path = results.metrics_path("phoenix", "qb_question_only", 0)
    path.write_text(json.dumps({"test": dict.fromkeys(METRICS, 1.0)}))
    with pytest.raises(ResultError, match=rf"^{path}: dev\.bleu4 = None is not a number$"):
        render_claims(results, tmp_path / "out")


def test_weights_claim_reads_the_statistic_figure4_writes(tmp_path):
    """The file qbslt.reports.figure4 writes (per seed, then ``all``) is the one the claims read."""
    from qbslt.reports.figure4 import write_stats

    files = []
    for seed, gap in ((0, 0.30), (1, 0.32), (2, 0.31)):
        summary = [{"name": f"ex{i}", "question_mean": 0.5 + gap + 0.01 * i, "video_mean": 0.5} for i in range(5)]
        path = tmp_path / "ssaw" / "phoenix" / "ssl_ssaw" / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fusion": "ssaw", "seed": seed, "examples": [], "test_summary": summary}))
        files.append(path)
    stats = tmp_path / "figure4.csv"
    write_stats(files, stats, n_samples=20)
    assert _weights_verdict(tmp_path, FIGURE4_RUN, stats) == HOLDS
    frame = pd.read_csv(tmp_path / "out" / "claims.csv")
    assert frame[frame["statistic"] == "SSAW weight"]["seeds"].iloc[0] == "0 1 2"


def test_figure4_run_of_the_ssaw_file():
    assert figure4_run_of("results/realtext/ssaw/phoenix/ssl_ssaw/seed0.json") == ("phoenix", "ssl_ssaw")


# ---------------------------------------------------------------------------------------------
# Files


def test_files_caption_and_summary(rendered):
    out, frame = rendered
    md = (out / "claims.md").read_text(encoding="utf-8")
    caption = md.split("\n\n")[0]
    assert caption.startswith("Table C: the paper's claims")
    assert f"more than {STANDARD_ERRORS:g} standard errors" in caption and "seed-paired" in caption
    assert all(" ".join(c["note"].split()) in caption for c in CLAIMS if c.get("note"))
    assert "| qb_concat − qb_question_only | BLEU-4 | holds | 3 | +6.00 ± 1.00 | +4.00 ± 0.00 |" in md
    assert "| inconclusive (n=1) | 1 | +4.50 | +1.00 |" in md  # one seed: no std
    assert md.count("| sign helps beyond the question |") == 1  # the claim once, on its first row
    html = (out / "claims.html").read_text(encoding="utf-8")
    assert "<title>Table C</title>" in html and "qb_concat − qb_question_only" in html
    summary = (out / "claims_summary.md").read_text(encoding="utf-8")
    assert summary.count("\n") == 1  # one line: what README.md quotes
    assert "sign helps beyond the question: **mixed** (2 of 4 comparisons run)" in summary
    assert "question tokens outweigh video in SSAW: **holds** (1 of 1 comparison run)" in summary


def test_cli_writes_the_claims_beside_the_tables(tmp_path):
    results = build(tmp_path / "results")
    metrics = [str(results.metrics_path(*run)) for run in results.runs]
    ssaw = tmp_path / "results" / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json"  # Figure 4's run: the weights claim's
    ssaw.parent.mkdir(parents=True)
    ssaw.write_text(json.dumps({"fusion": "ssaw", "examples": [
        {"name": "ex0", "question": "q", "reference": "r", "split": 1, "video_len": 1, "question_tokens": ["q"],
         "weights": [0.6, 0.4]}]}))
    out = tmp_path / "results" / "tables"
    assert cli_main(["tables", "--results", str(results.root), "--metrics", *metrics, "--out", str(out),
                     "--tables", "4", "--bootstrap-samples", "10", "--claims", "--figure4-ssaw", str(ssaw),
                     "--figure4-stats", str(tmp_path / "absent.csv"), "--summary", str(tmp_path / "s.json"),
                     "--runs", str(tmp_path / "r.csv"), "--scores", str(tmp_path / "scores"),
                     "--curves", str(tmp_path / "c.csv"), "--figure4-data", str(tmp_path / "f4w.csv")]) == 0
    assert {"claims.md", "claims.csv", "claims.html", "claims_summary.md", "table4.md"} <= {p.name for p in
                                                                                            out.iterdir()}
    frame = pd.read_csv(out / "claims.csv")
    assert frame[frame["statistic"] == "SSAW weight"]["verdict"].iloc[0] == NOT_MEASURED


# ---------------------------------------------------------------------------------------------
# The variants and the workflow


def test_claim_pairs_are_like_for_like():
    """Each pair's variants differ in the model setting the claim is about and in nothing else."""
    about = {"sign helps beyond the question": {"inputs"}, "SSL helps": {"ssl"}, "SSAW helps over Concat": {"fusion"}}
    for profile in ("embedded", "realtext", "paper"):
        tree = config.load(REPO / "params.yaml", profile)
        for claim in CLAIMS:
            for pair in claim.get("pairs", []):
                a, b = (config.variant_config(tree, pair[side]) for side in ("treatment", "control"))
                differ = {k for k in a["model"] if a["model"][k] != b["model"][k]}
                assert differ == about[claim["claim"]], (profile, pair, differ)
                assert a["train"] == b["train"] and a["eval"] == b["eval"], (profile, pair)


def test_realtext_pairs_the_question_only_control_with_every_seed_of_its_treatment():
    tree = config.load(REPO / "params.yaml", "realtext")
    assert "qb_question_only" in config.dataset_variants(tree, "phoenix")
    assert config.variant_seeds(tree, "qb_question_only") == config.variant_seeds(tree, "qb_concat")


@pytest.mark.parametrize("profile", ["embedded", "realtext"])
def test_tables_rule_writes_the_claims_in_a_dry_run(tmp_path, profile):
    write_params(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    results = f"results/{profile}/tables"
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "--cores", "1", "-n", f"{results}/claims_summary.md", "--config", f"profile={profile}"], tmp_path)
    jobs = parse_dry_run(result.stdout + result.stderr)
    assert [j.rule for j in jobs].count("tables") == 1
    assert {j.wildcards["seed"] for j in jobs if j.rule == "train" and j.wildcards["variant"] == "qb_question_only"
            } == {"0", "1", "2"}
    tables_block = result.stdout.split("rule tables:")[1].split("\n\n")[0]
    for name in ("claims.md", "claims.csv", "claims.html", "claims_summary.md", "claims_overlap.csv"):
        assert f"{results}/{name}" in tables_block, name
    # the overlap terciles read every run's dev predictions, written by the run (train or reference) itself
    inputs = next(line for line in tables_block.splitlines() if line.strip().startswith("input:"))
    tests = {p.strip() for p in inputs.split(":", 1)[1].split(",") if re.search(r"/predictions/.*seed\d+\.tsv$", p)}
    devs = {p.strip() for p in inputs.split(":", 1)[1].split(",") if p.strip().endswith(".dev.tsv")}
    assert tests and devs == {p.removesuffix(".tsv") + ".dev.tsv" for p in tests}
    producers = {block.split(":", 1)[0] for block in result.stdout.split("\nrule ")[1:]
                 if any(line.strip().startswith("output:") and ".dev.tsv" in line for line in block.splitlines())}
    assert "train" in producers and producers <= {"train", "reference"}


def test_filled_docs_quote_the_verdicts_in_one_line_each(tmp_path):
    """`qbslt docs --results` fills the claims blocks from a results tree; the README quotes the one-line
    summaries, so filling keeps its length."""
    from qbslt.reports.docs import fill, find_blocks

    for profile in ("embedded", "realtext"):
        render_claims(build(tmp_path / "results" / profile), tmp_path / "results" / profile / "tables")
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    # The measurements the README quotes (fill checks that each one given is quoted).
    measurements = yaml.safe_load((REPO / "docs" / "measurements.yaml").read_text(encoding="utf-8"))
    quoted = {block.source.removeprefix("measurement: ") for block in find_blocks(readme, readme.read_text())}
    (tmp_path / "measurements.yaml").write_text(yaml.safe_dump({k: v for k, v in measurements.items() if k in quoted}))
    report = fill([readme], tmp_path / "results", tmp_path / "measurements.yaml")
    filled = [label for label in report.changed if "claims_summary.md" in label]
    assert len(filled) == 2, report.changed
    text = readme.read_text(encoding="utf-8")
    assert len(text.splitlines()) == len((REPO / "README.md").read_text(encoding="utf-8").splitlines())
    assert text.count("sign helps beyond the question: **") == 2
