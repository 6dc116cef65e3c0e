"""Train-time video augmentation: crops, signing-speed resampling, colour factors applied on device."""

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from qbslt.model.video_embedding import adjust_colour
from qbslt.training.augment import VideoAugment, crop_frames, rescale_time


def test_crop_frames_random_for_training_centre_for_evaluation():
    frames = torch.arange(2 * 6 * 8 * 3, dtype=torch.int64).reshape(2, 6, 8, 3).to(torch.uint8)
    centre = crop_frames(frames, 4, None)
    assert centre.shape == (2, 4, 4, 3) and torch.equal(centre, frames[:, 1:5, 2:6])
    crops = {tuple(crop_frames(frames, 4, torch.Generator().manual_seed(s))[0, 0, 0].tolist()) for s in range(20)}
    assert len(crops) > 1  # random offsets, the same for every frame of a video
    one = crop_frames(frames, 4, torch.Generator().manual_seed(3))
    top_left = (frames[0] == one[0, 0, 0]).all(-1).nonzero()[0]
    assert torch.equal(one[1], frames[1, top_left[0]:top_left[0] + 4, top_left[1]:top_left[1] + 4])


def test_rescale_time_stays_in_range_keeps_order_and_respects_max_frames():
    rows = np.arange(50)
    lengths = set()
    for seed in range(30):
        out = rescale_time(rows, 0.2, torch.Generator().manual_seed(seed), max_frames=300)
        lengths.add(len(out))
        assert 40 <= len(out) <= 60
        assert out[0] == 0 and out[-1] == 49 and bool((out[1:] >= out[:-1]).all())
    assert len(lengths) > 5  # the speed really varies
    assert len(rescale_time(rows, 0.5, torch.Generator().manual_seed(1), max_frames=45)) <= 45
    assert len(rescale_time(rows[:1], 0.5, torch.Generator().manual_seed(1), max_frames=9)) == 1


def test_adjust_colour_matches_torchvision_per_frame():
    x = torch.rand(3, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    factors = torch.tensor([[1.2, 0.8, 1.1], [0.9, 1.15, 0.85], [1.0, 1.0, 1.0]])
    out = adjust_colour(x, factors)
    for frame, (b, c, s) in zip(range(3), factors.tolist()):
        expected = TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(x[frame], b), c), s)
        assert torch.allclose(out[frame], expected, atol=1e-6)
    assert torch.allclose(out[2], x[2], atol=1e-6)  # factors 1: unchanged


def test_video_augment_plans_training_and_evaluation_deterministically():
    store = torch.randint(0, 256, (20, 6, 8, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy()
    augment = VideoAugment(crop=4, temporal_scale=0.3, brightness=0.3, contrast=0.3, saturation=0.3, max_frames=10)
    rows = np.arange(2, 10)
    evaluation = augment.plan(rows, (6, 8), None)
    assert (evaluation.top, evaluation.left, evaluation.colour) == (1, 2, None) and (evaluation.rows == rows).all()
    assert torch.equal(augment.read(store, evaluation), crop_frames(torch.from_numpy(store[2:10]), 4, None))
    first = augment.plan(rows, (6, 8), torch.Generator().manual_seed(7))
    again = augment.plan(rows, (6, 8), torch.Generator().manual_seed(7))
    assert first.colour == again.colour and (first.rows == again.rows).all() and first.top == again.top
    assert all(0.7 <= f <= 1.3 for f in first.colour)
    video = augment.read(store, first)
    assert video.shape == (len(first.rows), 4, 4, 3) and video.dtype == torch.uint8
    features = augment.plan(rows, None, torch.Generator().manual_seed(7))  # frozen-backbone features:
    assert features.top is None and features.colour is None               # only the speed changes
    assert augment.read(np.ones((20, 16), np.float16), features).dtype == torch.float32


def test_augment_config_is_validated():
    from qbslt import config
    from qbslt.config import ConfigError, load_schema, validate

    tree = config.load("params.yaml")
    assert VideoAugment.from_config(tree["train"]) == VideoAugment(crop=None, max_frames=tree["train"]["max_frames"])
    paper = config.load("params.yaml", "paper")
    assert VideoAugment.from_config(paper["train"]).temporal_scale > 0
    tree["train"]["augment"]["hue"] = 0.1
    with pytest.raises(ConfigError, match="augment"):
        validate(tree, load_schema())
