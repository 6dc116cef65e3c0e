"""What one SSL-SSAW job reads (``Experiment.settings`` of a pretrain or train job), typed.

The ``model`` block stays the mapping :meth:`QBSLTConfig.from_params` reads (the config class is the
model block's type, and it needs the tokenizers' ids besides); ``train`` and ``eval`` are typed
blocks. A stage-1 job's block has no ``eval`` (and its ``train`` no ``stage2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qbslt.eval.settings import EvalSettings
from qbslt.settings import Settings, absent_ok
from qbslt.training.settings import TrainSettings


@dataclass(frozen=True, kw_only=True)
class RunSettings(Settings):
    model: dict[str, Any]
    train: TrainSettings
    eval: EvalSettings | None = absent_ok()  # stage 2 only
    stage0: str | None = absent_ok()  # the SL-SLR method whose encoder stage 1 starts from (stage-0 variants)

    @property
    def skeleton(self) -> bool:
        return bool(self.model.get("skeleton"))
