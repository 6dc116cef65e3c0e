"""Table-3 sequence alignments: per-pair resampling to the partner's own valid length."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from qbslt.model.contrastive import text_to_video_similarity, video_to_text_similarity

STRATEGIES = [text_to_video_similarity, video_to_text_similarity]
# Video and text valid lengths: short videos against long texts and vice versa, length-1 on both sides.
VIDEO_LENS = [9, 3, 1, 6, 2]
TEXT_LENS = [2, 7, 1, 5, 4]


def lengths_mask(lengths, width):
    return torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def padded_batch(seed=0, video_lens=VIDEO_LENS, text_lens=TEXT_LENS, extra_pad=3, c=8):
    """Random features; the padding holds garbage (not zeros) so that leaking it would show."""
    g = torch.Generator().manual_seed(seed)
    Tv, Lt = max(video_lens) + extra_pad, max(text_lens) + extra_pad
    video = torch.randn(len(video_lens), Tv, c, generator=g)
    text = torch.randn(len(text_lens), Lt, c, generator=g)
    return video, lengths_mask(video_lens, Tv), text, lengths_mask(text_lens, Lt)


def reference_similarity(fn, video, video_mask, text, text_mask):
    """Straightforward per-pair loop on each pair's valid parts (the definition)."""
    sim = torch.zeros(video.shape[0], text.shape[0], dtype=video.dtype)
    for i in range(video.shape[0]):
        v = video[i, video_mask[i]]                                           # [N, c]
        for j in range(text.shape[0]):
            t = text[j, text_mask[j]]                                         # [L, c]
            if fn is text_to_video_similarity:
                t_res = F.interpolate(t.t().unsqueeze(0), size=v.shape[0], mode="linear",
                                      align_corners=True).squeeze(0).t()     # [N, c]
                sim[i, j] = F.cosine_similarity(v, t_res, dim=-1, eps=1e-12).mean()
            else:
                v_res = F.adaptive_avg_pool1d(v.t().unsqueeze(0), t.shape[0]).squeeze(0).t()  # [L, c]
                sim[i, j] = F.cosine_similarity(v_res, t, dim=-1, eps=1e-12).mean()
    return sim


@pytest.mark.parametrize("fn", STRATEGIES, ids=lambda f: f.__name__)
def test_pair_similarity_independent_of_batch(fn):
    """A pair's similarity alone (batch of 1, no padding) equals its entry in a padded batch."""
    video, vm, text, tm = padded_batch()
    sim = fn(video, vm, text, tm)
    assert sim.shape == (len(VIDEO_LENS), len(TEXT_LENS))
    for i, n in enumerate(VIDEO_LENS):
        for j, length in enumerate(TEXT_LENS):
            alone = fn(video[i:i + 1, :n], torch.ones(1, n, dtype=torch.bool),
                       text[j:j + 1, :length], torch.ones(1, length, dtype=torch.bool))
            assert alone.shape == (1, 1)
            assert abs(float(alone[0, 0]) - float(sim[i, j])) < 1e-5, (i, j, float(alone), float(sim[i, j]))


@pytest.mark.parametrize("fn", STRATEGIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_per_pair_reference(fn, seed):
    video, vm, text, tm = padded_batch(seed=seed)
    expected = reference_similarity(fn, video, vm, text, tm)
    assert torch.allclose(fn(video, vm, text, tm), expected, atol=1e-5)


@pytest.mark.parametrize("fn", STRATEGIES, ids=lambda f: f.__name__)
def test_matches_reference_at_training_shape(fn):
    """B=8 with Tv=64 / Lt=40 style lengths (many distinct resampling ratios)."""
    g = torch.Generator().manual_seed(3)
    video_lens = torch.randint(1, 65, (8,), generator=g).tolist()
    text_lens = torch.randint(1, 41, (8,), generator=g).tolist()
    video, vm, text, tm = padded_batch(seed=4, video_lens=video_lens, text_lens=text_lens, extra_pad=0, c=16)
    expected = reference_similarity(fn, video, vm, text, tm)
    assert torch.allclose(fn(video, vm, text, tm), expected, atol=1e-5)


@pytest.mark.parametrize("fn", STRATEGIES, ids=lambda f: f.__name__)
def test_gradients_flow_with_length_one_sequences(fn):
    video, vm, text, tm = padded_batch()                     # includes a length-1 video and a length-1 text
    video.requires_grad_(True)
    text.requires_grad_(True)
    sim = fn(video, vm, text, tm)
    (sim * torch.randn_like(sim)).sum().backward()
    for x, m in ((video, vm), (text, tm)):
        assert torch.isfinite(x.grad).all()
        assert (x.grad[~m] == 0).all()                       # padding gets no gradient
        assert (x.grad[m].abs().sum(-1) > 0).all()           # every valid position does
    # the 1 x 1 case (a single frame against a single token) too
    v1 = torch.randn(1, 1, 8, requires_grad=True)
    t1 = torch.randn(1, 1, 8, requires_grad=True)
    one = torch.ones(1, 1, dtype=torch.bool)
    out = fn(v1, one, t1, one)
    assert torch.allclose(out, F.cosine_similarity(v1[0], t1[0], dim=-1).view(1, 1), atol=1e-6)
    out.sum().backward()
    assert torch.isfinite(v1.grad).all() and torch.isfinite(t1.grad).all()


@pytest.mark.parametrize("fn", STRATEGIES, ids=lambda f: f.__name__)
def test_zero_padding_does_not_produce_nan(fn):
    """Zero features in the padding (as after masking) and a zero resampled vector stay finite."""
    video, vm, text, tm = padded_batch()
    video, text = video * vm.unsqueeze(-1), text * tm.unsqueeze(-1)
    text[1] = 0.0                                            # an all-zero text: cosine 0, no NaN
    video.requires_grad_(True)
    text.requires_grad_(True)
    sim = fn(video, vm, text, tm)
    assert torch.isfinite(sim).all() and (sim[:, 1] == 0).all()
    sim.sum().backward()
    assert torch.isfinite(video.grad).all() and torch.isfinite(text.grad).all()
