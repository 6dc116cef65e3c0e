"""SL-SLR models: the clip encoder (SSL-SSAW's temporal module) and the pre-training heads.

Shapes (B clips, L frames, F = feature_dim of the frozen backbone, d = model.d_model, P = projector_dim,
Q = predictor_dim)::

    ClipEncoder       features [B, L, F], mask [B, L], weights [B, L] or None  -> clip vectors [B, d]
                      (TemporalEmbedding [B, L', d] -> mean over valid positions, weighted by the
                      informative weights max-pooled like the mask when given)
    Projector         [B, d] -> Linear-BN-ReLU-Linear -> [B, P]
    Predictor         [B, P] -> Linear-BN-ReLU-Linear -> [B, P]  (free-negative objective only)
    SLSLRModel        online encoder + projector (+ predictor), and for the free-negative objective a target
                      encoder + projector, an exponential moving average of the online ones (BYOL)

The encoder's ``temporal`` module is :class:`qbslt.model.video_embedding.TemporalEmbedding` built from the
same ``model`` settings as SSL-SSAW's, so its state dict is the SSL-SSAW model's
``video_embedding.temporal.*`` (:func:`qbslt.training.checkpoint.load_stage0`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from qbslt.model.configuration import VideoConfig
from qbslt.model.pretrained import PretrainedModel
from qbslt.model.video_embedding import TemporalEmbedding
from qbslt.slslr.configuration_slslr import SLSLRConfig


def pool_weights(weights: torch.Tensor, blocks: int) -> torch.Tensor:
    """[B, L] -> [B, L'] after ``blocks`` MaxPool(2, ceil_mode) steps, as the mask is downsampled."""
    w = weights.unsqueeze(1)
    for _ in range(blocks):
        w = F.max_pool1d(w, kernel_size=2, stride=2, ceil_mode=True)
    return w.squeeze(1)


class ClipEncoder(nn.Module):
    """Frame features of a clip -> one clip vector [B, d_model]."""

    def __init__(self, model_config: VideoConfig):
        super().__init__()
        self.temporal = TemporalEmbedding(model_config)
        self.blocks = model_config.temporal_blocks
        self.dim = model_config.d_model

    def forward(self, features: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None = None
                ) -> torch.Tensor:
        h, valid = self.temporal(features, mask)                              # [B, L', d], [B, L']
        a = valid.to(h.dtype)
        if weights is not None:
            a = a * (pool_weights(weights, self.blocks) if self.blocks else weights)
        return (h * a.unsqueeze(-1)).sum(1) / a.sum(1, keepdim=True).clamp_min(1e-6)


def mlp(dim_in: int, hidden: int, dim_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, dim_out))


class SLSLRModel(nn.Module, PretrainedModel):
    """Online encoder + projector (+ predictor and EMA target for ``objective == 'free_negative'``);
    ``save_pretrained`` / ``from_pretrained`` write and read a model folder (config.json, model.safetensors)."""

    config_class = SLSLRConfig

    def __init__(self, config: SLSLRConfig):
        super().__init__()
        self.config = config
        self.objective = objective = config.objective
        projector_dim, predictor_dim = config.projector_dim, config.predictor_dim
        self.encoder = ClipEncoder(config.video())
        self.projector = mlp(self.encoder.dim, projector_dim, projector_dim)
        self.predictor = mlp(projector_dim, predictor_dim, projector_dim) if objective == "free_negative" else None
        if self.predictor is not None:
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
            self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def online(self, features, mask, weights=None) -> torch.Tensor:
        """[B, L, F] -> projection [B, P]."""
        return self.projector(self.encoder(features, mask, weights))

    @torch.no_grad()
    def target(self, features, mask, weights=None) -> torch.Tensor:
        return self.target_projector(self.target_encoder(features, mask, weights))

    @torch.no_grad()
    def update_target(self, ema: float) -> None:
        """target <- ema * target + (1 - ema) * online (parameters and BatchNorm buffers)."""
        for online, target in ((self.encoder, self.target_encoder), (self.projector, self.target_projector)):
            for p_t, p_o in zip(target.parameters(), online.parameters()):
                p_t.mul_(ema).add_(p_o.detach(), alpha=1 - ema)
            for b_t, b_o in zip(target.buffers(), online.buffers()):
                b_t.copy_(b_o)
