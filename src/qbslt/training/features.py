"""Per-frame features of a frozen backbone, computed once per (dataset, backbone, split) and
shared by every variant and seed that uses that backbone; in the cached-feature recipe
(``train.stage2.freeze_backbone``), of a stage-1 run's trained backbone, once per (run, seed, split).

The store mirrors the frame store: float32 [N_frames, feature_dim] (float32: a randomly
initialised ShuffleNet's features are ~1e-5, below float16's normal range), same row order, so the
example tables' (frame_offset, num_frames) index both. The backbone's random initialisation
(embedded profile: no ImageNet weights) uses a fixed seed, so features do not depend on the
training seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from qbslt.atomic import atomic_paths
from qbslt.data.frame_store import CompressedFrameStore, open_frame_store
from qbslt.model.configuration import BACKBONES, VideoConfig
from qbslt.model.video_embedding import FrameBackbone
from qbslt.errors import ConfigError
from qbslt.numerics import configure_torch
from qbslt.training.augment import crop_frames

BACKBONE_INIT_SEED = 0


def build_frozen_backbone(backbone: str, pretrained: bool, device: str = "cpu") -> FrameBackbone:
    configure_torch()  # the pinned CPU kernels (qbslt.numerics): the same features on every machine
    torch.manual_seed(BACKBONE_INIT_SEED)
    config = VideoConfig(backbone=backbone, backbone_pretrained=pretrained, freeze_backbone=True,
                         feature_dim=BACKBONES[backbone])
    return FrameBackbone(config).to(device).eval()


def trained_backbone(backbone: str, weights: dict[str, torch.Tensor], source: str, device: str = "cpu"
                     ) -> FrameBackbone:
    """A backbone with the weights ``weights`` (a FrameBackbone state dict: a stage-1 run's trained CNN,
    ``source`` naming it in errors), frozen and in eval mode."""
    configure_torch()
    config = VideoConfig(backbone=backbone, backbone_pretrained=False, freeze_backbone=True,
                         feature_dim=BACKBONES[backbone])
    model = FrameBackbone(config)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{source}: not a trained {backbone} backbone ({first})") from None
    return model.to(device).eval()


def write_features(frames_store: Path, out_npy: Path, backbone: str, pretrained: bool, device: str = "cpu",
                   batch_size: int = 256, progress: bool = True, weights: dict[str, torch.Tensor] | None = None,
                   crop: int | None = None, source: str = "weights") -> tuple[int, int]:
    """Features of every frame of the frame store ``frames_store`` (raw or compressed) into
    ``out_npy`` (atomic); returns its shape. A compressed store is decoded on ``device`` when it is
    a GPU (nvJPEG).

    ``weights``: the backbone's own (:func:`trained_backbone`: the cached-feature recipe's stage-1
    CNN), else the frozen ImageNet / seeded one. ``crop``: each frame's centre ``crop`` x ``crop``
    window first, as a run with that ``train.crop_size`` evaluates frames."""
    frames = open_frame_store(frames_store, decode_device=device if str(device).startswith("cuda") else None)
    model = (build_frozen_backbone(backbone, pretrained, device) if weights is None
             else trained_backbone(backbone, weights, source, device))
    with atomic_paths(out_npy) as (tmp,):
        features = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                             shape=(len(frames), BACKBONES[backbone]))
        for start in tqdm(range(0, len(frames), batch_size), desc=f"{backbone} features", unit="batch",
                          disable=not progress):
            rows = slice(start, start + batch_size)
            chunk = frames.read(rows) if isinstance(frames, CompressedFrameStore) else torch.from_numpy(frames[rows])
            if crop:
                chunk = crop_frames(chunk, crop, None)
            features[start:start + len(chunk)] = model.extract_features(chunk, batch_size).cpu().numpy()
        features.flush()
        del features
    return len(frames), BACKBONES[backbone]
