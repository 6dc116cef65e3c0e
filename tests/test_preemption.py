"""Preemption: a training run asked to stop (SIGTERM, or SIGUSR1: SLURM's signal before the time limit)
finishes its optimiser step, saves where it stands inside the epoch and exits 75 (EX_TEMPFAIL); a rerun
resumes from that step and ends exactly as a run that was never stopped (on CPU, bit for bit)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.multiprocessing as mp

from qbslt import config
from qbslt.training.checkpoint import load_checkpoint
from qbslt.training.loop import EXIT_PREEMPTED, STOP_SIGNALS, Preempted, fit

X = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.1
# 20 examples in batches of 4: 5 optimiser steps an epoch.
STAGE = {"epochs": 4, "batch_size": 4, "optimizer": "adamw", "lr": 0.05, "weight_decay": 0.01, "warmup_steps": 3,
         "eval_every": 1, "patience": 3}
RUN = {"test": "preemption"}


class Noisy(torch.nn.Module):
    """A small regression with dropout (torch's RNG), two logged losses, and a forward pass that can send
    this process a signal: its ``signal_at``-th call (counted over the whole run) does, mid-step."""

    def __init__(self, signal_at=None, signum=signal.SIGUSR1, dropout=0.2):
        super().__init__()
        torch.manual_seed(0)
        self.hidden, self.out = torch.nn.Linear(3, 8), torch.nn.Linear(8, 1)
        self.calls, self.signal_at, self.signum, self.dropout = 0, signal_at, signum, dropout

    def forward(self, batch, objective):
        self.calls += 1
        if self.calls == self.signal_at:
            os.kill(os.getpid(), self.signum)
        h = torch.nn.functional.dropout(torch.relu(self.hidden(batch["x"])), self.dropout, self.training)
        error = self.out(h).squeeze(1) - batch["y"]
        return {"loss": error.pow(2).mean(), "l1": error.abs().mean()}


class Jittered:
    """The collator protocol of ``fit``: ``plan`` draws label noise from the epoch's generator (as the
    video augmentation draws its crops and speeds), ``assemble`` (in a loader worker) applies it."""

    def plan(self, indices, generator):
        return {"index": torch.tensor(indices), "noise": 0.1 * torch.randn(len(indices), generator=generator)}

    def assemble(self, plan):
        index = plan["index"]
        return {"index": index, "x": X[index], "y": Y[index] + plan["noise"]}


def _train_cfg(workers=0, micro=None):
    return {"compile": False, "precision": "fp32", "grad_clip": 1.0, "micro_batch_size": micro, "workers": workers,
            "checkpoint_seconds": 0}


def _evaluate(signal_on_call=None):
    calls = []

    def evaluate(model):
        calls.append(1)
        if len(calls) == signal_on_call:
            os.kill(os.getpid(), signal.SIGUSR1)
        with torch.no_grad():
            return -float((model.out(torch.relu(model.hidden(X))).squeeze(1) - Y).pow(2).mean())

    return evaluate


def _fit(model, folder, workers=0, micro=None, evaluate=None):
    return fit(model, Jittered(), len(X), "regression", STAGE, _train_cfg(workers, micro), RUN, 0, folder,
               torch.device("cpu"), evaluate=evaluate or _evaluate())


def _same_run(result, model, folder, straight, straight_model, straight_folder):
    assert result.history == straight.history
    assert (result.epochs, result.best_epoch, result.best_score, result.samples_seen, result.stopped_early) == (
        straight.epochs, straight.best_epoch, straight.best_score, straight.samples_seen, straight.stopped_early)
    mine, theirs = model.state_dict(), straight_model.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert (folder / "best.safetensors").read_bytes() == (straight_folder / "best.safetensors").read_bytes()
    last, straight_last = load_checkpoint(folder / "last.pt", RUN), load_checkpoint(straight_folder / "last.pt", RUN)
    assert last["within_epoch"] is None
    assert last["optimizer"]["state"].keys() == straight_last["optimizer"]["state"].keys()
    for key, state in straight_last["optimizer"]["state"].items():
        assert all(torch.equal(last["optimizer"]["state"][key][k], v) for k, v in state.items())


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The run that was never stopped, with and without loader workers and micro-batches (the same)."""
    runs = {}
    for workers, micro in ((0, None), (2, None), (0, 3)):
        folder = tmp_path_factory.mktemp(f"straight-{workers}-{micro}")
        model = Noisy()
        runs[workers, micro] = (_fit(model, folder, workers, micro), model, folder)
    return runs


@pytest.mark.parametrize("signal_at, signum, workers, micro, saved_epoch, saved_step", [
    (7, signal.SIGUSR1, 0, None, 1, 2),   # epoch 2, step 2 of 5
    (13, signal.SIGTERM, 2, None, 2, 3),  # loader workers plan ahead of training: the generator is redrawn
    (17, signal.SIGUSR1, 0, 3, 1, 4),     # micro-batches of 3: two passes a step; call 17: epoch 2, step 4
    (10, signal.SIGUSR1, 0, None, 2, None),  # an epoch's last step: the epoch ends, its checkpoint, then stop
], ids=["mid-epoch", "SIGTERM-loader-workers", "micro-batches", "last-step"])
def test_a_stop_signal_saves_the_step_and_a_rerun_ends_as_if_never_stopped(straight, tmp_path, signal_at, signum,
                                                                             workers, micro, saved_epoch,
                                                                             saved_step):
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    with pytest.raises(Preempted, match=f"stopped by {signum.name} after") as stopped:
        _fit(Noisy(signal_at, signum), tmp_path, workers, micro)
    assert stopped.value.exit_code == EXIT_PREEMPTED == 75
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before  # fit's handlers are gone with it
    state = load_checkpoint(tmp_path / "last.pt", RUN)
    assert state["epoch"] == saved_epoch
    if saved_step is None:
        assert state["within_epoch"] is None
    else:
        within = state["within_epoch"]
        assert within["step"] == saved_step and within["count"] == 4 * saved_step
        assert [set(t) for t in within["totals"]] == [{"loss", "l1"}] and within["generator"].dtype == torch.uint8
        assert state["scheduler"]["last_epoch"] == 5 * saved_epoch + saved_step

    model = Noisy()
    _same_run(_fit(model, tmp_path, workers, micro), model, tmp_path, *straight[workers, micro])


def test_a_stop_signal_during_the_dev_pass_stops_after_the_epoch(straight, tmp_path):
    with pytest.raises(Preempted, match="after epoch 2"):
        _fit(Noisy(), tmp_path, evaluate=_evaluate(signal_on_call=2))
    state = load_checkpoint(tmp_path / "last.pt", RUN)
    assert state["epoch"] == 2 and state["within_epoch"] is None and len(state["history"]) == 2
    model = Noisy()
    _same_run(_fit(model, tmp_path), model, tmp_path, *straight[0, None])


def test_without_a_signal_the_handlers_are_restored_and_nothing_changes(tmp_path):
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    result = _fit(Noisy(), tmp_path)
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before
    assert result.epochs <= STAGE["epochs"] and load_checkpoint(tmp_path / "last.pt", RUN)["within_epoch"] is None


# ------------------------------------------------------------------------------------ DDP (2 gloo processes)
WORLD = 2


def _ddp_worker(rank, port, folder, signal_rank, signal_at):
    """On each rank: a run never stopped, then one whose ``signal_rank`` sends itself SIGUSR1, then its rerun."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from qbslt.training.loop import init_distributed

    init_distributed()
    try:
        outcome = {}
        for run, signalled in (("straight", False), ("cut", True), ("resumed", False)):
            model = Noisy(signal_at if signalled and rank == signal_rank else None, dropout=0.0)
            try:
                result = _fit(model, folder / ("straight" if run == "straight" else "cut"))
                outcome[run] = {"history": result.history, "weights": model.state_dict()}
            except Preempted as exc:
                outcome[run] = {"preempted": str(exc), "calls": model.calls}
                if rank == 0:
                    outcome["saved"] = load_checkpoint(folder / "cut" / "last.pt", RUN)
        torch.save(outcome, folder / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_under_ddp_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(port, tmp_path, 1, 8), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    assert "stopped by SIGUSR1 after step 3 of 5 of epoch 2" in ranks[1]["cut"]["preempted"]
    assert "stopped by a stop signal on another rank after step 3 of 5 of epoch 2" in ranks[0]["cut"]["preempted"]
    assert ranks[0]["cut"]["calls"] == ranks[1]["cut"]["calls"] == 8  # the same step on both
    saved = ranks[0]["saved"]  # rank 0 wrote it, with each rank's loss sums
    assert saved["epoch"] == 1 and saved["within_epoch"]["step"] == 3 and len(saved["within_epoch"]["totals"]) == 2
    # rank 0 evaluates and writes the outputs: its history; every rank: the same weights
    assert ranks[0]["resumed"]["history"] == ranks[0]["straight"]["history"]
    for rank in ranks:
        assert all(torch.equal(rank["resumed"]["weights"][k], v) for k, v in rank["straight"]["weights"].items())


# ------------------------------------------------------------------- a real stage-2 job through `python -m qbslt`
def _train_cmd(tiny, folder, epochs=3):
    cfg = config.variant_config(tiny["params"], "qb_concat")
    cfg["train"]["stage2"].update(epochs=epochs, batch_size=2)  # 12 steps an epoch: a signal lands mid-epoch
    cfg["train"]["checkpoint_seconds"] = 0
    return [sys.executable, "-m", "qbslt", "train", "--dataset", "phoenix", "--variant", "qb_concat",
            "--examples-dir", str(tiny["examples"]), "--features-dir", str(tiny["features"]),
            "--decoder-tokenizer", str(tiny["tokenizer"]), "--text-tokenizer", str(tiny["tokenizer"]),
            "--checkpoint-dir", str(folder / "ck"), "--metrics", str(folder / "m.json"),
            "--predictions", str(folder / "p.tsv"), "--dev-predictions", str(folder / "d.tsv"),
            "--ssaw", str(folder / "w.json"), "--model-dir", str(folder / "model"), "--cfg", json.dumps(cfg)]


def _stop_after_first_epoch(cmd, folder, env, signum):
    """Start ``cmd``; once it has saved its first epoch, send it ``signum``; (exit status, stderr, last.pt)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        found = sorted((folder / "ck").glob("*/last.pt"))  # one folder per run identity (config hash)
        if found and torch.load(found[0], weights_only=True)["epoch"] >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be stopped"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err, torch.load(found[0], weights_only=True)


def test_a_job_through_the_preloaded_launcher_forwards_sigusr1_and_exits_75(tiny_prepared, tmp_path):
    """`python -m qbslt train` runs in a fork of the launcher's server: SIGUSR1 to the job (the client)
    reaches the training process, which saves and exits 75, and so does the job; its rerun ends as an
    uninterrupted one."""
    from test_launcher import environment, servers_of_this_test

    with servers_of_this_test() as runtime:
        env = environment(runtime)
        env.pop("QBSLT_LAUNCHER", None)
        straight = subprocess.run(_train_cmd(tiny_prepared, tmp_path / "straight"), env=env, capture_output=True,
                                  text=True, timeout=600)
        assert straight.returncode == 0, straight.stderr
        cmd = _train_cmd(tiny_prepared, tmp_path / "cut")
        code, err, state = _stop_after_first_epoch(cmd, tmp_path / "cut", env, signal.SIGUSR1)
        assert code == EXIT_PREEMPTED, err
        assert "running directly" not in err  # the command ran in the server's fork
        assert "stopped by SIGUSR1 after" in err and "rerun to resume" in err
        assert 1 <= state["epoch"] < 3 and not (tmp_path / "cut" / "m.json").exists()
        resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
        assert f"after epoch {state['epoch']}" in resumed.stderr
    timing = {"train_seconds", "samples_per_second"}
    straight_metrics, cut_metrics = ({k: v for k, v in json.loads((tmp_path / run / "m.json").read_text()).items()
                                      if k not in timing} for run in ("straight", "cut"))
    assert cut_metrics == straight_metrics
    for name in ("p.tsv", "d.tsv"):
        assert (tmp_path / "cut" / name).read_text() == (tmp_path / "straight" / name).read_text()


def test_a_job_run_directly_stops_on_sigterm_with_75(tiny_prepared, tmp_path):
    """As in a SLURM batch job (no launcher server): SIGTERM, as on preemption, gives 75 and a saved state."""
    env = {**os.environ, "QBSLT_LAUNCHER": "direct"}
    code, err, state = _stop_after_first_epoch(_train_cmd(tiny_prepared, tmp_path), tmp_path, env, signal.SIGTERM)
    assert code == EXIT_PREEMPTED, err
    assert "stopped by SIGTERM after" in err
    assert state["epoch"] >= 1


def planned_runtimes(rule: str) -> list[int]:
    """The time limits (minutes) the plan gives the paper profile's jobs of ``rule``."""
    from qbslt.experiment import Experiment
    from qbslt.plan.dry_run import Job
    from qbslt.plan.estimate import Planner

    experiment = Experiment.load("params.yaml", "paper")
    planner = Planner(experiment)
    return [planner.job_resources(Job(j.kind, j.wildcards))["runtime"] for j in experiment.jobs() if j.kind == rule]


def test_the_slurm_profile_retries_and_signals_training_jobs_before_their_time_limit():
    """profiles/slurm: retries, requeue, and SIGTERM (not to the batch shell alone) 10 minutes before
    the limit for the training rules, in a form the installed executor plugin accepts in slurm_extra."""
    import re
    from pathlib import Path

    import yaml

    profile = yaml.safe_load((Path(__file__).resolve().parents[1] / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["retries"] >= 1 and profile["slurm-requeue"] is True
    for rule in ("pretrain", "train"):
        resources = profile["set-resources"][rule]
        extra = resources["slurm_extra"].strip("'\"")
        signal_arg = re.fullmatch(r"--signal=(\w+)@(\d+)", extra)
        assert signal_arg and signal_arg[1] == "TERM" and int(signal_arg[2]) >= 300, extra
        # the time limit is each job's own, from the plan (set-resources would override it)
        assert "runtime" not in resources
        assert min(planned_runtimes(rule)) * 60 > int(signal_arg[2])
    validation = pytest.importorskip("snakemake_executor_plugin_slurm.validation")
    for pattern in validation.get_forbidden_slurm_options():
        for rule in ("pretrain", "train"):
            assert not re.search(pattern, profile["set-resources"][rule]["slurm_extra"]), pattern
