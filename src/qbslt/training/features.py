"""Per-frame features of a frozen backbone, computed once per (dataset, backbone, split) and
shared by every variant and seed that uses that backbone.

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
from qbslt.numerics import configure_torch

BACKBONE_INIT_SEED = 0


def build_frozen_backbone(backbone: str, pretrained: bool, device: str = "cpu") -> FrameBackbone:
    configure_torch()  # the pinned CPU kernels (qbslt.numerics): the same features on every machine
    torch.manual_seed(BACKBONE_INIT_SEED)
    config = VideoConfig(backbone=backbone, backbone_pretrained=pretrained, freeze_backbone=True,
                         feature_dim=BACKBONES[backbone])
    return FrameBackbone(config).to(device).eval()


def write_features(frames_store: Path, out_npy: Path, backbone: str, pretrained: bool, device: str = "cpu",
                   batch_size: int = 256, progress: bool = True) -> tuple[int, int]:
    """Features of every frame of the frame store ``frames_store`` (raw or compressed) into
    ``out_npy`` (atomic); returns its shape. A compressed store is decoded on ``device`` when it is
    a GPU (nvJPEG)."""
    frames = open_frame_store(frames_store, decode_device=device if str(device).startswith("cuda") else None)
    model = build_frozen_backbone(backbone, pretrained, device)
    with atomic_paths(out_npy) as (tmp,):
        features = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                             shape=(len(frames), BACKBONES[backbone]))
        for start in tqdm(range(0, len(frames), batch_size), desc=f"{backbone} features", unit="batch",
                          disable=not progress):
            rows = slice(start, start + batch_size)
            chunk = frames.read(rows) if isinstance(frames, CompressedFrameStore) else torch.from_numpy(frames[rows])
            features[start:start + len(chunk)] = model.extract_features(chunk, batch_size).cpu().numpy()
        features.flush()
        del features
    return len(frames), BACKBONES[backbone]
