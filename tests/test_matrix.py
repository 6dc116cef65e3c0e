"""Reports read exactly the experiment matrix; a broken result file is one line naming it (qbslt tables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from qbslt.errors import ResultError
from qbslt.reports.results import Results
from qbslt.reports.tables import render_all
from test_reports import SCORES, _build_results, _phoenix_corpus, _write_predictions, write_metrics

ABSURD = [99.0, 99.0, 99.0, 99.0, 99.0]
CSL_ROWS = [(f"c{i}", ref, "你去哪里？") for i, ref in enumerate(["我明天去北京。", "他在商店买苹果。"])]


def metrics_files(root: Path) -> list[Path]:
    """The configured runs' metrics files: what the Snakemake rule passes with --metrics."""
    return [root / "metrics" / d / v / f"seed{s}.json" for d, v, s in SCORES]


def tables(root: Path, out: Path, *extra: str, matrix: bool = True) -> subprocess.CompletedProcess:
    """`python -m qbslt tables` as the Snakemake rule runs it, every output under ``out``."""
    cmd = [sys.executable, "-m", "qbslt", "tables", "--results", str(root), "--out", str(out / "tables"),
           "--bootstrap-samples", "50", "--summary", str(out / "summary.json"),
           "--runs", str(out / "plots" / "bleu4_by_variant.csv"), "--scores", str(out / "scores"),
           "--curves", str(out / "plots" / "training_curves.csv"),
           "--figure4-ssaw", str(root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json"),
           "--figure4-data", str(out / "plots" / "figure4_weights.csv"), *extra]
    if matrix:
        cmd += ["--metrics", *map(str, metrics_files(root))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def add_strays(root: Path) -> None:
    """Leftovers of runs params.yaml no longer lists, with absurd scores and perfect predictions."""
    phoenix = _phoenix_corpus()
    strays = [("phoenix", "ssl_ssaw", 5), ("phoenix", "gfslt_vlp", 4),  # seeds
              ("phoenix", "ssl_lstm", 0), ("phoenix", "ssl_lstm", 1), ("phoenix", "retrieve", 0)]  # variants
    for dataset, variant, seed in strays:
        write_metrics(root, dataset, variant, seed, ABSURD)
        _write_predictions(root, dataset, variant, seed, phoenix, lambda i, r: r)
    write_metrics(root, "csl", "copy_question", 0, ABSURD)  # a reference system on CSL: not configured here
    _write_predictions(root, "csl", "copy_question", 0, CSL_ROWS, lambda i, r: r)


def render(results: Results | Path, out: Path) -> None:
    """In process, the same outputs as :func:`tables` (CLI start-up costs seconds)."""
    root = results.root if isinstance(results, Results) else Path(results)
    render_all(results, out / "tables", bootstrap_samples=50, summary_path=out / "summary.json",
               runs_path=out / "plots" / "bleu4_by_variant.csv", scores_dir=out / "scores",
               curves_path=out / "plots" / "training_curves.csv",
               figure4_ssaw=root / "ssaw" / "phoenix" / "ssl_ssaw" / "seed0.json",
               figure4_data=out / "plots" / "figure4_weights.csv")


def test_stray_seed_and_variant_change_no_report(tmp_path):
    root = tmp_path / "results"
    _build_results(root)
    render(Results.from_metrics_files(root, metrics_files(root)), tmp_path / "before")
    before = snapshot(tmp_path / "before")
    assert {"tables/table4.md", "tables/table8.csv", "summary.json", "plots/bleu4_by_variant.csv",
            "plots/training_curves.csv", "plots/figure4_weights.csv", "scores/phoenix/ssl_ssaw.json"} <= set(before)

    add_strays(root)
    done = tables(root, tmp_path / "after")  # as the Snakemake rule runs it: --metrics of the matrix
    assert done.returncode == 0, done.stderr
    after = snapshot(tmp_path / "after")
    assert sorted(after) == sorted(before)
    changed = [name for name in before if after[name] != before[name]]
    assert changed == []

    # Without the matrix (ad hoc: every file found) the strays do reach the reports.
    render(root, tmp_path / "adhoc")
    found = snapshot(tmp_path / "adhoc")
    for name in ("tables/table4.csv", "tables/table2.md", "summary.json", "plots/bleu4_by_variant.csv",
                 "plots/training_curves.csv"):
        assert found[name] != before[name], name
    assert "scores/phoenix/ssl_lstm.json" in found and "scores/phoenix/ssl_lstm.json" not in after


def test_results_read_only_the_matrix(tmp_path):
    root = tmp_path / "results"
    _build_results(root)
    add_strays(root)
    results = Results.from_metrics_files(root, metrics_files(root))
    assert results.runs == tuple(sorted(SCORES))
    assert results.seeds("phoenix", "ssl_ssaw") == [0, 1]
    assert results.prediction_seeds("phoenix", "ssl_lstm") == []
    metrics = results.load_metrics()
    assert set(metrics) == {(d, v) for d, v, _ in SCORES} and set(metrics["phoenix", "gfslt_vlp"]) == {0, 1}
    assert ("phoenix", "ssl_lstm", 0) in Results.discover(root).runs  # the ad-hoc mode sees everything


def test_metrics_path_must_follow_the_contract(tmp_path):
    root = tmp_path / "results"
    _build_results(root)
    elsewhere = tmp_path / "other" / "metrics" / "phoenix" / "ssl_ssaw" / "seed0.json"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("{}")
    with pytest.raises(ResultError, match="not under"):
        Results.from_metrics_files(root, [elsewhere])
    with pytest.raises(ResultError, match="not a metrics file"):
        Results.from_metrics_files(root, [root / "metrics" / "phoenix" / "ssl_ssaw" / "best.json"])


# ---------------------------------------------------------------------------------------------
# A broken result file: one line naming it, exit status 2, no traceback


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize("target, damage, message", [
    ("metrics/phoenix/ssl_ssaw/seed1.json", _truncate, "not valid JSON"),
    ("predictions/phoenix/ssl_ssaw/seed0.tsv", _truncate, "does not end with a newline (truncated?)"),
    ("metrics/csl/qb_concat/seed0.json", Path.unlink, "missing"),
])
def test_broken_file_is_one_line_naming_it(tmp_path, target, damage, message):
    root = tmp_path / "results"
    _build_results(root)
    damage(root / target)
    done = tables(root, tmp_path / "out", "--tables", "4")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [f"qbslt tables: error: {root / target}: {lines[0].split(': ', 3)[-1]}"], done.stderr
    assert message in lines[0] and "Traceback" not in done.stderr


def _set_test_score(path: Path) -> None:
    data = json.loads(path.read_text())
    data["test"]["bleu4"] = "n/a"
    path.write_text(json.dumps(data))


def _drop_test(path: Path) -> None:
    data = json.loads(path.read_text())
    del data["test"]
    path.write_text(json.dumps(data))


def _short_row(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\n"
    path.write_text("".join(lines))


def _not_utf8(path: Path) -> None:
    path.write_bytes(b"name\treference\n\xff\xfe\n")


@pytest.mark.parametrize("target, damage, message", [
    ("metrics/phoenix/ssl_ssaw/seed0.json", lambda p: p.write_text(""), "empty file"),
    ("metrics/phoenix/ssl_ssaw/seed0.json", lambda p: p.write_text("[1, 2]"), "expected a JSON object"),
    ("metrics/phoenix/ssl_ssaw/seed0.json", _drop_test, "'test' must hold bleu1"),
    ("metrics/phoenix/ssl_ssaw/seed0.json", _set_test_score, "test.bleu4 = 'n/a' is not a number"),
    ("metrics/phoenix/ssl_ssaw/seed0.json", _not_utf8, "not UTF-8"),
    ("predictions/phoenix/ssl_ssaw/seed0.tsv", _short_row, "row 4 has 3 fields, the header 4"),
    ("predictions/phoenix/ssl_ssaw/seed0.tsv", lambda p: p.write_text(""), "empty file"),
    ("predictions/phoenix/ssl_ssaw/seed0.tsv", _not_utf8, "not UTF-8"),
    ("predictions/phoenix/ssl_ssaw/seed0.tsv", lambda p: p.write_text("name\thypothesis\nx\ty\n"),
     "missing column(s) reference, question"),
])
def test_broken_file_errors_name_the_file(tmp_path, target, damage, message):
    root = tmp_path / "results"
    _build_results(root)
    damage(root / target)
    with pytest.raises(ResultError) as info:
        render_all(Results.from_metrics_files(root, metrics_files(root)), tmp_path / "out", bootstrap_samples=20,
                   numbers=[4])
    text = str(info.value)
    assert text.startswith(f"{root / target}: ") and message in text and "\n" not in text
