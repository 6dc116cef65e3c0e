"""The typed ``eval`` block: how a run decodes and how its scores are reported (docs/evaluation.md)."""

from __future__ import annotations

from dataclasses import dataclass

from qbslt.settings import Settings, absent_ok


@dataclass(frozen=True, kw_only=True)
class EvalSettings(Settings):
    """params.yaml's ``eval`` block. A Sigma job gets only the decoding keys it reads (its own
    ``max_new_tokens`` lives in ``sigma``), so the others may be absent."""

    num_beams: int  # the final dev and test decoding
    eval_beams_during_training: int  # the dev passes that choose the best epoch
    batch_size: int | None  # decoding batch (None: the training batch)
    max_new_tokens: int | None = absent_ok()
    bootstrap_samples: int | None = absent_ok()  # paired bootstrap resamples of the significance tests
