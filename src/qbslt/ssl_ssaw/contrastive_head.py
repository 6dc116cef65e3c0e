"""SSL-SSAW's stage-1 contrastive head (paper Eq. 1, Table 3): linear projections of both sides, a
learnable logit scale, and the alignment strategy of ``alignment`` (:mod:`qbslt.model.contrastive`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from qbslt.model.contrastive import (INIT_TEMPERATURE, MAX_LOGIT_SCALE, contrastive_loss, gather_rows, last_valid,
                                     text_to_video_similarity, vector_similarity, video_to_text_similarity)
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig


class ContrastiveHead(nn.Module):
    """Linear heads (video, text) to ``contrastive_dim`` + learnable logit scale; Eq. 1.

    ``similarity(video [B, Tv, d], video_mask, text [B, Lt, d], text_mask) -> [B, B]`` with the
    configured alignment; ``loss(sim) -> scalar``.
    """

    def __init__(self, config: QBSLTConfig):
        super().__init__()
        self.alignment = config.alignment
        self.video_proj = nn.Linear(config.d_model, config.contrastive_dim)
        self.text_proj = nn.Linear(config.d_model, config.contrastive_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / INIT_TEMPERATURE)))

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()

    def similarity(self, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                   text_mask: torch.Tensor, alignment: str | None = None) -> torch.Tensor:
        alignment = alignment or self.alignment
        video_mask, text_mask = video_mask.bool(), text_mask.bool()
        if alignment == "vector":
            return vector_similarity(self.video_proj(last_valid(video, video_mask)),
                                     self.text_proj(last_valid(text, text_mask)))
        if alignment == "text_to_video":
            return text_to_video_similarity(self.video_proj(video), video_mask, self.text_proj(text), text_mask)
        if alignment == "video_to_text":
            return video_to_text_similarity(self.video_proj(video), video_mask, self.text_proj(text), text_mask)
        raise ValueError(f"unknown alignment {alignment!r}")

    def loss(self, sim: torch.Tensor) -> torch.Tensor:
        return contrastive_loss(sim, self.scale())

    def gathered_loss(self, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                      text_mask: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 1 across ranks (module docstring): this rank's ``count`` examples (0: a ghost pass that
        adds nothing) against the whole batch gathered from every rank. -> (the mean of Eq. 1's terms
        over this rank's rows and columns, 0 when ``count`` is 0; its rows of the whole similarity
        matrix [count, N]). The widths (video positions, text tokens) must agree across ranks."""
        if self.alignment not in ("vector", "text_to_video", "video_to_text"):
            raise ValueError(f"unknown alignment {self.alignment!r}")
        video_mask, text_mask = video_mask.bool(), text_mask.bool()
        if self.alignment == "vector":
            v, t = self.video_proj(last_valid(video, video_mask)), self.text_proj(last_valid(text, text_mask))
        else:
            v, t = self.video_proj(video), self.text_proj(text)
        v, offset = gather_rows(v, count)
        t, _ = gather_rows(t, count)
        if self.alignment == "vector":
            sim = vector_similarity(v, t)
        else:
            vm, _ = gather_rows(video_mask, count)
            tm, _ = gather_rows(text_mask, count)
            strategy = text_to_video_similarity if self.alignment == "text_to_video" else video_to_text_similarity
            sim = strategy(v, vm, t, tm)
        logits = sim * self.scale()
        if count == 0:  # every parameter still takes part in the step (DistributedDataParallel)
            return logits.sum() * 0.0, sim[:0].detach()
        mine = slice(offset, offset + count)
        target = torch.arange(offset, offset + count, device=sim.device)
        loss = 0.5 * (F.cross_entropy(logits[mine].float(), target) + F.cross_entropy(logits[:, mine].t().float(), target))
        return loss, sim[mine].detach()

    def forward(self, video, video_mask, text, text_mask):
        """-> (L_sim scalar, sim [B, B])."""
        sim = self.similarity(video, video_mask, text, text_mask)
        return self.loss(sim), sim
