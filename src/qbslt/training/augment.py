"""Train-time video augmentation (paper profile: the backbone trains on raw frames).

The paper does not describe its augmentation; the choice is recorded in docs/model-choices.md.
Every random draw comes from the collator's generator, which the training loop reseeds per epoch,
so a resumed run augments exactly like an uninterrupted one. One draw per video: all its frames
get the same crop and the same colour change, so motion between frames is left intact.

    crop            random ``crop``x``crop`` window (training) / centre window (evaluation)
    temporal_scale  s: the video is resampled to round(T * u) frames, u ~ U(1 - s, 1 + s)
                    (signing speed), never more than ``max_frames``
    brightness, contrast, saturation
                    factor ~ U(1 - x, 1 + x) each, torchvision's colour adjustments
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as F


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def crop_frames(frames: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """uint8 frames [T, H, W, 3] -> [T, size, size, 3]: one random crop for the whole video when a
    generator is given (training augmentation), else the centre crop (evaluation)."""
    height, width = frames.shape[1:3]
    if generator is None:
        top, left = (height - size) // 2, (width - size) // 2
    else:
        top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
    chw = F.crop(frames.permute(0, 3, 1, 2), top, left, size, size)
    return chw.permute(0, 2, 3, 1)


def rescale_time(video: torch.Tensor, scale: float, generator: torch.Generator, max_frames: int) -> torch.Tensor:
    """[T, ...] -> [T', ...] with T' = round(T * u), u ~ U(1 - scale, 1 + scale), 1 <= T' <= max_frames;
    frames are picked at evenly spaced positions (repeated when T' > T)."""
    length = len(video)
    target = min(max_frames, max(1, round(length * _uniform(generator, 1 - scale, 1 + scale))))
    return video[torch.linspace(0, length - 1, target).round().long()]


def jitter_colour(frames: torch.Tensor, brightness: float, contrast: float, saturation: float,
                  generator: torch.Generator) -> torch.Tensor:
    """uint8 frames [T, H, W, 3]: one brightness, contrast and saturation factor for the whole video."""
    chw = frames.permute(0, 3, 1, 2)
    for strength, adjust in ((brightness, F.adjust_brightness), (contrast, F.adjust_contrast),
                             (saturation, F.adjust_saturation)):
        if strength > 0:
            chw = adjust(chw, _uniform(generator, max(0.0, 1 - strength), 1 + strength))
    return chw.permute(0, 2, 3, 1)


@dataclass(frozen=True)
class VideoAugment:
    """``train.crop_size`` and ``train.augment`` as one object; ``apply`` maps one video of a batch."""

    crop: int | None = None
    temporal_scale: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    max_frames: int = 10**9

    @classmethod
    def from_config(cls, train_cfg: dict) -> "VideoAugment":
        return cls(crop=train_cfg["crop_size"], max_frames=train_cfg["max_frames"], **train_cfg["augment"])

    def apply(self, video: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``generator`` given: training (random crop and augmentation); None: evaluation (centre crop).
        Frame features (frozen backbone, float) only get the temporal rescaling."""
        raw = video.dtype == torch.uint8
        if generator is not None and self.temporal_scale > 0:
            video = rescale_time(video, self.temporal_scale, generator, self.max_frames)
        if raw and self.crop:
            video = crop_frames(video, self.crop, generator)
        if raw and generator is not None and (self.brightness or self.contrast or self.saturation):
            video = jitter_colour(video, self.brightness, self.contrast, self.saturation, generator)
        return video
