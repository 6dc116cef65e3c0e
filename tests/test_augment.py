"""Train-time video augmentation: crops, signing-speed resampling, colour jitter."""

import pytest
import torch

from qbslt.training.augment import VideoAugment, crop_frames, jitter_colour, rescale_time


def _frames(t=5, h=6, w=8):
    return torch.randint(0, 256, (t, h, w, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


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
    video = torch.arange(50).float()[:, None]  # frame i holds i
    lengths = set()
    for seed in range(30):
        out = rescale_time(video, 0.2, torch.Generator().manual_seed(seed), max_frames=300)
        lengths.add(len(out))
        assert 40 <= len(out) <= 60
        assert out[0, 0] == 0 and out[-1, 0] == 49 and bool((out[1:] >= out[:-1]).all())
    assert len(lengths) > 5  # the speed really varies
    capped = rescale_time(video, 0.5, torch.Generator().manual_seed(1), max_frames=45)
    assert len(capped) <= 45
    assert len(rescale_time(video[:1], 0.5, torch.Generator().manual_seed(1), max_frames=9)) == 1


def test_jitter_colour_one_draw_per_video():
    frames = _frames()
    frames[1] = frames[0]
    out = jitter_colour(frames, 0.4, 0.4, 0.4, torch.Generator().manual_seed(2))
    assert out.dtype == torch.uint8 and out.shape == frames.shape
    assert not torch.equal(out, frames)
    assert torch.equal(out[0], out[1])  # equal frames stay equal: the same factors for every frame
    assert torch.equal(jitter_colour(frames, 0, 0, 0, torch.Generator()), frames)


def test_video_augment_training_vs_evaluation_and_determinism():
    augment = VideoAugment(crop=4, temporal_scale=0.3, brightness=0.3, contrast=0.3, saturation=0.3, max_frames=10)
    frames = _frames(t=8)
    evaluation = augment.apply(frames, None)
    assert torch.equal(evaluation, crop_frames(frames, 4, None))  # evaluation: centre crop only
    first = augment.apply(frames, torch.Generator().manual_seed(7))
    again = augment.apply(frames, torch.Generator().manual_seed(7))
    assert torch.equal(first, again)  # the collator's generator makes resumed runs identical
    assert first.shape[1:] == (4, 4, 3)
    features = torch.randn(8, 16)  # frozen-backbone features: only the temporal rescaling applies
    out = augment.apply(features, torch.Generator().manual_seed(7))
    assert out.shape[1] == 16 and all(any(torch.equal(row, f) for f in features) for row in out)


def test_augment_config_is_validated():
    from qbslt.config import ConfigError, load_schema, validate
    from qbslt import config

    tree = config.load("params.yaml")
    assert VideoAugment.from_config(tree["train"]) == VideoAugment(crop=None, max_frames=tree["train"]["max_frames"])
    paper = config.load("params.yaml", "paper")
    assert VideoAugment.from_config(paper["train"]).temporal_scale > 0
    tree["train"]["augment"]["hue"] = 0.1
    with pytest.raises(ConfigError, match="augment"):
        validate(tree, load_schema())
