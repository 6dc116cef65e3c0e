"""A small, readable, resumable training loop shared by both stages (nanoGPT style).

One epoch = a permutation of the training set drawn from a generator seeded by (seed, epoch),
so an epoch's batches do not depend on whether the run was interrupted before it. After every
epoch the whole state (weights, optimiser, scheduler, torch RNG, best score, history, elapsed
time) goes atomically into ``last.pt``; a rerun resumes from there and ends with the same
result as an uninterrupted run (on CPU, bit for bit).

Asked to stop (SIGTERM, or SIGUSR1: what SLURM sends before a job's time limit or on preemption),
``fit`` finishes the optimiser step it is in, writes ``last.pt`` with the position inside the epoch
(the step, the augmentation generator, the epoch's partial loss sums) and raises :class:`Preempted`,
whose exit status is ``EXIT_PREEMPTED`` (75); a rerun resumes from that step, with the same result.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm
from transformers import get_cosine_schedule_with_warmup

from qbslt.errors import ConfigError, QbsltError
from qbslt.numerics import configure_torch
from qbslt.model.video_embedding import FrameBackbone
from qbslt.training.batches import batch_loader, rank_share, slice_batch, split_batch
from qbslt.training.checkpoint import load_checkpoint, save_checkpoint, save_weights
from qbslt.training.fingerprint import changed_inputs
from qbslt.training.settings import LoopSettings, StageSettings

log = logging.getLogger("qbslt.train")


class NonFiniteLoss(QbsltError):
    """A loss became NaN or infinite: training stops instead of writing a model of NaNs."""


# The exit status of a training job stopped on request with its state saved: EX_TEMPFAIL of
# sysexits.h ("temporary failure; the user is invited to retry"). Rerun the job to resume.
EXIT_PREEMPTED = 75
# What asks a training run to stop: SLURM sends SIGTERM on preemption and at the time limit, and the
# signal of ``--signal`` (SIGUSR1 here) that long before the limit.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(QbsltError):
    """Training stopped on a stop signal after its state was saved: a rerun resumes it (exit status 75)."""

    exit_code = EXIT_PREEMPTED


class _StopRequest:
    """While ``fit`` runs: a stop signal is remembered, not acted on, so that the step in progress
    ends and its state is saved. Outside ``fit`` (and in threads other than the main one, where no
    handler can be set) the signals keep their own handlers."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        self.signum = signum  # nothing else here: a handler may run between any two bytecodes

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def now(self, world: int, device: torch.device) -> bool:
        """Whether to stop after this step; under DDP, whether any rank was asked (all stop together)."""
        if world == 1:
            return self.signum is not None
        flag = torch.tensor([int(self.signum is not None)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "a stop signal on another rank"


def ignore_stop_signals(worker_id: int | None = None) -> None:
    """In a data-loader worker: the stop signals are the training process's to act on. (SLURM signals
    every process of a job step; a worker killed by it would make the loader raise in the training
    process before it could save its state.)"""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    configure_torch()  # the pinned CPU kernels (qbslt.numerics): the same numbers on every machine
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def distributed() -> tuple[int, int]:
    """(rank, world size); (0, 1) unless started by torchrun with more than one process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> None:
    """Join the process group torchrun describes in the environment (NCCL on GPUs, else gloo)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; under torchrun each process takes its LOCAL_RANK's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device is 'cuda' but no CUDA device is available (use auto or cpu)")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model: torch.nn.Module, stage: StageSettings | dict) -> torch.optim.Optimizer:
    stage = StageSettings.of(stage, "stage")
    params = [p for p in model.parameters() if p.requires_grad]
    if stage.optimizer == "adamw":
        # fused: one kernel for all parameters instead of a loop of small ones per tensor (on the
        # embedded model's CPU steps the per-tensor loop was 9 % of a training step).
        fused = all(p.dtype == torch.float32 and p.device.type in ("cpu", "cuda") for p in params)
        return torch.optim.AdamW(params, lr=stage.lr, weight_decay=stage.weight_decay, fused=fused)
    return torch.optim.SGD(params, lr=stage.lr, momentum=0.9, weight_decay=stage.weight_decay)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of an epoch's random draws in the training process (crops, augmentation, masks)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch + 500_009)


def _generator_after(collator, batches: list[list[int]], seed: int, epoch: int) -> torch.Tensor:
    """The state of the epoch's generator once ``batches`` (those trained so far) are planned. Loader
    workers plan ahead of training, so the live generator may be further on: the plans are drawn
    again (no frame is read), as the loader drew them, in order."""
    generator = _epoch_generator(seed, epoch)
    for indices in batches:
        collator.plan(indices, generator)
    return generator.get_state()


# Length buckets: the shuffled epoch is cut into chunks of this many batches, each sorted by length.
BUCKET_BATCHES = 50


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int,
                  lengths: Sequence[int] | None = None) -> list[list[int]]:
    """The epoch's batches: a seeded permutation cut into batches; with ``lengths`` (videos), each
    chunk of ``BUCKET_BATCHES`` batches of it is sorted by length before the cut and the batches
    are then shuffled, so a batch holds videos of similar length and pads little."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator).tolist()
    if lengths is None:
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    chunk, batches = batch_size * BUCKET_BATCHES, []
    for start in range(0, n, chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])  # stable: ties keep the random order
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _rank_passes(share: dict, micro_batch_size: int | None, world: int
                 ) -> tuple[list[dict], list[float], int]:
    """This rank's share of a global batch (``batch_loader`` with ``world`` > 1: ``full_size`` and
    ``ghost`` beside the tensors) -> (its passes, each pass's loss weight, the global batch size).

    DDP averages the ranks' gradients, and the single-process gradient is that of the mean loss over
    the N examples of the global batch, i.e. the sum over passes of (pass size / N) x the gradient of
    the pass's mean loss. So each pass's mean loss is weighted by ``world x pass size / N``: averaged
    over the ranks, the weights are pass size / N. A ghost pass (a batch smaller than the world left
    this rank no example) weighs 0. Every rank takes the same number of passes (stage 1 gathers
    across ranks in each): as many as the largest share needs at ``micro_batch_size``, but no more
    than the smallest share has examples; each share is cut into that many near-equal passes.
    """
    share = dict(share)
    size, ghost = int(share.pop("full_size")), bool(share.pop("ghost"))
    m = len(share["index"])
    if ghost:
        return [{**share, "ghost": True}], [0.0], size
    largest, smallest = -(-size // world), max(1, size // world)
    count = min(math.ceil(largest / micro_batch_size) if micro_batch_size else 1, smallest)
    passes = [slice_batch(share, rank_share(m, k, count)) for k in range(count)] if count > 1 else [share]
    return passes, [world * len(p["index"]) / size for p in passes], size


def _check_all_trained(model: torch.nn.Module, desc: str) -> None:
    """After the first step under DDP without ``find_unused_parameters``: every trained parameter must
    have a gradient, or the next step would fail with a less helpful message from DDP."""
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if missing:
        raise QbsltError(f"{desc}: {len(missing)} trained parameters got no gradient under DistributedDataParallel "
                         f"(e.g. {missing[:5]}); freeze them (the model's freeze_unused)")


def _sum_over_ranks(totals: dict[str, float], device: torch.device) -> dict[str, float]:
    """The loss totals of every rank, summed (the same keys, in the same order, on every rank)."""
    values = torch.tensor(list(totals.values()), dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return dict(zip(totals, values.tolist()))


def _totals_of_ranks(totals: dict[str, float], device: torch.device, world: int) -> list[dict[str, float]]:
    """Every rank's loss totals, in rank order (the same keys, in the same order, on every rank)."""
    if world == 1:
        return [dict(totals)]
    values = torch.tensor(list(totals.values()), dtype=torch.float64, device=device)
    gathered = [torch.empty_like(values) for _ in range(world)]
    dist.all_gather(gathered, values)
    return [dict(zip(totals, v.tolist())) for v in gathered]


def _clock(seconds: float) -> str:
    """``75.4`` -> ``"1:15"``; an hour or more -> ``"1:02:03"``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _cosine_to_floor(step: int, warmup: int, decay_steps: int, floor: float) -> float:
    """The learning rate's factor at optimiser ``step``: linear warm-up over ``warmup`` steps, a cosine
    from 1 to ``floor`` at ``decay_steps``, then ``floor`` (nanoGPT's schedule with min_lr = floor * lr)."""
    if step < warmup:
        return step / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, decay_steps - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def learning_rate_schedule(optimizer: torch.optim.Optimizer, stage: StageSettings,
                           steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up for ``stage.warmup_steps`` steps, then a cosine decay over ``stage.epochs`` epochs to
    ``lr * stage.lr_floor``, constant after it (``stage.extra_epochs``). Without a floor it is transformers'
    cosine schedule; with one, the same curve stopped at its floor."""
    decay_steps = max(1, stage.epochs * steps_per_epoch)  # one per global batch (epoch_batches)
    warmup = min(stage.warmup_steps, decay_steps)
    if not stage.lr_floor and not stage.extra_epochs:  # after its end transformers' curve would rise again
        return get_cosine_schedule_with_warmup(optimizer, warmup, decay_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(
        _cosine_to_floor, warmup=warmup, decay_steps=decay_steps, floor=stage.lr_floor))


def evaluations_since_best(history: list[dict], min_delta: float = 0.0) -> int | None:
    """How many dev evaluations of ``history`` came after the last one that improved: beat the score of
    the improving one before it by more than ``min_delta`` (0: any gain, so the first of equal bests);
    None before any evaluation."""
    scores = [r["dev_score"] for r in history if "dev_score" in r]
    if not scores:
        return None
    reference, last = scores[0], 0
    for i, score in enumerate(scores[1:], start=1):
        if score > reference + min_delta:
            reference, last = score, i
    return len(scores) - 1 - last


@dataclass
class FitResult:
    epochs: int  # epochs run (the cap unless stopped early)
    best_epoch: int | None
    best_score: float | None
    train_seconds: float
    samples_seen: int
    history: list[dict] = field(default_factory=list)
    cap: int | None = None  # stage.epochs
    stopped_early: bool = False
    patience: int | None = None
    min_epochs: int = 0
    min_delta: float = 0.0
    extra_epochs: int = 0  # epochs after the decay, at the floor, while dev improves (in the cap)
    min_lr_ratio: float = 0.0  # the learning rate's floor, a share of lr

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def dev_curve(self) -> list[list[float]]:
        """``[[epoch, dev score], ...]`` of every dev evaluation."""
        return [[r["epoch"], r["dev_score"]] for r in self.history if "dev_score" in r]

    @property
    def still_improving(self) -> bool:
        """Ran to the cap with its best dev score among the last ``patience`` evaluations (the last one
        without patience): more epochs might have helped, so the cap was too small for this run."""
        since = evaluations_since_best(self.history, self.min_delta)
        return not self.stopped_early and since is not None and since < (self.patience or 1)

    def budget(self) -> dict:
        """What the metrics record of the training budget (docs/evaluation.md, "Training budget")."""
        return {"cap": self.cap, "patience": self.patience, "min_epochs": self.min_epochs,
                **({"min_delta": self.min_delta} if self.min_delta else {}),  # absent: 0 (files as before)
                **({"extra_epochs": self.extra_epochs} if self.extra_epochs else {}),
                **({"min_lr_ratio": self.min_lr_ratio} if self.min_lr_ratio else {}),
                "epochs_run": self.epochs, "best_epoch": self.best_epoch,
                "stopped": "early" if self.stopped_early else "cap", "still_improving": self.still_improving,
                "dev_curve": self.dev_curve}


def fit(model: torch.nn.Module, collator, n_train: int, objective: str,
        stage: StageSettings | dict, loop: LoopSettings | dict, run_config: dict, seed: int, checkpoint_dir: Path,
        device: torch.device, evaluate: Callable[[torch.nn.Module], float] | None = None,
        desc: str = "train", fingerprint: dict | None = None) -> FitResult:
    """Train ``model`` for ``stage.epochs``, resuming from ``checkpoint_dir/last.pt``.

    ``fingerprint`` (:mod:`qbslt.training.fingerprint`): what the run reads beside its settings
    (input files' content, the code). ``last.pt`` records it, and resumes only a run with the same
    one; otherwise the run starts from the beginning and the log says which input changed.

    ``last.pt`` is written after the last epoch and after any epoch that ends at least
    ``loop.checkpoint_seconds`` (default 0: every epoch) of training after the previous write:
    saving an optimiser state every epoch of a seconds-long run would cost more than it protects.

    ``model(batch, objective)`` returns a dict with 'loss' (and named parts, logged).
    ``evaluate(model)`` (dev score, higher is better) runs every ``stage.eval_every``
    epochs and after the last; the best weights go to ``checkpoint_dir/best.safetensors``. When the
    last epoch is the only such point there is nothing to choose: no dev pass runs, and the last
    epoch's weights are the result (``best_epoch`` = ``epochs``, no best file).

    Early stopping: with ``stage.patience`` = P, training stops after the evaluation that is
    the P-th since the last improving one (not before epoch ``stage.min_epochs``; an evaluation
    improves when it beats the previous improving one by more than ``stage.min_delta``, default 0:
    any gain, so the last improving one is the best), and ``epochs`` is
    only the cap. The learning-rate schedule is fixed in advance (:func:`learning_rate_schedule`: a
    cosine over ``stage.epochs``, to 0 or to a floor that ``stage.extra_epochs`` more train at, the cap
    being ``stage.cap``), so a run's first epochs do not depend on when it stops. A stopped run's
    ``last.pt`` says so: a rerun trains no further.

    Under torchrun (several processes) the model is wrapped in DistributedDataParallel and
    ``batch_size`` stays the global batch: every optimiser step takes the next batch of the epoch's
    permutation (the same batches as on one process, so the same number of scheduler steps), and
    each rank trains on its share of it (:func:`qbslt.training.batches.rank_share`; the loss
    weighting in :func:`_rank_passes` makes the averaged gradient that of the whole batch). The
    parameters the objective does not use are frozen (``model.freeze_unused``), so DDP needs no
    search for unused parameters. Rank 0 alone evaluates and writes checkpoints (the others wait at
    a barrier); the logged losses are those of the whole batch, summed over the ranks.

    Preemption: a SIGTERM or SIGUSR1 while ``fit`` runs (``STOP_SIGNALS``) lets the optimiser step in
    progress finish; then ``last.pt`` gets the state inside the epoch (``within_epoch``: the steps
    done, the augmentation generator after their batches, each rank's loss sums, the example count,
    the seconds) and ``fit`` raises :class:`Preempted` (exit status ``EXIT_PREEMPTED``, 75). A
    signal during an epoch's last step or its dev pass stops after that epoch's checkpoint. Under
    DDP the ranks agree after every step whether any was signalled (an all-reduce of a flag) and
    stop after the same one. Data-loader workers ignore the stop signals.
    """
    stage, loop = StageSettings.of(stage, "stage"), LoopSettings.of(loop, "train")
    rank, world = distributed()
    epochs, batch_size = stage.cap, stage.batch_size
    patience = stage.patience if evaluate is not None else None
    min_epochs = stage.earliest_stop  # no early stop before: dev can stall early in training
    if world > 1 and hasattr(model, "freeze_unused"):
        frozen = model.freeze_unused(objective)
        if frozen and rank == 0:
            log.info("%s: %d parameter tensors unused by %s are frozen", desc, len(frozen), objective)
    optimizer = make_optimizer(model, stage)
    scheduler = learning_rate_schedule(optimizer, stage, math.ceil(n_train / batch_size))
    last_path, best_path = checkpoint_dir / "last.pt", checkpoint_dir / "best.safetensors"

    start_epoch, best_score, best_epoch, seconds, samples, history = 0, None, None, 0.0, 0, []
    stopped, within = False, None
    state = load_checkpoint(last_path, run_config)
    if state is not None and fingerprint is not None and state.get("fingerprint") != fingerprint:
        log.info("%s: not resuming %s: written from other inputs (%s changed); training from the start", desc,
                 last_path, ", ".join(changed_inputs(state.get("fingerprint"), fingerprint)))
        state = None
    if state is None:  # a fresh start keeps nothing of an earlier run's (its dev-best weights included)
        best_path.unlink(missing_ok=True)
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        start_epoch, best_score, best_epoch = state["epoch"], state["best_score"], state["best_epoch"]
        seconds, samples, history = state["train_seconds"], state["samples_seen"], state["history"]
        stopped = bool(state.get("stopped_early"))
        within = state.get("within_epoch")  # stopped by a signal inside the next epoch: on from its step
        log.info("%s: resumed from %s after epoch %d%s%s", desc, last_path, start_epoch,
                 f" and step {within['step']} of epoch {start_epoch + 1}" if within else "",
                 " (stopped early: dev had not improved)" if stopped else "")

    def checkpoint(epochs_done: int, within_epoch: dict | None = None) -> None:
        """``last.pt``: the state after ``epochs_done`` epochs (and ``within_epoch``'s steps of the next)."""
        save_checkpoint(last_path, {
            "run_config": run_config, "fingerprint": fingerprint, "epoch": epochs_done, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "best_score": best_score, "best_epoch": best_epoch, "train_seconds": seconds, "samples_seen": samples,
            "history": history, "stopped_early": stopped, "within_epoch": within_epoch})

    def preempted(where: str) -> Preempted:
        message = (f"{desc}: stopped by {stop.name()} {where}; the state is saved in {last_path}: "
                   f"rerun to resume from there (exit status {EXIT_PREEMPTED})")
        if rank == 0:
            log.warning("%s", message)
        return Preempted(message)

    if loop.channels_last and device.type == "cuda":
        for module in model.modules():
            if isinstance(module, FrameBackbone):
                module.to_channels_last()
    forward = torch.compile(model) if loop.compile and device.type == "cuda" else model
    if world > 1:
        forward = torch.nn.parallel.DistributedDataParallel(
            forward, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False)
    eval_every = stage.evaluation_period
    eval_epochs = {e for e in range(1, epochs + 1) if e % eval_every == 0 or e == epochs}
    selecting = evaluate is not None and (len(eval_epochs) > 1 or patience is not None)
    if evaluate is not None and not selecting:
        best_epoch = epochs
    lengths = [len(rows) for rows in collator.data.frame_rows] if loop.bucket_by_length else None
    checkpoint_seconds, saved_at = loop.checkpoint_seconds, seconds
    fit_started = time.perf_counter()
    with _StopRequest() as stop:
        for epoch in range(start_epoch, start_epoch if stopped else epochs):
            model.train()
            generator = _epoch_generator(seed, epoch)
            started, totals, count, first = time.perf_counter(), {}, 0, 0
            batches = epoch_batches(n_train, batch_size, seed, epoch, lengths)
            if within is not None:  # the epoch a stop signal cut short: on from the step after the saved one
                first, count, saved = within["step"], within["count"], within["totals"]
                if len(saved) == world:  # each rank its own loss sums
                    totals = dict(saved[rank])
                else:  # another number of processes: rank 0 takes them all (the same keys, in the same order)
                    totals = {k: sum(t[k] for t in saved) if rank == 0 else 0.0 for k in saved[0]}
                generator.set_state(within["generator"])
                started -= within["seconds"]
                within = None
            loader = batch_loader(collator, batches[first:], generator, loop.workers,
                                  pin_memory=device.type == "cuda", rank=rank, world=world,
                                  worker_init_fn=ignore_stop_signals)
            for step, full in enumerate(tqdm(loader, desc=f"{desc} {epoch + 1}/{epochs}", leave=False, mininterval=5,
                                             disable=None, initial=first, total=len(batches)), start=first + 1):
                optimizer.zero_grad(set_to_none=True)
                if world == 1:
                    passes = split_batch(full, loop.micro_batch_size)
                    # Gradients of the whole batch: each pass's mean loss weighted by its share.
                    weights = [None] if len(passes) == 1 else [len(p["index"]) / len(full["index"]) for p in passes]
                    size = len(full["index"])
                else:
                    passes, weights, size = _rank_passes(full, loop.micro_batch_size, world)
                for k, (part, weight) in enumerate(zip(passes, weights)):
                    # DDP synchronises once, on the last pass.
                    syncing = k == len(passes) - 1 or world == 1
                    with contextlib.nullcontext() if syncing else forward.no_sync():
                        part = to_device(part, device)
                        with autocast(device, loop.precision):
                            out = forward(part, objective)
                        (out["loss"] if weight is None else out["loss"] * weight).backward()
                    examples = 0 if part.get("ghost") else len(part["index"])
                    for key, value in out.items():
                        if value.dim() == 0:  # scalar losses only (stage 1 also returns its similarity matrix)
                            number = float(value.detach())
                            if not math.isfinite(number):  # stop before the optimiser spreads it into every weight
                                raise NonFiniteLoss(f"{desc}: epoch {epoch + 1}, step {step}: {key} is {number} "
                                                    f"(check the learning rate, grad_clip and the inputs)")
                            totals[key] = totals.get(key, 0.0) + number * examples
                if world > 1 and step == first + 1:
                    _check_all_trained(model, desc)
                if loop.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), loop.grad_clip)
                optimizer.step()
                scheduler.step()
                count += size
                # Asked to stop: the step is done; save where the epoch stands (its last step: see below).
                if step < len(batches) and stop.now(world, device):
                    saved = _totals_of_ranks(totals, device, world)
                    if rank == 0:
                        checkpoint(epoch, {"step": step, "count": count, "totals": saved,
                                           "seconds": time.perf_counter() - started,
                                           "generator": _generator_after(collator, batches[:step], seed, epoch)})
                    if world > 1:
                        dist.barrier()
                    raise preempted(f"after step {step} of {len(batches)} of epoch {epoch + 1}")
            if world > 1:  # the logged losses: means over every rank's examples
                totals = _sum_over_ranks(totals, device)
            seconds += time.perf_counter() - started
            samples += count
            record = {"epoch": epoch + 1, **{k: round(v / count, 5) for k, v in totals.items()}}
            if selecting and rank == 0 and epoch + 1 in eval_epochs:
                model.eval()
                score = float(evaluate(model))
                record["dev_score"] = round(score, 4)
                if best_score is None or score > best_score:
                    best_score, best_epoch = score, epoch + 1
                    save_weights(best_path, model.state_dict())
            history.append(record)
            if patience is not None and "dev_score" in record and min_epochs <= epoch + 1 < epochs:
                stopped = evaluations_since_best(history, stage.improvement) >= patience
            if world > 1 and patience is not None:  # rank 0 evaluated: every rank stops with it
                flag = torch.tensor([int(stopped)], device=device)
                dist.broadcast(flag, 0)
                stopped = bool(flag.item())
            # Asked to stop during the epoch's last step or its dev pass: the epoch's checkpoint, then stop.
            halt = stop.now(world, device)
            if rank != 0:
                dist.barrier()
                if halt:
                    raise preempted(f"after epoch {epoch + 1}")
                if stopped:
                    break
                continue
            # Elapsed and ETA in the log itself: tqdm's bar is off outside a terminal (a job's log file).
            elapsed = time.perf_counter() - fit_started
            eta = elapsed / (epoch + 1 - start_epoch) * (epochs - epoch - 1)
            log.info("%s epoch %d/%d %s (elapsed %s, ETA %s%s)", desc, epoch + 1, epochs,
                     " ".join(f"{k}={v}" for k, v in record.items() if k != "epoch"), _clock(elapsed),
                     "≤ " if patience is not None else "", _clock(eta))
            if stopped:
                log.info("%s: stopped early after epoch %d: dev has not improved for %d evaluations (best: epoch %s)",
                         desc, epoch + 1, patience, best_epoch)
            if epoch + 1 == epochs or stopped or halt or seconds - saved_at >= checkpoint_seconds:
                checkpoint(epoch + 1)
                saved_at = seconds
            if world > 1:
                dist.barrier()
            if halt:
                raise preempted(f"after epoch {epoch + 1}")
            if stopped:
                break
        # A signal during the last checkpoint's write: training is over and saved, but the job was asked
        # to stop, and what follows (decoding) would not be.
        if stop.signum is not None:
            raise preempted("after the last epoch")
    run = history[-1]["epoch"] if history else 0
    return FitResult(epochs=run, best_epoch=best_epoch, best_score=best_score, train_seconds=seconds,
                     samples_seen=samples, history=history, cap=epochs, stopped_early=stopped, patience=patience,
                     min_epochs=min_epochs, min_delta=stage.improvement, extra_epochs=stage.extra_epochs or 0,
                     min_lr_ratio=stage.lr_floor)
