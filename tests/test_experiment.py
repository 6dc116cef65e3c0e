"""The experiment plan (qbslt.experiment): one matrix that the DAG, `qbslt plan` and `validate-params`
all read; settings that survive their one serialised form; profiles as a type, not as strings."""

from __future__ import annotations

import re
import sys

import pytest
import yaml

from conftest import REPO
from qbslt.cli import main
from qbslt.errors import ConfigError
from qbslt.experiment import JOB_KINDS, Experiment
from qbslt.plan.dry_run import dry_run
from qbslt.profiles import PROFILE_NAMES, PROFILES, Profile
from qbslt.settings import decode_settings, encode_settings
from test_workflow import run, tiny_params, write_params

SRC = REPO / "src" / "qbslt"


# --- settings: one serialised form ----------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_every_jobs_settings_survive_their_serialised_form(profile):
    experiment = Experiment.load(REPO / "params.yaml", profile)
    assert experiment.jobs()
    for job in experiment.jobs():
        text = experiment.encoded(job)
        assert decode_settings(text) == experiment.settings(job), job
        assert encode_settings(decode_settings(text)) == text
    for step in ("generate_embedded", "realtext_data", "fetch_real", "keypoints", "slslr_clips", "tokenizer",
                 "features"):
        assert decode_settings(experiment.encoded(step)) == experiment.step_settings(step)


@pytest.mark.parametrize("text, message", [("{", "--cfg: not JSON"), ("[1, 2]", "a JSON object of settings expected")])
def test_malformed_settings_are_one_line_naming_the_option(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        decode_settings(text)


def test_a_job_the_plan_does_not_hold_is_refused():
    experiment = Experiment.load(REPO / "params.yaml", "realtext")
    assert experiment.job("train", "phoenix", "ssl_ssaw", "2").seed == 2
    with pytest.raises(ConfigError, match="no train job .*csl.* in the experiment of profile realtext"):
        experiment.job("train", "csl", "ssl_ssaw", 0)


def test_the_variant_config_a_run_reads_by_hand_is_the_one_the_dag_passes(tmp_path):
    """`qbslt train` without --cfg resolves the same settings from --params as the rule passes."""
    from qbslt.cli.training import _variant_cfg

    experiment = Experiment.load(REPO / "params.yaml", "embedded")
    args = type("Args", (), {"cfg": None, "params": REPO / "params.yaml", "profile": "embedded",
                             "dataset": "phoenix", "variant": "ssl_ssaw", "seed": 1})()
    assert _variant_cfg(args) == experiment.variants[("phoenix", "ssl_ssaw")]


# --- one matrix: the DAG and the plan agree ---------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_the_dag_runs_exactly_the_planned_jobs(profile):
    """`qbslt plan` reads the DAG's jobs from a dry run; they are the plan's, no more, no fewer."""
    experiment = Experiment.load(REPO / "params.yaml", profile)
    dag = dry_run("all", profile, REPO / "params.yaml", REPO / "Snakefile")
    from_dag = sorted((j.rule, sorted(j.wildcards.items())) for j in dag if j.rule in JOB_KINDS)
    planned = sorted((j.kind, sorted(j.wildcards.items())) for j in experiment.jobs())
    assert from_dag == planned
    # and each job reads and writes the files the plan says (Experiment.inputs / outputs)
    for dag_job in (j for j in dag if j.rule in JOB_KINDS):
        w = dag_job.wildcards
        job = experiment.job(dag_job.rule, w.get("dataset"), w.get("variant", w.get("key", w.get("system"))),
                             w.get("seed", 0))
        assert dag_job.inputs and dag_job.outputs, dag_job
        assert sorted(dag_job.inputs) == sorted(_files(experiment.inputs(job))), job
        assert sorted(dag_job.outputs) == sorted(_files(experiment.outputs(job))), job


def test_the_cached_feature_recipe_reads_each_stage_1_backbones_features(tmp_path):
    """train.stage2.freeze_backbone on (paper): every stage-2 run that reads video reads the features its
    stage-1 run's backbone computed, once per (run, seed, split): in the plan and in the DAG alike."""
    tree = yaml.safe_load((REPO / "params.yaml").read_text())
    tree["overrides"]["paper"].setdefault("train", {}).setdefault("stage2", {})["freeze_backbone"] = True
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tree, sort_keys=False))
    experiment = Experiment.load(params, "paper")
    reading = [j for j in experiment.jobs() if j.kind == "train" and experiment.reads_stage1_features(j.dataset, j.name)]
    assert reading
    job = next(j for j in reading if j.name == "ssl_ssaw")
    key = experiment.stage1_key(job.dataset, job.name)
    assert experiment.inputs(job)["video"] == [f"data/paper/features/{job.dataset}/stage1/{key}/seed{job.seed}/{s}.npy"
                                               for s in ("train", "dev", "test")]
    dag = dry_run("all", "paper", params, REPO / "Snakefile")
    caches = {(j.dataset, experiment.stage1_key(j.dataset, j.name), j.seed) for j in reading}
    assert sum(j.rule == "stage1_features" for j in dag) == 3 * len(caches)
    for dag_job in (j for j in dag if j.rule == "train"):
        w = dag_job.wildcards
        planned = experiment.job("train", w["dataset"], w["variant"], w["seed"])
        assert sorted(dag_job.inputs) == sorted(_files(experiment.inputs(planned)))


def _files(named: dict) -> list[str]:
    return [f for value in named.values() for f in (value if isinstance(value, list) else [value])]


# --- validate-params rejects what the DAG rejects ---------------------------------------------------

MISTAKES = [
    # SL-SLR: a method without pre-training takes no augmentation and no weighting (slr.config)
    (lambda p: p["slslr"]["methods"].update(no_pretrain={"objective": "none", "augment": "sign", "weighting": True}),
     "slslr.methods.no_pretrain: objective none"),
    (lambda p: p["slslr"]["augment"]["sign"].update(rest_drop=0.8, rest_repeat=0.4), "slslr.augment.sign"),
    # a stage-0 variant keeps the temporal module SL-SLR pre-trains
    (lambda p: p["experiment"]["variants"]["ssl_ssaw_slr"].setdefault("model", {}).update(temporal_blocks=3),
     "experiment.variants.ssl_ssaw_slr.model.temporal_blocks"),
    # a stage-0 variant starts from the SL-SLR encoder of its own seed
    (lambda p: (p["experiment"].update(seeds=[0, 1]), p["slslr"].update(seeds=[0])), "slslr.seeds"),
    (lambda p: p["experiment"]["variants"].update(sign_ssl={"model": {"inputs": "sign"}}),
     "experiment.variants.sign_ssl: model config: key 'ssl'"),
    (lambda p: p["data"].update(frame_sise=[16, 16]), "unknown key 'data.frame_sise'"),
]


@pytest.mark.parametrize("edit, message", MISTAKES)
def test_validate_params_rejects_what_the_dag_rejects(tmp_path, capsys, edit, message):
    params = tiny_params()
    edit(params)
    write_params(tmp_path, params)
    assert main(["validate-params", "--params", str(tmp_path / "params.yaml")]) == 2
    assert message in capsys.readouterr().err
    dag = run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
               "--cores", "1", "-n"], tmp_path, check=False)
    assert dag.returncode != 0 and message in dag.stdout + dag.stderr


def test_validate_params_accepts_what_the_dag_runs(tmp_path, capsys):
    write_params(tmp_path, tiny_params())
    assert main(["validate-params", "--params", str(tmp_path / "params.yaml")]) == 0
    assert "valid (profile embedded" in capsys.readouterr().out


# --- profiles: a type, not strings ---------------------------------------------------------------

def test_profiles_are_a_type():
    assert Profile.named("realtext") is PROFILES["realtext"]
    assert [p.name for p in PROFILES.values() if p.rendered_video] == ["embedded", "realtext"]
    assert [p.name for p in PROFILES.values() if p.paper_data] == ["paper"]
    with pytest.raises(ConfigError, match="unknown profile 'papr'"):
        Profile.named("papr")
    assert yaml.safe_load((REPO / "params.yaml").read_text())["profile"] in PROFILES


def _code_lines():
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield path.relative_to(SRC).as_posix(), number, line.split("#", 1)[0]


def test_no_module_branches_on_a_profile_name():
    """What differs per profile is a field of Profile (qbslt.profiles), never `profile == "paper"`."""
    branch = re.compile(r"""profile\w*(\.name)?\s*(==|!=|\bin\b|\bnot in\b)\s*[("'A-Z]""")
    found = [f"{path}:{n}: {line.strip()}" for path, n, line in _code_lines()
             if path != "profiles.py" and branch.search(line)]
    assert not found, "\n".join(found)


def test_settings_are_read_in_one_place():
    """The commands read --cfg through qbslt.settings.decode_settings only."""
    found = [f"{path}:{n}: {line.strip()}" for path, n, line in _code_lines()
             if path != "settings.py" and re.search(r"json\.loads\((args\.)?cfg\b", line)]
    assert not found, "\n".join(found)


def test_no_rule_file_reads_another_rule_files_globals():
    """What two rule files share comes from common.smk (the plan and the paths), not from each other."""
    files = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "workflow" / "rules").glob("*.smk")}
    files["Snakefile"] = (REPO / "Snakefile").read_text(encoding="utf-8")
    defined = {}
    for name, text in files.items():
        if name == "common.smk":
            continue
        for m in re.finditer(r"^([A-Za-z_]\w*)\s*=(?!=)|^def (\w+)", text, re.M):
            defined.setdefault(m[1] or m[2], name)
    crossed = [f"{symbol} (defined in {home}) used in {user}" for symbol, home in defined.items()
               for user, text in files.items() if user != home and re.search(rf"\b{symbol}\b", text)]
    assert not crossed, crossed
