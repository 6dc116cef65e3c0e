"""Video Embedding (paper Sec. 4.2, after GFSLT-VLP): a 2D CNN per frame, then Conv1D-BN-ReLU-MaxPool.

Shapes (B batch, T frames, N frames in a flat batch, F = ``config.feature_dim``, d = ``config.d_model``)::

    FrameBackbone        frames float [N, 3, H, W] (ImageNet-normalised)       -> [N, F]
    FrameBackbone.extract_features(frames uint8 [N, H, W, 3], batch_size)      -> float32 [N, F]
    TemporalEmbedding    x [B, T, F], mask bool [B, T]                         -> [B, T', d], mask [B, T']
    VideoEmbedding       video float [B, T, F] (precomputed features)
                         or uint8 [B, T, H, W, 3] (raw frames), mask [B, T]     -> [B, T', d], mask [B, T']
                         (+ keypoints [B, T, 75, 3], mask [B, T, 75] with config.skeleton)

Temporal mask downsampling. Each block applies a "same"-padded Conv1d (kernel ``temporal_kernel``),
BatchNorm1d, ReLU and ``MaxPool1d(2, stride 2, ceil_mode=True)``; so per block T' = ceil(T / 2) and a
sequence with L valid frames keeps ceil(L / 2) valid positions (the pooled mask is the max of the mask
over each window: a window is valid when it holds at least one valid frame). Because padded positions
are zeroed before every convolution and ReLU outputs are >= 0, a padded sequence gives exactly the
features of the same sequence run alone: the convolution sees zeros past the end either way and the
last pooling window (valid, padded) returns the valid value.

BatchNorm statistics are computed over the valid positions only (the [B, T, C] tensor is gathered to
[N_valid, C], normalised by the standard ``nn.BatchNorm1d`` and scattered back), so padding never leaks
into the running statistics. ``temporal_blocks = 0`` replaces the blocks by one Linear F -> d.

The frame backbone is torchvision's ``resnet18`` (512-d) or ``shufflenet_v2_x1_0`` (1024-d) with its
classifier replaced by ``nn.Identity``. When ``config.freeze_backbone`` is true the backbone is
frozen (eval mode for ever, ``requires_grad=False``) and the intended workflow is to precompute
per-frame features once with :meth:`FrameBackbone.extract_features`; the model's ``VideoEmbedding``
then holds no backbone and takes float features. When the backbone is trained, ``VideoEmbedding`` owns
it and takes uint8 frames; only valid frames go through the CNN (padding never reaches its BatchNorm).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qbslt.errors import ConfigError
from qbslt.data.keypoints import NUM_JOINTS
from qbslt.model.configuration import BACKBONES, VideoConfig
from qbslt.model.skeleton import SkeletonStream

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def adjust_colour(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Train-time colour augmentation, one factor triple per frame, where the CNN runs.

    x float [N, 3, H, W] in [0, 1]; factors [N, 3] = (brightness, contrast, saturation). The same
    operations, in the same order, as torchvision's ``adjust_brightness``, ``adjust_contrast`` and
    ``adjust_saturation`` (which take one scalar factor per call), batched over frames.
    """
    import torchvision.transforms.v2.functional as TF  # here: torchvision costs ~1 s to import

    brightness, contrast, saturation = (factors[:, k].to(x.dtype).view(-1, 1, 1, 1) for k in range(3))
    x = (x * brightness).clamp(0, 1)
    mean = TF.rgb_to_grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
    x = (contrast * x + (1 - contrast) * mean).clamp(0, 1)
    return (saturation * x + (1 - saturation) * TF.rgb_to_grayscale(x)).clamp(0, 1)


def normalize_frames(frames_uint8: torch.Tensor, colour: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 [N, H, W, 3] (RGB, 0-255) -> float32 [N, 3, H, W] ImageNet-normalised; ``colour`` [N, 3]:
    colour factors applied first (training, see ``adjust_colour``)."""
    if frames_uint8.dim() != 4 or frames_uint8.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames [N, H, W, 3], got shape {tuple(frames_uint8.shape)}")
    x = frames_uint8.permute(0, 3, 1, 2).float().div_(255.0)
    if colour is not None:
        x = adjust_colour(x, colour)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _build_torchvision(name: str, pretrained: bool) -> nn.Module:
    import torchvision.models as tvm

    if name == "resnet18":
        return tvm.resnet18(weights=tvm.ResNet18_Weights.IMAGENET1K_V1 if pretrained else None)
    if name == "shufflenet_v2_x1_0":
        return tvm.shufflenet_v2_x1_0(weights=tvm.ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1 if pretrained else None)
    raise ConfigError(f"model config: key 'backbone': unknown backbone {name!r} (allowed: {', '.join(BACKBONES)})")


class FrameBackbone(nn.Module):
    """Per-frame 2D CNN: float [N, 3, H, W] (ImageNet-normalised) -> [N, feature_dim]."""

    def __init__(self, config: VideoConfig):
        super().__init__()
        net = _build_torchvision(config.backbone, config.backbone_pretrained)
        out_dim = net.fc.in_features
        if out_dim != config.feature_dim:
            raise ConfigError(f"model config: key 'feature_dim': {config.backbone} gives {out_dim}-d features, "
                              f"config says {config.feature_dim}")
        net.fc = nn.Identity()
        self.net = net
        self.feature_dim = out_dim
        self.frozen = bool(config.freeze_backbone)
        if self.frozen:
            self.net.requires_grad_(False)
            self.net.eval()

    def train(self, mode: bool = True) -> "FrameBackbone":
        super().train(mode)
        if self.frozen:  # a frozen backbone keeps its BatchNorm running statistics
            self.net.eval()
        return self

    channels_last = False

    def to_channels_last(self) -> "FrameBackbone":
        """The CNN's weights and, from now on, its input in channels-last memory format (train.channels_last:
        faster convolutions on recent GPUs; the same function)."""
        self.net.to(memory_format=torch.channels_last)
        self.channels_last = True
        return self

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames float [N, 3, H, W] -> [N, feature_dim]."""
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        return self.net(frames)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def extract_features(self, frames_uint8: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """uint8 frames [N, H, W, 3] -> float32 [N, feature_dim] on the backbone's device.

        Normalises with the ImageNet statistics and runs in eval mode under ``torch.inference_mode``
        in chunks of ``batch_size`` frames (the module's train/eval mode is restored afterwards).
        """
        was_training = self.training
        self.eval()
        outs = []
        try:
            with torch.inference_mode():
                for start in range(0, frames_uint8.shape[0], batch_size):
                    chunk = frames_uint8[start:start + batch_size].to(self.device)
                    outs.append(self.net(normalize_frames(chunk)).float())
        finally:
            self.train(was_training)
        if not outs:
            return torch.zeros(0, self.feature_dim, device=self.device)
        return torch.cat(outs, 0)


def extract_features(backbone: FrameBackbone, frames_uint8: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Functional form of :meth:`FrameBackbone.extract_features`: uint8 [N, H, W, 3] -> float [N, F]."""
    return backbone.extract_features(frames_uint8, batch_size)


def downsample_mask(mask: torch.Tensor, blocks: int) -> torch.Tensor:
    """bool [B, T] -> bool [B, T'] after ``blocks`` MaxPool(2, ceil_mode) steps (L valid -> ceil(L/2) per block)."""
    m = mask.float().unsqueeze(1)
    for _ in range(blocks):
        m = F.max_pool1d(m, kernel_size=2, stride=2, ceil_mode=True)
    return m.squeeze(1) > 0


class TemporalBlock(nn.Module):
    """Conv1d("same") -> BatchNorm1d (valid positions only) -> ReLU -> MaxPool1d(2, ceil_mode)."""

    def __init__(self, in_dim: int, out_dim: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(in_dim, out_dim, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, C_in], mask bool [B, T] -> [B, ceil(T/2), C_out], mask [B, ceil(T/2)]."""
        x = x * mask.unsqueeze(-1).to(x.dtype)
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)          # [B, T, C_out]
        normed = torch.zeros_like(h)
        normed[mask] = self.bn(h[mask])                            # statistics over valid positions only
        h = F.relu(normed)                                         # padded positions stay exactly 0
        h = F.max_pool1d(h.transpose(1, 2), kernel_size=2, stride=2, ceil_mode=True).transpose(1, 2)
        return h, downsample_mask(mask, 1)


class TemporalEmbedding(nn.Module):
    """[B, T, feature_dim] + mask [B, T] -> [B, T', d_model] + mask [B, T'] (T' = ceil(T / 2**blocks))."""

    def __init__(self, config: VideoConfig):
        super().__init__()
        # config.input_norm: per-channel standardisation of the frame features (running statistics of
        # the training frames; no affine), so that the zero padding of the convolutions is the mean.
        self.input_norm = nn.BatchNorm1d(config.feature_dim, affine=False) if config.input_norm else None
        self.blocks = nn.ModuleList()
        dim = config.feature_dim
        for _ in range(config.temporal_blocks):
            self.blocks.append(TemporalBlock(dim, config.d_model, config.temporal_kernel))
            dim = config.d_model
        self.proj = nn.Linear(config.feature_dim, config.d_model) if config.temporal_blocks == 0 else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = mask.bool()
        if self.input_norm is not None:
            normed = torch.zeros_like(x)
            normed[mask] = self.input_norm(x[mask])                # statistics over valid frames only
            x = normed
        if self.proj is not None:
            return self.proj(x) * mask.unsqueeze(-1).to(x.dtype), mask
        for block in self.blocks:
            x, mask = block(x, mask)
        return x * mask.unsqueeze(-1).to(x.dtype), mask


class VideoEmbedding(nn.Module):
    """Frame backbone (optional) + temporal blocks.

    ``video``: float [B, T, feature_dim] precomputed per-frame features (backbone skipped), or uint8
    [B, T, H, W, 3] raw frames (needs the backbone: built when ``with_backbone`` is true, which by default
    is ``not config.freeze_backbone``). ``mask``: bool [B, T]. Returns [B, T', d_model], bool [B, T'].
    """

    def __init__(self, config: VideoConfig, with_backbone: bool | None = None):
        super().__init__()
        if with_backbone is None:
            with_backbone = not config.freeze_backbone
        self.backbone = FrameBackbone(config) if with_backbone else None
        self.temporal = TemporalEmbedding(config)
        self.feature_dim = config.feature_dim
        if config.skeleton:  # only then: the RGB model's parameters (and their random init) stay as they were
            self.skeleton = SkeletonStream(NUM_JOINTS, config.skeleton_hidden, config.feature_dim)

    def frame_features(self, video: torch.Tensor, mask: torch.Tensor, colour: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """Per-frame features [B, T, feature_dim] from features (identity) or uint8 frames (CNN on valid
        frames; ``colour`` [B, 3]: one train-time colour factor triple per video)."""
        if video.dtype == torch.uint8:
            if video.dim() != 5:
                raise ValueError(f"uint8 video must be [B, T, H, W, 3], got shape {tuple(video.shape)}")
            if self.backbone is None:
                raise ValueError("uint8 frames given but this VideoEmbedding has no backbone "
                                 "(freeze_backbone=true: precompute features with FrameBackbone.extract_features)")
            per_frame = colour[:, None, :].expand(-1, video.shape[1], -1)[mask] if colour is not None else None
            feats = self.backbone(normalize_frames(video[mask], per_frame))
            out = feats.new_zeros(video.shape[0], video.shape[1], feats.shape[-1])
            out[mask] = feats
            return out
        if video.dim() != 3 or video.shape[-1] != self.feature_dim:
            raise ValueError(f"video features must be [B, T, {self.feature_dim}], got shape {tuple(video.shape)}")
        return video

    def forward(self, video: torch.Tensor, mask: torch.Tensor, colour: torch.Tensor | None = None,
                keypoints: torch.Tensor | None = None, keypoint_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``keypoints`` [B, T, 75, 3] + ``keypoint_mask`` [B, T, 75] (the same frames as ``video``):
        with ``config.skeleton``, the skeleton stream's output is added to the per-frame features."""
        mask = mask.bool()
        feats = self.frame_features(video, mask, colour)
        if hasattr(self, "skeleton"):
            if keypoints is None:
                raise ValueError("model.skeleton is on but the batch has no keypoints")
            feats = feats + self.skeleton(keypoints, keypoint_mask, mask).to(feats.dtype)
        return self.temporal(feats, mask)


__all__ = ["FrameBackbone", "TemporalBlock", "TemporalEmbedding", "VideoEmbedding", "extract_features",
           "normalize_frames", "adjust_colour", "downsample_mask", "IMAGENET_MEAN", "IMAGENET_STD"]
