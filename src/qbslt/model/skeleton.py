"""Keypoints as network input: per-joint features, and the optional skeleton stream of SSL-SSAW.

Shapes (B batch, T frames, J = 75 joints of :data:`qbslt.data.keypoints.JOINTS`, F = ``config.feature_dim``)::

    joint_features   keypoints [B, T, J, 3] (x, y, score; NaN at masked joints) + mask [B, T, J]
                     -> [B, T, J, 4]: x, y centred on the frame (edges at +-1), score, found flag;
                     all 0 at a masked joint, so its NaN never enters an operation
    SkeletonStream   keypoints [B, T, J, 3] + mask [B, T, J] + frame mask [B, T] -> [B, T, F]

``SkeletonStream`` is the RGB + skeleton variant of SSL-SSAW (``model.skeleton``, variant
``ssl_ssaw_skeleton``): a joint-MLP whose output is *added* to each frame's backbone features before
the temporal blocks (:class:`qbslt.model.video_embedding.VideoEmbedding`). Its last layer starts at
zero, so at the start of stage 2 the model computes exactly what the RGB model loaded from stage 1
computes, and the skeleton contribution is learnt from there. Sigma's skeleton encoder
(:mod:`qbslt.sigma.modeling_sigma`) reads the same joint features.
"""

from __future__ import annotations

import torch
from torch import nn

JOINT_CHANNELS = 4  # x, y, score, found


def joint_features(keypoints: torch.Tensor, keypoint_mask: torch.Tensor) -> torch.Tensor:
    """[..., J, 3] + bool [..., J] -> [..., J, 4] (see the module docstring)."""
    found = keypoint_mask.bool().unsqueeze(-1)
    xy = (keypoints[..., :2] - 0.5) * 2.0
    feats = torch.cat([xy, keypoints[..., 2:3], torch.ones_like(xy[..., :1])], dim=-1)
    return torch.where(found, feats, torch.zeros_like(feats))


class SkeletonStream(nn.Module):
    """Joint-MLP: [B, T, J*4] -> hidden -> feature_dim, zero-initialised output, 0 at padded frames."""

    def __init__(self, num_joints: int, hidden: int, out_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(num_joints * JOINT_CHANNELS, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, keypoints: torch.Tensor, keypoint_mask: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        B, T = frame_mask.shape
        mask = frame_mask.bool()
        x = joint_features(keypoints, keypoint_mask.bool() & mask.unsqueeze(-1)).reshape(B, T, -1)
        return self.mlp(x) * mask.unsqueeze(-1).to(x.dtype)


__all__ = ["joint_features", "SkeletonStream", "JOINT_CHANNELS"]
