"""Typed settings (qbslt.settings.Settings and its blocks): every job's settings read into their typed
form and written back unchanged; a bad block is one ConfigError naming the key's path."""

from __future__ import annotations

import dataclasses
import math

import pytest

from conftest import REPO
from qbslt.data.settings import DataSettings, SyntheticSettings
from qbslt.errors import ConfigError
from qbslt.eval.settings import EvalSettings
from qbslt.experiment import Experiment
from qbslt.profiles import PROFILE_NAMES
from qbslt.settings import decode_settings
from qbslt.sigma.configuration_sigma import SigmaJobSettings
from qbslt.slslr.configuration_slslr import ClipSettings, SlslrJobSettings
from qbslt.ssl_ssaw.settings import RunSettings
from qbslt.training.settings import LoopSettings, StageSettings, TrainSettings

STAGE = {"epochs": 3, "batch_size": 8, "optimizer": "adamw", "lr": 0.01, "weight_decay": 0.0, "warmup_steps": 1}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_every_jobs_typed_settings_write_back_the_same_block(profile):
    experiment = Experiment.load(REPO / "params.yaml", profile)
    kinds = {}
    for job in experiment.jobs():
        typed = experiment.typed_settings(job)
        if job.kind == "reference":
            assert typed is None
            continue
        kinds[job.kind] = type(typed)
        # what the command reads from --cfg is what the plan holds, and it writes back the same block
        assert type(typed).from_dict(decode_settings(experiment.encoded(job)), "--cfg") == typed
        assert typed.to_dict() == experiment.settings(job), job
    assert kinds["pretrain"] is kinds["train"] is RunSettings
    assert kinds.get("sigma", SigmaJobSettings) is SigmaJobSettings
    assert kinds.get("slslr_run", SlslrJobSettings) is SlslrJobSettings
    clips = experiment.step_settings("slslr_clips")
    assert ClipSettings.from_dict(clips, "slslr").to_dict() == clips
    data = DataSettings.from_dict(experiment.tree["data"], "data")
    assert data.to_dict() == experiment.tree["data"]
    generate = experiment.step_settings("generate_embedded")
    assert SyntheticSettings.from_dict(generate["synthetic"], "data.synthetic") == data.synthetic


def test_a_stage_1_block_has_no_stage_2_and_no_eval():
    experiment = Experiment.load(REPO / "params.yaml", "embedded")
    pretrain = next(j for j in experiment.jobs() if j.kind == "pretrain")
    train = next(j for j in experiment.jobs() if j.kind == "train")
    stage1, stage2 = experiment.typed_settings(pretrain), experiment.typed_settings(train)
    assert stage1.eval is None and stage1.train.stage2 is None and stage1.train.stage1.mask_prob is not None
    assert isinstance(stage2.eval, EvalSettings) and isinstance(stage2.train.stage2, StageSettings)
    assert stage2.train.stage2.evaluation_period == experiment.settings(train)["train"]["stage2"]["eval_every"]


def test_a_key_given_as_null_stays_given():
    """``patience: null`` (never stop early) and an absent patience read alike, and each writes back as it came."""
    with_null, absent = {**STAGE, "patience": None}, dict(STAGE)
    assert StageSettings.from_dict(with_null, "s") == StageSettings.from_dict(absent, "s")
    assert StageSettings.from_dict(with_null, "s").to_dict() == with_null
    assert StageSettings.from_dict(absent, "s").to_dict() == absent
    assert StageSettings.from_dict(absent, "s").patience is None


def test_a_block_built_in_code_writes_every_field_but_the_absent_ones():
    stage = StageSettings(**STAGE)
    assert stage.to_dict() == STAGE  # mask_prob, eval_every, patience, min_epochs: absent
    assert stage.evaluation_period == 1 and stage.earliest_stop == 0
    loop = LoopSettings(grad_clip=1.0)
    assert loop.to_dict()["grad_clip"] == 1.0 and loop.to_dict()["micro_batch_size"] is None
    assert LoopSettings.from_dict(loop.to_dict(), "train") == loop


def _train_block() -> dict:
    return Experiment.load(REPO / "params.yaml", "embedded").tree["train"]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t["stage2"].update(lrr=0.1), "train.stage2.lrr: unknown key"),
    (lambda t: t["stage1"].pop("epochs"), "train.stage1.epochs: missing"),
    (lambda t: t.update(threads="2"), "train.threads: an integer expected, got '2'"),
    (lambda t: t.update(threads=True), "train.threads: an integer expected, got True"),
    (lambda t: t.update(compile=1), "train.compile: true or false expected, got 1"),
    (lambda t: t["stage2"].update(lr=math.nan), "train.stage2.lr: a finite number expected, got nan"),
    (lambda t: t.update(grad_clip=math.inf), "train.grad_clip: a finite number expected, got inf"),
    (lambda t: t["augment"].update(brightness="high"), "train.augment.brightness: a number expected"),
    (lambda t: t.update(crop_size="big"), "train.crop_size: an integer expected, got 'big'"),
    (lambda t: t.update(augment=[0.1]), "train.augment: a mapping of settings expected, got list"),
])
def test_a_bad_train_block_names_the_key(edit, message):
    block = _train_block()
    edit(block)
    with pytest.raises(ConfigError) as caught:
        TrainSettings.from_dict(block, "train")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_keys_inside_a_mapping_of_blocks_are_named_by_their_path():
    experiment = Experiment.load(REPO / "params.yaml", "embedded")
    job = next(j for j in experiment.jobs() if j.kind == "sigma")
    block = experiment.settings(job)
    block["variants"]["full"]["finetune"]["epochs"] = 2.5
    with pytest.raises(ConfigError, match=r"--cfg\.variants\.full\.finetune\.epochs: an integer expected"):
        SigmaJobSettings.from_dict(block, "--cfg")


def test_typed_settings_are_frozen_and_compare_by_value():
    stage = StageSettings(**STAGE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.lr = 1.0
    assert StageSettings.of(STAGE, "s") == stage and StageSettings.of(stage, "s") is stage
