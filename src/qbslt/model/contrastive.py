"""Stage-1 contrastive alignment (paper Eq. 1, Table 3).

Eq. 1 is CLIP's loss: I_s = Linear(f_SE,M), I_v = Linear(f_VE,N); the B x B matrix of cosine
similarities between the L2-normalised I_v (rows: videos) and I_s (columns: texts) is scaled by a
learnable temperature and
    L_sim = 1/2 [ CE(rows -> matching column) + CE(columns -> matching row) ].
The logit scale is stored as a log, initialised at log(1 / 0.07) and clamped to at most log(100)
(as CLIP does) before exponentiation.

Alignment strategies (Table 3), all returning the B x B cosine-similarity matrix ``sim[i, j]`` between
video i and text j, computed on the projected (``Linear`` to ``contrastive_dim``) features:

* ``"vector"`` (the paper's choice, |Video|, |Text| -> 1): the video feature at the [CLS] position and
  the text feature at the [EOS] token. Our model appends a learnable CLS embedding at the END of each
  video sequence (position N, right after its last valid position, inside the mask), so both vectors are
  "the state at the last valid position" of their sequence; :func:`last_valid` gathers it.
* ``"text_to_video"`` (Text -> Video): each text's valid tokens are linearly interpolated
  (``F.interpolate(mode="linear", align_corners=True)``; the paper says "bilinear", which for a 1-D
  sequence is linear) to the batch's padded video length Tv; sim[i, j] is the per-position cosine
  similarity between video i and the resampled text j, averaged over video i's valid positions.
* ``"video_to_text"`` (Video -> Text): each video's valid positions are resampled by adaptive average
  pooling (``F.adaptive_avg_pool1d``) to the batch's padded text length Lt; sim[i, j] is the
  per-position cosine similarity averaged over text j's valid tokens.

The paper does not say which lengths are targeted; resampling to the *batch's padded* length (rather
than to each partner's own length) keeps one resampled copy per sequence instead of B x B copies.
For the sequence strategies no CLS is appended (it would not be used).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from qbslt.model.configuration import QBSLTConfig

INIT_TEMPERATURE = 0.07
MAX_LOGIT_SCALE = 100.0


def last_valid(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x [B, L, c], mask [B, L] (valid prefix) -> x at the last valid position of each row, [B, c]."""
    idx = (mask.long().sum(1) - 1).clamp(min=0)
    return x[torch.arange(x.shape[0], device=x.device), idx]


def vector_similarity(video_vec: torch.Tensor, text_vec: torch.Tensor) -> torch.Tensor:
    """video [B, c], text [B, c] -> cosine similarity [B, B] (rows video, columns text)."""
    return F.normalize(video_vec, dim=-1) @ F.normalize(text_vec, dim=-1).t()


def text_to_video_similarity(video: torch.Tensor, video_mask: torch.Tensor,
                             text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """video [B, Tv, c] + mask, text [B, Lt, c] + mask -> [B, B]; texts interpolated to Tv."""
    Tv = video.shape[1]
    resampled = []
    for j in range(text.shape[0]):
        tokens = text[j, text_mask[j].bool()]                                   # [Lj, c]
        if tokens.shape[0] == 1:
            resampled.append(tokens.expand(Tv, -1))
        else:
            resampled.append(F.interpolate(tokens.t().unsqueeze(0), size=Tv, mode="linear",
                                           align_corners=True).squeeze(0).t())
    t = F.normalize(torch.stack(resampled), dim=-1)                            # [B, Tv, c]
    vm = video_mask.to(video.dtype)
    v = F.normalize(video, dim=-1) * (vm / vm.sum(1, keepdim=True).clamp(min=1)).unsqueeze(-1)
    return torch.einsum("ipc,jpc->ij", v, t)


def video_to_text_similarity(video: torch.Tensor, video_mask: torch.Tensor,
                             text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """video [B, Tv, c] + mask, text [B, Lt, c] + mask -> [B, B]; videos average-pooled to Lt."""
    Lt = text.shape[1]
    pooled = [F.adaptive_avg_pool1d(video[i, video_mask[i].bool()].t().unsqueeze(0), Lt).squeeze(0).t()
              for i in range(video.shape[0])]
    v = F.normalize(torch.stack(pooled), dim=-1)                               # [B, Lt, c]
    tm = text_mask.to(text.dtype)
    t = F.normalize(text, dim=-1) * (tm / tm.sum(1, keepdim=True).clamp(min=1)).unsqueeze(-1)
    return torch.einsum("ipc,jpc->ij", v, t)


def contrastive_loss(sim: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric cross-entropy of Eq. 1 over ``logit_scale * sim`` ([B, B], matches on the diagonal)."""
    logits = sim * logit_scale
    target = torch.arange(sim.shape[0], device=sim.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


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

    def forward(self, video, video_mask, text, text_mask):
        """-> (L_sim scalar, sim [B, B])."""
        sim = self.similarity(video, video_mask, text, text_mask)
        return self.loss(sim), sim


__all__ = ["ContrastiveHead", "contrastive_loss", "vector_similarity", "text_to_video_similarity",
           "video_to_text_similarity", "last_valid", "INIT_TEMPERATURE", "MAX_LOGIT_SCALE"]
