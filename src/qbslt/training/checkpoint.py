"""Atomic, resumable training checkpoints.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values, so it
loads with ``weights_only=True``. ``fit`` writes one after an epoch, or after an optimiser step when
a signal stopped it (its ``within_epoch``: :mod:`qbslt.training.loop`). It records the flattened run config: resuming with a
different config is refused with the differing keys named. Checkpoints live outside
Snakemake's declared outputs (Snakemake deletes the outputs of a failed job).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from qbslt.atomic import atomic_paths
from qbslt.errors import ConfigError, QbsltError
from qbslt.model.pretrained import load_weights, save_weights  # noqa: F401 (the runs' weight files)

log = logging.getLogger("qbslt.train")


class CheckpointMismatch(QbsltError):
    """A checkpoint written under another config."""


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{'a.b': 1, ...} of a nested mapping (lists kept whole)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_differences(a: dict, b: dict) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k, "<absent>") != fb.get(k, "<absent>"))


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_paths(path) as (tmp,):
        torch.save(state, tmp)


def load_checkpoint(path: Path, run_config: dict) -> dict | None:
    """The checkpoint at ``path`` (None if absent); refuses one written under another config."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state["run_config"]
    except Exception as exc:  # noqa: BLE001 - truncated, corrupt or foreign: keep it aside, train afresh
        aside = path.with_name(path.name + ".unreadable")
        os.replace(path, aside)
        log.warning("%s: unreadable checkpoint (%s); moved to %s, training from the start", path,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__, aside.name)
        return None
    differing = config_differences(state["run_config"], run_config)
    if differing:
        fa, fb = flatten(state["run_config"]), flatten(run_config)
        details = ", ".join(f"{k} (checkpoint {fa.get(k, '<absent>')!r}, now {fb.get(k, '<absent>')!r})"
                            for k in differing[:8])
        raise CheckpointMismatch(f"{path}: checkpoint was written with a different config: {details}. "
                                 f"Delete {path.parent} to start over.")
    return state


def load_stage0(model, path: Path) -> list[str]:
    """Load an SL-SLR encoder file into ``model.video_embedding.temporal`` (a QBSLTModel); the loaded names.

    SL-SLR is stage 0 of SSL-SSAW: its pre-trained temporal encoder starts stage 1. The SL-SLR clip
    encoder's ``temporal`` module is SSL-SSAW's ``video_embedding.temporal`` (same class, same ``model``
    settings), so its weights (written by ``qbslt.slslr.run.run_seed``: the module's own state
    dict, safetensors) load one to one; every other weight of stage 1 starts as without stage 0."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: missing SL-SLR encoder (rerun the slslr_run step)")
    state = load_weights(Path(path))
    target = model.video_embedding.temporal
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"{path}: does not fit the model's temporal module (model.d_model, temporal_blocks, "
                          f"temporal_kernel and backbone must match slslr's): {str(exc).splitlines()[0]}") from None
    return [f"video_embedding.temporal.{k}" for k in state]
