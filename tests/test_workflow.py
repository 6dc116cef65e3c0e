"""End-to-end: the whole Snakemake DAG and `dvc repro` on a tiny configuration.

The project's tracked files are copied into a fresh git repository in tmp_path, so these tests
see exactly what a fresh clone sees.
"""

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.e2e

TEST_CONFIG = REPO / ".test" / "config" / "params.yaml"


def tiny_params(variants=None) -> dict:
    """params.yaml with the .test/ configuration merged over it, as `--configfile` merges it
    (Snakemake's own update_config); ``variants``: another experiment.datasets."""
    from snakemake.utils import update_config

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    update_config(params, yaml.safe_load(TEST_CONFIG.read_text()))
    if variants is not None:
        params["experiment"]["datasets"] = variants
    return params


TINY_VARIANTS = tiny_params()["experiment"]["datasets"]


def write_params(workdir, params) -> None:
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))


def fresh_checkout(tmp_path):
    """The tracked files of this repository, as a new git repository (what a clone holds)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    work = tmp_path / "clone"
    for name in filter(None, files):
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"]):
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)
    return work


def dvc_outputs(profile: str) -> list[str]:
    """Every output path of dvc.yaml (outs, metrics, plots) with ``${profile}`` substituted, as DVC does."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return [path.replace("${profile}", profile) for stage in stages.values()
            for kind in ("outs", "metrics", "plots") for entry in stage.get(kind, [])
            for path in (entry if isinstance(entry, dict) else {entry: None})]


def run(cmd, cwd, check=True, timeout=1500):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def snakemake(workdir, *args, check=True):
    return run([sys.executable, "-m", "snakemake", "--cores", "2", *args], workdir, check)


def planned_jobs(workdir, *args) -> dict[str, int]:
    """{rule: count} of what `snakemake -n` would run."""
    return planned_jobs_of(snakemake(workdir, "-n", "--quiet", "rules", *args).stdout)


def planned_jobs_of(dry_run_output: str) -> dict[str, int]:
    """{rule: count} of the job-stats table of a `snakemake -n` output."""
    counts = {}
    for line in dry_run_output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            counts[parts[0]] = int(parts[1])
    return counts


def test_full_pipeline_with_dvc_noop_and_incremental(tmp_path):
    work = fresh_checkout(tmp_path)
    write_params(work, tiny_params())
    run(["git", "commit", "-qam", "tiny params"], work)

    run(["dvc", "repro"], work)
    for dataset, variants in TINY_VARIANTS.items():
        report = json.loads((work / "results" / "embedded" / "data" / dataset / "report.json").read_text())
        assert report["splits"]["test"]["kept"] == 4 and report["splits"]["test"]["dropped"] > 0
        for variant in variants + ["copy_question", "retrieve"]:
            metrics = json.loads((work / "results" / "embedded" / "metrics" / dataset / variant / "seed0.json").read_text())
            scores = {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"}
            if variant in ("copy_question", "retrieve"):  # not trained: no reliance check
                assert set(metrics["test"]) == scores
            else:  # the input-reliance check of every trained run
                assert scores | {"shuffled_video"} <= set(metrics["test"])
    # A table is rendered when the matrix runs all its rows: here Tables 1, 2 and 8, not 3-7.
    for n in range(1, 9):
        for suffix in ("md", "csv", "tex"):
            assert (work / "results" / "embedded" / "tables" / f"table{n}.{suffix}").exists() == (n in (1, 2, 8))
    assert (work / "results" / "embedded" / "tables" / "table1.md").stat().st_size > 0
    assert (work / "results" / "embedded" / "tables" / "reliance.md").stat().st_size > 0
    # Table 9: every Sigma variant on both datasets (seed 0), the SSL-SSAW rows beside them.
    import pandas as pd

    assert all((work / "results" / "embedded" / "tables" / f"table9.{s}").exists() for s in ("md", "csv", "tex"))
    table9 = pd.read_csv(work / "results" / "embedded" / "tables" / "table9.csv").set_index(["dataset", "variant"])
    for dataset in TINY_VARIANTS:
        for variant in list(tiny_params()["sigma"]["variants"]) + ["ssl_ssaw"]:
            assert table9.loc[(dataset, variant), "status"] == "measured"
        metrics = json.loads((work / "results" / "embedded" / "sigma" / "metrics" / dataset / "full" / "seed0.json").read_text())
        assert metrics["decoding"]["num_beams"] == tiny_params()["eval"]["num_beams"]
        assert table9.loc[(dataset, "full"), "bleu4_mean"] == metrics["test"]["bleu4"]
        assert "shuffled_keypoints" in metrics["test"] and "distinct_hypotheses" in metrics["test"]
    assert table9.loc[("phoenix", "ssl_ssaw_skeleton"), "status"] == "measured"  # RGB + skeleton SSL-SSAW
    # Table 10: every SL-SLR method and protocol on both datasets; the stage-0 variant trained.
    assert all((work / "results" / "embedded" / "tables" / f"table10.{s}").exists() for s in ("md", "csv", "tex"))
    table10 = pd.read_csv(work / "results" / "embedded" / "tables" / "table10.csv")
    assert set(table10["method"]) == set(tiny_params()["slslr"]["methods"])
    assert set(table10["protocol"]) == {"linear", "semi_1", "semi_10", "transfer"}
    assert set(table10["dataset"]) == set(TINY_VARIANTS)
    assert (work / "models" / "embedded" / "slslr" / "phoenix" / "sl_slr" / "seed0" / "encoder.safetensors").exists()
    assert "Embedded synthetic data" in (work / "results" / "embedded" / "tables" / "table1.md").read_text()
    assert (work / "results" / "embedded" / "figures" / "figure4.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((work / "results" / "embedded" / "summary.json").read_text())
    assert "ssl_ssaw" in summary["phoenix"]

    # A second run of either tool has nothing to do; every output dvc.yaml names is there.
    assert planned_jobs(work) == {}
    second = run(["dvc", "repro"], work).stdout
    assert "didn't change, skipping" in second and "Running stage" not in second
    assert all((work / path).exists() for path in dvc_outputs("embedded")), dvc_outputs("embedded")

    # The finished project, moved elsewhere, rebuilds nothing (no absolute path is recorded).
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    run(["cp", "-a", str(work), str(moved)], tmp_path)
    assert "Nothing to be done" in snakemake(moved, "-n").stdout
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], work).stdout)
    assert json.dumps(shown).count("test_bleu4") >= len(TINY_VARIANTS["phoenix"])
    assert run(["dvc", "plots", "show"], work).returncode == 0

    # Changing one variant's parameter reruns only that variant (and the tables built from it).
    params = tiny_params()
    params["experiment"]["variants"]["ssl_tcn"] = {"model": {"fusion": "tcn"}, "train": {"stage2": {"lr": 0.002}}}
    write_params(work, params)
    assert planned_jobs(work) == {"train": 1, "tables": 1, "plots": 1, "all": 1}
    untouched = (work / "results" / "embedded" / "metrics" / "phoenix" / "ssl_ssaw" / "seed0.json").stat().st_mtime_ns
    run(["dvc", "repro"], work)
    assert (work / "results" / "embedded" / "metrics" / "phoenix" / "ssl_ssaw" / "seed0.json").stat().st_mtime_ns == untouched
    tcn = json.loads((work / "results" / "embedded" / "metrics" / "phoenix" / "ssl_tcn" / "seed0.json").read_text())
    assert tcn["config_hash"]  # rebuilt under the new config
    assert planned_jobs(work) == {}

    # A report-only parameter reruns only the report; a stage-2 parameter only stage 2 (no stage 1,
    # features or data).
    params["eval"]["bootstrap_samples"] = 40
    write_params(work, params)
    assert planned_jobs(work) == {"tables": 1, "figure4": 1, "plots": 1, "all": 1}  # Figure 4's bootstrap interval too
    params["train"]["stage2"]["weight_decay"] = 0.02
    write_params(work, params)
    n_runs = sum(len(v) for v in TINY_VARIANTS.values())
    assert planned_jobs(work) == {"train": n_runs, "tables": 1, "figure4": 1, "plots": 1, "table9": 1, "all": 1}

    snakemake(work, "--report", "results/report.html")
    assert (work / "results" / "report.html").stat().st_size > 0


def test_dvc_outputs_follow_the_profile_and_deps_cover_the_code(tmp_path):
    """Under profile=realtext, DVC's own reading of dvc.yaml names results/realtext/... outputs, and
    every stage depends on the whole workflow and package."""
    (tmp_path / ".dvc").mkdir()  # what `dvc init --no-scm` writes
    (tmp_path / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["profile"] = "realtext"
    write_params(tmp_path, params)
    status = json.loads(run(["dvc", "status", "--json"], tmp_path).stdout)  # nothing built: every output listed
    tracked = {path for stage in status.values() for entry in stage for path in entry.get("changed outs", {})}
    outputs = dvc_outputs("realtext")
    assert tracked == set(outputs)  # our reading of dvc.yaml is DVC's
    assert {"results/realtext/metrics", "results/realtext/tables", "results/realtext/summary.json",
            "results/realtext/scores", "models/realtext", "data/realtext/frames"} <= tracked
    assert all(path.startswith(("results/realtext/", "data/realtext/", "models/realtext")) for path in tracked), tracked
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert {"Snakefile", "workflow/rules", "src/qbslt"} <= set(stage["deps"]), name


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["data"].update(frame_sise=[16, 16]), "unknown key 'data.frame_sise'"),
    (lambda p: p["train"]["stage2"].update(epochs="ten"), "key 'train.stage2.epochs': 'ten' is not of type"),
    (lambda p: p["experiment"]["variants"].update(sign_ssl={"model": {"inputs": "sign"}}),
     "experiment.variants.sign_ssl: model config: key 'ssl'"),
    (lambda p: p["sigma"]["variants"].update(no_loss={"loss_weights": {"contrastive": 0, "vtm": 0, "lm": 0}}),
     "sigma.variants.no_loss: pretraining is on but every objective of loss_weights"),
    (lambda p: p["sigma"]["variants"]["no_lm"].update(los_weights={"lm": 0}),
     "unknown key 'sigma.variants.no_lm.los_weights'"),
    (lambda p: p["slslr"]["methods"]["sl_slr"].update(augment="none"), "slslr.methods.sl_slr.augment"),
    (lambda p: p["slslr"]["methods"]["simclr"].update(objectve="infonce"), "unknown key 'slslr.methods.simclr.objectve'"),
])
def test_mistake_in_params_fails_the_dry_run_naming_it(tmp_path, edit, message):
    params = tiny_params()
    edit(params)
    write_params(tmp_path, params)
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "--cores", "1", "-n"], tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_a_repeated_key_fails_the_dry_run_naming_it(tmp_path):
    """Snakemake's own config loading keeps the second of two `eval:` blocks; the workflow refuses it."""
    from test_config import repeated_eval_block

    _, first, second = repeated_eval_block(tmp_path)
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "--cores", "1", "-n"], tmp_path, check=False)
    assert result.returncode != 0
    assert f"params.yaml:{second}: key 'eval' appears twice in one mapping (lines {first} and {second})" in \
        result.stdout + result.stderr


def test_lint_has_no_errors():
    result = run([sys.executable, "-m", "snakemake", "--lint"], REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_is_snakefmt_formatted():
    """The Snakemake catalog's formatting check (snakefmt, a test dependency)."""
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow" / "rules").glob("*.smk"))]
    result = run([sys.executable, "-m", "snakefmt", "--check", *files], REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("profile, rules", [
    ("embedded", ("generate_embedded", "features", "pretrain", "train", "reference", "tables", "figure4",
                  "slslr_clips", "slslr_run", "table10", "sigma", "table9")),
    ("realtext", ("realtext_data", "extract_frames", "features", "tokenizer", "pretrain", "train", "tables",
                  "sigma", "table9")),
    ("paper", ("fetch_real", "extract_frames", "keypoints", "join_questions", "tokenizer", "pretrain", "train",
               "reference", "tables", "figure4", "sigma", "table9")),
])
def test_profile_dry_runs(tmp_path, profile, rules):
    write_params(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "-n", "--quiet", "rules", "--config", f"profile={profile}"], tmp_path)
    for rule in rules:
        assert rule in result.stdout


def test_paper_profile_dry_run_lists_every_job_without_data(tmp_path):
    write_params(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "-n", "--quiet", "rules", "--config", "profile=paper"], tmp_path)
    for rule in ("fetch_real", "extract_frames", "join_questions", "tokenizer", "pretrain", "train", "tables",
                 "figure4"):
        assert rule in result.stdout
    assert "slslr_run" not in result.stdout and "table10" not in result.stdout  # no isolated-sign clips


def test_paper_profile_with_an_isolated_sign_dataset_plans_table10(tmp_path):
    """slslr.isolated_dataset set: its frame store, frozen features and MediaPipe keypoints, SL-SLR and Table 10."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["slslr"]["isolated_dataset"] = {"name": "toy_isolated", "root": "isolated", "index": "index.csv"}
    write_params(tmp_path, params)
    (tmp_path / "isolated").mkdir()
    (tmp_path / "isolated" / "index.csv").write_text("video,gloss,signer\n")
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "-n", "-p", "table10", "--config", "profile=paper"], tmp_path)
    jobs = planned_jobs_of(result.stdout)
    assert jobs["slslr_isolated"] == 1 and jobs["features"] == 1 and jobs["keypoints"] == 1, jobs
    assert jobs["slslr_run"] == len(params["experiment"]["seeds"]) and jobs["table10"] == 1
    assert "extract_frames" not in jobs and "slslr_clips" not in jobs
    assert "data/paper/features/toy_isolated/resnet18/train.npy" in result.stdout
    assert "--datasets toy_isolated " in result.stdout


def test_slurm_profile_dry_run(tmp_path):
    write_params(tmp_path, yaml.safe_load((REPO / "params.yaml").read_text()))
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "--profile", str(REPO / "profiles" / "slurm"), "-n", "--config", "profile=paper"], tmp_path)
    assert "slurm_partition=gpu" in result.stdout


def test_slurm_jobs_ask_for_the_plans_time_and_gpu_memory(tmp_path):
    """Under the SLURM profile each training job of the paper profile asks for what `qbslt plan`
    estimates for it (qbslt.plan.estimate.Planner.job_resources): its time limit, attempts and GPU memory;
    a partition limit below a job's estimate caps its limit and adds attempts."""
    import re

    from qbslt.experiment import Experiment
    from qbslt.plan.dry_run import Job
    from qbslt.plan.estimate import Planner

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["overrides"]["paper"]["cluster"] = {"time_limit_minutes": 300}
    write_params(tmp_path, params)
    result = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                  "--profile", str(REPO / "profiles" / "slurm"), "-n", "--config", "profile=paper"], tmp_path)
    experiment = Experiment.load(tmp_path / "params.yaml", "paper")
    planner = Planner(experiment)
    seen = 0
    for block in result.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        if rule not in ("pretrain", "train"):
            continue
        wildcards = dict(part.split("=", 1) for part in re.search(r"wildcards: (.*)", block)[1].split(", "))
        resources = dict(part.split("=", 1) for part in re.search(r"resources: (.*)", block)[1].split(", "))
        want = planner.job_resources(Job(rule, wildcards))
        assert {k: int(resources[k]) for k in want} == want, (rule, wildcards)
        assert want["runtime"] <= 300 and (want["attempts"] == 1 or want["runtime"] == 300)
        seen += 1
    assert seen == sum(1 for j in experiment.jobs() if j.kind in ("pretrain", "train"))
    assert "attempts=5" in result.stdout  # a CSL-Daily stage 2 (~23.5 h) in five 5-hour attempts
