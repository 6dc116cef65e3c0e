"""Per-table targets (`snakemake table5`, `dvc repro workflow/dvc.yaml:table@5`) and `qbslt plan`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO
from qbslt import config
from qbslt.errors import ConfigError
from qbslt.experiment import Experiment
from qbslt.plan.dry_run import Job, parse_dry_run
from qbslt.plan.estimate import (Planner, dev_evaluations, evaluation_flops, gpu_hours, jpeg_bytes_per_frame,
                                 store_bytes_per_frame, training_flops)
from qbslt.plan.figures import FIGURES_FILE, FLOPS, JPEG_BYTES_PER_FRAME, PRETRAIN_KEYS, TRANSLATION_KEYS
from qbslt.reports.results import Results
from qbslt.reports.layout import renderable_tables, table_numbers, table_runs, table_variants
from qbslt.reports.tables import render_all
from test_reports import N_BOOT, SCORES, _build_results
from test_workflow import run, write_params

TABLE5 = ["ssl_concat", "ssl_lstm", "ssl_tcn", "ssl_ssaw"]


def dry_run_jobs(workdir, target: str, *config_args: str) -> list[Job]:
    """Every job `snakemake -n TARGET` schedules in an empty ``workdir`` (repository params.yaml)."""
    write_params(workdir, yaml.safe_load((REPO / "params.yaml").read_text()))
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "1",
                  "-n", target, *(["--config", *config_args] if config_args else [])], workdir)
    return parse_dry_run(result.stdout + result.stderr)


def runs_of(jobs: list[Job], rule: str) -> set[tuple]:
    return {tuple(j.wildcards.values()) for j in jobs if j.rule == rule}


def stage1_key(variant: str, profile: str | None = None) -> str:
    tree = config.load(REPO / "params.yaml", profile)
    return config.stage1_key(config.variant_config(tree, variant))


# ---------------------------------------------------------------------------------------------
# Per-table Snakemake targets (dry runs)


def test_table5_builds_only_its_variants_and_their_stage1_runs(tmp_path):
    jobs = dry_run_jobs(tmp_path, "table5")
    seeds = (0, 1, 2)
    assert runs_of(jobs, "train") == {("phoenix", v, str(s)) for v in TABLE5 for s in seeds}
    # The four fusion variants share one stage-1 config: three stage-1 runs, one per seed.
    assert runs_of(jobs, "pretrain") == {("phoenix", stage1_key("ssl_ssaw"), str(s)) for s in seeds}
    rules = {j.rule for j in jobs}
    assert "table5" in rules and not rules & {"reference", "tables", "figure4", "all", "train_all"}
    assert {j.wildcards["dataset"] for j in jobs if "dataset" in j.wildcards} == {"phoenix"}
    assert sum(j.rule == "table5" for j in jobs) == 1


def test_table2_is_csl_only(tmp_path):
    jobs = dry_run_jobs(tmp_path, "table2")
    assert runs_of(jobs, "train") == {("csl", v, str(s)) for v in ("gfslt_vlp", "qb_concat", "ssl_ssaw")
                                      for s in (0, 1, 2)}
    assert runs_of(jobs, "reference") == {("csl", "copy_question"), ("csl", "retrieve")}
    assert runs_of(jobs, "pretrain") == {("csl", stage1_key("ssl_ssaw"), str(s)) for s in (0, 1, 2)}
    assert {j.wildcards["dataset"] for j in jobs if "dataset" in j.wildcards} == {"csl"}


def test_table8_needs_its_variants_on_both_datasets(tmp_path):
    jobs = dry_run_jobs(tmp_path, "table8")
    assert runs_of(jobs, "train") == {(d, v, str(s)) for d in ("phoenix", "csl")
                                      for v in ("gfslt_vlp", "qb_concat", "ssl_ssaw") for s in (0, 1, 2)}


def test_table_the_profile_does_not_render_fails_naming_what_is_missing(tmp_path):
    write_params(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1",
                  "-n", "table5", "--config", "profile=realtext"], tmp_path, check=False)
    assert result.returncode != 0
    assert "Table 5 shows ssl_lstm, ssl_tcn on phoenix, which experiment.datasets does not run" in result.stdout + result.stderr


def test_dvc_per_table_stage_runs_the_snakemake_target_only(tmp_path):
    work = tmp_path / "repo"
    for name in ("dvc.yaml", "workflow/dvc.yaml", ".dvc/config", ".dvcignore", "Snakefile", "params.yaml"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, work / name)
    for folder in ("workflow/rules", "src/qbslt"):
        shutil.copytree(REPO / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)
    out = run(["dvc", "repro", "--dry", "workflow/dvc.yaml:table@5"], work).stdout
    assert "> snakemake --cores all table5" in out
    assert "Running stage 'train'" not in out and "Running stage 'prepare'" not in out
    # A plain `dvc repro` reproduces the root dvc.yaml only, never the per-table stages (its dry run
    # stops at the first stage whose dependencies do not exist yet).
    plain = run(["dvc", "repro", "--dry"], work, check=False)
    assert "Running stage 'prepare'" in plain.stdout and "table@" not in plain.stdout + plain.stderr


# ---------------------------------------------------------------------------------------------
# What each table shows (qbslt.reports.layout)


def test_table_runs_in_layout_order():
    every = {"phoenix": {"ssl_concat", "ssl_lstm", "ssl_tcn", "ssl_ssaw", "gfslt_vlp", "qb_concat", "copy_question",
                         "retrieve"},
             "csl": {"gfslt_vlp", "qb_concat", "ssl_ssaw"}}
    assert table_numbers() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert table_runs(5, every) == [("phoenix", v) for v in TABLE5]
    assert table_runs(1, every) == [("phoenix", v) for v in ("gfslt_vlp", "qb_concat", "ssl_ssaw", "copy_question",
                                                             "retrieve")]
    assert table_runs(8, every) == [(d, v) for d in ("phoenix", "csl") for v in ("ssl_ssaw", "qb_concat", "gfslt_vlp")]
    assert table_runs(8, {"csl": every["csl"]}) == [("csl", v) for v in ("ssl_ssaw", "qb_concat", "gfslt_vlp")]
    with pytest.raises(ConfigError, match="Table 2 shows copy_question, retrieve on csl"):
        table_runs(2, every)
    with pytest.raises(ConfigError, match="Table 8 needs"):
        table_runs(8, {"phoenix": {"ssl_ssaw"}})


def test_optional_rows_are_shown_when_run_and_never_hold_a_table_back():
    """Table 4's rows beyond the paper's (ssl_ssaw_skeleton, ssl_ssaw_slr) are optional: a matrix without
    them (realtext, paper) still renders Table 4, and its target does not build them."""
    paper_rows = {"gfslt_vlp", "qb_concat", "ssl_concat", "qb_ssaw", "ssl_ssaw", "copy_question"}
    assert table_variants(yaml.safe_load((REPO / "src/qbslt/reports/layout.yaml").read_text())["tables"]["table4"],
                          optional=False) == paper_rows
    assert 4 in renderable_tables({"phoenix": paper_rows})
    assert {v for _, v in table_runs(4, {"phoenix": paper_rows})} == paper_rows
    assert ("phoenix", "ssl_ssaw_slr") in table_runs(4, {"phoenix": paper_rows | {"ssl_ssaw_slr"}})
    assert 4 not in renderable_tables({"phoenix": paper_rows - {"qb_ssaw"}})


@pytest.mark.parametrize("profile, tables", [("embedded", [1, 2, 3, 4, 5, 6, 7, 8]), ("realtext", [1, 4, 7, 8]),
                                             ("paper", [1, 2, 3, 4, 5, 6, 7, 8])])
def test_each_profile_renders_the_tables_its_matrix_runs(profile, tables):
    tree = config.load(REPO / "params.yaml", profile)
    matrix = {d: set(config.dataset_variants(tree, d)) | {"copy_question", "retrieve"}
              for d in tree["data"]["datasets"]}
    assert renderable_tables(matrix) == tables


def test_optional_row_not_run_is_left_out_of_the_table(tmp_path):
    root = tmp_path / "results"
    _build_results(root)
    files = [root / "metrics" / d / v / f"seed{s}.json" for d, v, s in SCORES]
    render_all(Results.from_metrics_files(root, files), tmp_path / "out", bootstrap_samples=N_BOOT, numbers=[4])
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "| ssl_concat | 0 | not run" in md.replace("✓ | ✓ | ✗ | ", "")  # a paper row not run: shown as such
    assert "ssl_ssaw_slr" not in md and "ssl_ssaw_skeleton" not in md  # optional rows not run: left out


@pytest.mark.parametrize("number", [1, 2, 8])
def test_table_alone_equals_the_table_of_the_whole_matrix(tmp_path, number):
    """What `tableN` renders (only that table's runs passed) is the file `tables` renders."""
    root = tmp_path / "results"
    _build_results(root)
    files = [root / "metrics" / d / v / f"seed{s}.json" for d, v, s in SCORES]
    render_all(Results.from_metrics_files(root, files), tmp_path / "all", bootstrap_samples=N_BOOT)
    layout = yaml.safe_load((REPO / "src/qbslt/reports/layout.yaml").read_text())
    spec = layout["table8"] if number == 8 else layout["tables"][f"table{number}"]
    datasets = spec["datasets"] if number == 8 else [spec["dataset"]]
    mine = [root / "metrics" / d / v / f"seed{s}.json" for d, v, s in SCORES
            if d in datasets and v in table_variants(spec)]
    render_all(Results.from_metrics_files(root, mine), tmp_path / "one", bootstrap_samples=N_BOOT, numbers=[number])
    for ext in ("md", "csv", "tex") + (("html",) if number == 8 else ()):
        name = f"table{number}.{ext}"
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "all" / name).read_text(), name


# ---------------------------------------------------------------------------------------------
# qbslt plan: the measured figures


def test_every_flop_figure_is_of_a_configured_variant_and_measured_once():
    figures = yaml.safe_load(FIGURES_FILE.read_text(encoding="utf-8"))
    variants = yaml.safe_load((REPO / "params.yaml").read_text())["experiment"]["variants"]
    for objective, keys in (("pretrain", PRETRAIN_KEYS), ("translation", TRANSLATION_KEYS)):
        rows = figures["flops"][objective]
        assert {r["variant"] for r in rows} <= set(variants), objective
        measured = [tuple(r[k] for k in keys) for r in rows]
        assert len(set(measured)) == len(measured), f"{objective}: a model measured twice"
    assert len(FLOPS) == sum(len(figures["flops"][o]) for o in ("pretrain", "translation"))
    assert all(d["source"] for d in figures["datasets"].values())


# qbslt plan: arithmetic on hand-checkable cases


def test_flop_and_hour_arithmetic():
    # 1,000 videos x (10 GFLOP + 100 frames x 1 GFLOP) x 10 epochs = 1.1 PFLOP.
    assert training_flops(1000, 100, 10, 1e9, 1e10) == pytest.approx(1.1e15)
    # A forward pass is a third of a training step: 3 evaluations of 10 videos x 60 GFLOP / 3.
    assert evaluation_flops(3, 10, 50, 1e9, 1e10) == pytest.approx(6e11)
    assert dev_evaluations(200, 5) == 40 and dev_evaluations(7, 5) == 2 and dev_evaluations(3, 1) == 3
    # 3.6 EFLOP at 1000 TFLOP/s x 50 %: 7,200 s = 2 h.
    assert gpu_hours(3.6e18, 1000, 0.5) == pytest.approx(2.0)


def test_frame_store_bytes_per_frame():
    assert store_bytes_per_frame({"format": "raw", "quality": 90}, (256, 256)) == 256 * 256 * 3
    assert store_bytes_per_frame({"format": "jpeg", "quality": 90}, (256, 256)) == JPEG_BYTES_PER_FRAME[(256, 256)][90]
    # Another size: the 256x256 figure scaled by the area; another quality: interpolated.
    assert jpeg_bytes_per_frame((512, 512), 90) == pytest.approx(4 * JPEG_BYTES_PER_FRAME[(256, 256)][90])
    q75, q90 = JPEG_BYTES_PER_FRAME[(256, 256)][75], JPEG_BYTES_PER_FRAME[(256, 256)][90]
    assert jpeg_bytes_per_frame((256, 256), 80) == pytest.approx(q75 + (q90 - q75) / 3)


def test_run_costs_on_a_hand_checkable_dataset(tmp_path):
    """Paper profile (stage 1: 80 epochs; stage 2: 200, dev every 5) on 10 train videos of 100
    frames, 2 dev of 50, 3 test of 60; 1 GFLOP a frame, 10 GFLOP a video, 1,000 parameters."""
    folder = tmp_path / "paper" / "examples" / "phoenix"
    folder.mkdir(parents=True)
    for split, frames in (("train", [100] * 10), ("dev", [50] * 2), ("test", [60] * 3)):
        pd.DataFrame({"name": [f"v{i}" for i in range(len(frames))], "num_frames": frames}).to_csv(
            folder / f"{split}.tsv", sep="\t", index=False)
    tree = config.load(REPO / "params.yaml", "paper")
    model = config.variant_config(tree, "ssl_ssaw")["model"]
    keys = {("pretrain", *(model[k] for k in ("backbone", "text_model", "alignment"))),
            ("translation", *(model[k] for k in ("backbone", "text_model", "alignment", "fusion", "inputs", "ssl")))}
    planner = Planner(Experiment(tree), tmp_path, flops={k: (1e9, 1e10, 1000) for k in keys})
    stage1 = planner.run_cost(Job("pretrain", {"dataset": "phoenix", "key": stage1_key("ssl_ssaw", "paper"),
                                               "seed": "0"}))
    assert stage1.flops == pytest.approx(80 * 10 * 110e9) and stage1.params == 1000
    stage2 = planner.run_cost(Job("train", {"dataset": "phoenix", "variant": "ssl_ssaw", "seed": "0"}))
    # 200 epochs x 10 x 110 GFLOP; 41 dev decodings (40 while training + the final one) x 2 x 60 / 3;
    # 1 test decoding x 3 x 70 / 3.
    assert stage2.flops == pytest.approx(200 * 10 * 110e9 + 41 * 2 * 60e9 / 3 + 3 * 70e9 / 3)
    plan = planner.plan("x", [Job("fetch_real", {"dataset": "phoenix"}),
                              Job("extract_frames", {"dataset": "phoenix", "split": "train"}),
                              Job("keypoints", {"dataset": "phoenix", "split": "train"}),
                              Job("pretrain", {"dataset": "phoenix", "key": stage1_key("ssl_ssaw", "paper"),
                                               "seed": "0"}),
                              Job("train", {"dataset": "phoenix", "variant": "ssl_ssaw", "seed": "0"})])
    assert plan.counts == {"fetch_real": 1, "extract_frames": 1, "keypoints": 1, "pretrain": 1, "train": 1}
    assert plan.disk["download: PHOENIX-2014T tarball (data.sources.phoenix.bytes)"] == 43_246_233_600
    assert plan.disk["~ frame stores (jpeg, 256x256, quality 90)"] == pytest.approx(1000 * 20_017)
    assert plan.disk["~ keypoint stores (float32 [frames, 75, 3] and mask)"] == 1000 * (75 * 3 * 4 + 75)
    assert plan.disk["~ models (stage 1 and 2 weights, float32)"] == 2 * 1000 * 4
    # SGD (one momentum buffer): stage 1 last.pt = 2 x weights; stage 2 also best.safetensors.
    assert plan.disk["~ resumable checkpoints (checkpoints/; deletable once a run is done)"] == (2 + 3) * 1000 * 4
    assert plan.flops == {"stage 1": pytest.approx(stage1.flops), "stage 2": pytest.approx(stage2.flops)}
    # The cached-feature recipe: stage 2 without the backbone's training FLOPs per frame (1 GFLOP here, so
    # 0 once the 10.6 GFLOP of a ResNet-18 are taken away), and one forward pass of the stage-1 backbone over
    # every frame of every split (1,000 + 100 + 180 frames).
    from qbslt.plan.figures import BACKBONE_FLOPS

    cached = planner.run_cost(Job("train", {"dataset": "phoenix", "variant": "ssl_ssaw", "seed": "0"}), cached=True)
    assert cached.flops == pytest.approx(200 * 10 * 10e9 + 41 * 2 * 10e9 / 3 + 3 * 10e9 / 3)
    assert plan.cached == {"feature caching": pytest.approx(1280 * BACKBONE_FLOPS["resnet18"][0]),
                           "stage 2": pytest.approx(cached.flops)}


def test_parse_dry_run_checks_the_job_table():
    text = ("Job stats:\njob    count\n-----  -----\ntrain  2\nall  1\ntotal  3\n\n"
            "rule train:\n    output: a\n    wildcards: dataset=phoenix, variant=ssl_ssaw, seed=0\n"
            "rule train:\n    wildcards: dataset=csl, variant=ssl_ssaw, seed=1\nlocalrule all:\n    input: a\n")
    jobs = parse_dry_run(text)
    assert [(j.rule, j.wildcards) for j in jobs] == [
        ("train", {"dataset": "phoenix", "variant": "ssl_ssaw", "seed": "0"}),
        ("train", {"dataset": "csl", "variant": "ssl_ssaw", "seed": "1"}), ("all", {})]
    with pytest.raises(Exception, match="output format not understood"):
        parse_dry_run(text.replace("train  2", "train  3"))


def test_flop_constants_cover_the_paper_matrix():
    tree = config.load(REPO / "params.yaml", "paper")
    for dataset in tree["data"]["datasets"]:
        for variant in config.dataset_variants(tree, dataset):
            model = config.variant_config(tree, variant)["model"]
            assert ("pretrain", *(model[k] for k in ("backbone", "text_model", "alignment"))) in FLOPS, variant
            assert ("translation", *(model[k] for k in ("backbone", "text_model", "alignment", "fusion", "inputs",
                                                        "ssl"))) in FLOPS, variant


def test_plan_cli_paper_table5(tmp_path):
    result = run([sys.executable, "-m", "qbslt", "plan", "--profile", "paper", "--target", "table5",
                  "--data-dir", str(tmp_path)], REPO)
    out = result.stdout
    for rule, n in (("fetch_real", 1), ("extract_frames", 3), ("join_questions", 1), ("tokenizer", 1),
                    ("pretrain", 3), ("train", 12), ("tableN", 1)):
        assert f"| `{rule}` | {n} |" in out, rule
    assert "| **total** | **22** |" in out
    assert "reference" not in out.split("Disk")[0]
    hours = next(line for line in out.splitlines() if line.startswith("| **GPU-hours** |"))
    assert "~" in hours and "n/a" not in hours
    assert "estimate" in out
    # beside the paper's recipe, the cached-feature one: far fewer GPU-hours (the backbone trains in stage 1 only)
    cached = next(line for line in out.splitlines() if line.startswith("| **GPU-hours, cached-feature recipe** |"))

    def gpu_hours(line: str) -> float:
        return float(line.split("|")[2].strip(" *~").replace(",", ""))

    assert 0 < gpu_hours(cached) < gpu_hours(hours) / 2
    assert "Cached-feature recipe (train.stage2.freeze_backbone: true; a deviation from the paper)" in out
