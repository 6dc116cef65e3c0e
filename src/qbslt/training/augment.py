"""Train-time video augmentation (paper profile: the backbone trains on raw frames).

The paper does not describe its augmentation; the choice is recorded in docs/model-choices.md.
Every random draw comes from the generator the training loop seeds per epoch and is made in the
training process, in batch order (``VideoAugment.plan``), so a resumed run, or one with more
loader workers, augments exactly like an uninterrupted one. One draw per video: all its frames get
the same crop and the same colour change, so motion between frames is left intact.

    crop            random ``crop``x``crop`` window (training) / centre window (evaluation)
    temporal_scale  s: the video is resampled to round(T * u) frames, u ~ U(1 - s, 1 + s)
                    (signing speed), never more than ``max_frames``
    brightness, contrast, saturation
                    factor ~ U(1 - x, 1 + x) each; applied where the CNN runs (GPU), by
                    ``qbslt.model.video_embedding.adjust_colour``, as the batch's ``video_colour``

The plan is cheap (row indices, offsets, three factors); reading (and, from a compressed store,
decoding) and cropping the frames (``VideoAugment.read``) is the heavy part and runs in the
data-loader workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qbslt.data.frame_store import FrameStore
from qbslt.training.settings import TrainSettings


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def crop_offsets(height: int, width: int, size: int, generator: torch.Generator | None) -> tuple[int, int]:
    """Top-left corner of a ``size``x``size`` window: random with a generator, else centred."""
    if generator is None:
        return (height - size) // 2, (width - size) // 2
    top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
    return top, left


def crop_frames(frames: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """uint8 frames [T, H, W, 3] -> [T, size, size, 3]: one random crop for the whole video when a
    generator is given (training augmentation), else the centre crop (evaluation)."""
    top, left = crop_offsets(frames.shape[1], frames.shape[2], size, generator)
    import torchvision.transforms.v2.functional as F  # here: torchvision costs ~1 s to import

    chw = F.crop(frames.permute(0, 3, 1, 2), top, left, size, size)
    return chw.permute(0, 2, 3, 1)


def evenly_spaced(seq, count: int):
    """``count`` entries of ``seq`` (array or tensor) at evenly spaced positions, first and last
    included; entries repeat when ``count`` > len(seq)."""
    return seq[np.linspace(0, len(seq) - 1, count).round().astype(int)]


def rescale_time(rows: np.ndarray | torch.Tensor, scale: float, generator: torch.Generator, max_frames: int):
    """[T, ...] -> [T', ...] with T' = round(T * u), u ~ U(1 - scale, 1 + scale), 1 <= T' <= max_frames;
    entries are picked at evenly spaced positions (repeated when T' > T)."""
    target = min(max_frames, max(1, round(len(rows) * _uniform(generator, 1 - scale, 1 + scale))))
    return evenly_spaced(rows, target)


@dataclass(frozen=True)
class VideoPlan:
    """What to read for one video: store rows, crop corner (raw frames), colour factors (training)."""

    rows: np.ndarray
    top: int | None = None
    left: int | None = None
    colour: tuple[float, float, float] | None = None  # brightness, contrast, saturation


@dataclass(frozen=True)
class VideoAugment:
    """``train.crop_size`` and ``train.augment`` as one object."""

    crop: int | None = None
    temporal_scale: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    max_frames: int = 10**9

    @classmethod
    def from_config(cls, train: TrainSettings | dict) -> "VideoAugment":
        train = TrainSettings.of(train, "train")
        return cls(crop=train.crop_size, max_frames=train.max_frames, **train.augment.to_dict())

    @property
    def colour(self) -> bool:
        return bool(self.brightness or self.contrast or self.saturation)

    def plan(self, rows: np.ndarray, frame_hw: tuple[int, int] | None, generator: torch.Generator | None) -> VideoPlan:
        """All random draws for one video. ``frame_hw``: raw frame size (None for frame features);
        ``generator`` given: training, None: evaluation (centre crop, nothing else)."""
        if generator is not None and self.temporal_scale > 0:
            rows = rescale_time(rows, self.temporal_scale, generator, self.max_frames)
        top = left = colour = None
        if frame_hw is not None and self.crop:
            top, left = crop_offsets(frame_hw[0], frame_hw[1], self.crop, generator)
        if frame_hw is not None and generator is not None and self.colour:
            colour = tuple(_uniform(generator, max(0.0, 1 - s), 1 + s) if s > 0 else 1.0
                           for s in (self.brightness, self.contrast, self.saturation))
        return VideoPlan(rows, top, left, colour)

    def read(self, store: FrameStore | np.ndarray, plan: VideoPlan) -> torch.Tensor:
        """The planned frames: uint8 [T, crop, crop, 3] (raw or compressed frame store, decoded here)
        or float32 [T, D] (features)."""
        if isinstance(store, FrameStore):
            return store.read(plan.rows, None if plan.top is None else (plan.top, plan.left, self.crop))
        if store.dtype != np.uint8:
            return torch.from_numpy(store[plan.rows].astype(np.float32))
        if plan.top is None:
            return torch.from_numpy(store[plan.rows])
        # One indexing step: only the crop window is copied out of the (memory-mapped) store.
        return torch.from_numpy(store[plan.rows, plan.top:plan.top + self.crop, plan.left:plan.left + self.crop])
