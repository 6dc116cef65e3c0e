"""SL-SLR as stage 0 of SSL-SSAW: its pre-trained temporal encoder starts stage 1.

The SL-SLR clip encoder's ``temporal`` module is SSL-SSAW's ``video_embedding.temporal`` (same class, same
``model`` settings), so its weights (``runs.save_encoder``: the module's own state dict, safetensors) load
one to one; every other weight of stage 1 starts as without stage 0.
"""

from __future__ import annotations

from pathlib import Path

from qbslt.errors import ConfigError
from qbslt.training.checkpoint import load_weights


def load_stage0(model, path: Path) -> list[str]:
    """Load an SL-SLR encoder file into ``model.video_embedding.temporal`` (a QBSLTModel); the loaded names."""
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
