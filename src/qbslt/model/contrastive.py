"""Contrastive alignment (paper Eq. 1, Table 3): the similarities and losses; SSL-SSAW's head that
uses them is :class:`qbslt.ssl_ssaw.contrastive_head.ContrastiveHead`, Sigma's losses use :func:`info_nce`.

Eq. 1 is CLIP's loss: I_s = Linear(f_SE,M), I_v = Linear(f_VE,N); the B x B matrix of cosine
similarities between the L2-normalised I_v (rows: videos) and I_s (columns: texts) is scaled by a
learnable temperature and
    L_sim = 1/2 [ CE(rows -> matching column) + CE(columns -> matching row) ].
The logit scale is stored as a log, initialised at log(1 / 0.07) and clamped to at most log(100)
(as CLIP does) before exponentiation.

Alignment strategies (Table 3), all returning the B x B cosine-similarity matrix ``sim[i, j]`` between
video i and text j, computed on the projected (``Linear`` to ``contrastive_dim``) features:

* ``"vector"`` (the paper's choice, |Video|, |Text| -> 1): the video feature at the [CLS] position and
  the text feature at the [EOS] token. Our model appends a learnable CLS embedding at the END of each
  video sequence (position N, right after its last valid position, inside the mask), so both vectors are
  "the state at the last valid position" of their sequence; :func:`last_valid` gathers it.
* ``"text_to_video"`` (Text -> Video): for each pair (video i, text j), text j's valid tokens are
  linearly interpolated (``F.interpolate(mode="linear", align_corners=True)``; the paper says
  "bilinear", which for a 1-D sequence is linear) to video i's own valid length N_i; sim[i, j] is the
  per-position cosine similarity between video i and the resampled text j, averaged over those N_i
  positions.
* ``"video_to_text"`` (Video -> Text): for each pair, video i's valid positions are resampled by
  adaptive average pooling (``F.adaptive_avg_pool1d``: bin k averages positions
  [floor(k N / L), ceil((k + 1) N / L))) to text j's own valid length L_j; sim[i, j] is the per-token
  cosine similarity averaged over those L_j tokens.

The paper does not say which lengths are targeted; each pair is resampled to the partner's own valid
length, so a pair's similarity does not depend on what else is in the batch (nor on padding). The
B x B resamplings are done at once, without a Python loop: the resampling weights of every pair are
built from the lengths with tensor ops (:func:`_interpolation_taps`, :func:`_pooling_matrix`) and the
cosine is taken without forming the resampled sequences (see the comment above
:func:`text_to_video_similarity`; memory O(B^2 Tv Lt), not O(B^2 Tv c)).
For the sequence strategies no CLS is appended (it would not be used).

Several processes (torchrun, :func:`gathered_world`): each rank holds a share of the batch. As on one
process, Eq. 1 must see the whole batch: :meth:`qbslt.ssl_ssaw.contrastive_head.ContrastiveHead.gathered_loss` gathers both sides'
projected features from every rank (:func:`gather_rows`, differentiable: the gradient reaching a rank's
own rows is the sum of what every rank's loss sends them), builds the similarity matrix of the whole
batch, and returns the mean of Eq. 1's terms over the rank's own rows and columns. With the training
loop's weighting (rank loss x world x share / batch size, gradients averaged over the ranks), the
gradient is that of Eq. 1 over the whole batch on one process.
"""

from __future__ import annotations


import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F

INIT_TEMPERATURE = 0.07
MAX_LOGIT_SCALE = 100.0


def last_valid(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x [B, L, c], mask [B, L] (valid prefix) -> x at the last valid position of each row, [B, c]."""
    idx = (mask.long().sum(1) - 1).clamp(min=0)
    return x[torch.arange(x.shape[0], device=x.device), idx]


def vector_similarity(video_vec: torch.Tensor, text_vec: torch.Tensor) -> torch.Tensor:
    """video [B, c], text [B, c] -> cosine similarity [B, B] (rows video, columns text)."""
    return F.normalize(video_vec, dim=-1) @ F.normalize(text_vec, dim=-1).t()


def _valid_lengths(mask: torch.Tensor) -> torch.Tensor:
    """mask [B, L] (valid prefix) -> valid lengths [B] (long), at least 1."""
    return mask.long().sum(1).clamp(min=1)


def _masked_mean_cosine(num: torch.Tensor, sq_norm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """num, sq_norm [Bx, By, P] (<â, r>, |r|^2 at each of x's positions; â unit), mask [Bx, P] -> [Bx, By].

    cos = num / max(|r|, 1e-12) as ``F.normalize`` does (the clamp is on |r|^2, so there is no infinite
    gradient of the square root at 0), averaged over x's valid positions.
    """
    cos = num / sq_norm.clamp(min=1e-24).sqrt()
    m = mask.to(num.dtype)
    return torch.einsum("xyp,xp->xy", cos, m / m.sum(1, keepdim=True).clamp(min=1))


def _interpolation_taps(out_len: torch.Tensor, in_len: torch.Tensor, out_size: int,
                        dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear interpolation (``align_corners=True``) of each length-L input to each output length N.

    out_len [Bo] (N), in_len [Bi] (L) -> (i0, i1, lam), each [Bo, Bi, out_size]: output position p of the
    pair (o, i) is (1 - lam) x[i0] + lam x[i1]. The source coordinate is computed as PyTorch does (float
    scale (L - 1) / (N - 1), 0 when N == 1, times p); i1 = i0 + 1 except at the last input position, so
    L == 1 gives x[0] everywhere. Positions p >= N get i0 = i1 = 0, lam = 0 (they are masked out later).
    """
    n = out_len.view(-1, 1, 1)                                                  # [Bo, 1, 1]
    length = in_len.view(1, -1, 1)                                              # [1, Bi, 1]
    p = torch.arange(out_size, device=out_len.device).view(1, 1, -1)            # [1, 1, P]
    scale = (length - 1).to(dtype) / (n - 1).clamp(min=1).to(dtype) * (n > 1)   # [Bo, Bi, 1]
    x = scale * p.to(dtype)                                                     # [Bo, Bi, P]
    valid = p < n
    i0 = torch.minimum(x.floor().long(), length - 1) * valid
    i1 = i0 + (i0 < length - 1) * valid
    lam = (x - i0.to(dtype)) * valid
    return i0, i1, lam


def _pooling_matrix(out_len: torch.Tensor, in_len: torch.Tensor, out_size: int, in_size: int,
                    dtype: torch.dtype) -> torch.Tensor:
    """Adaptive average pooling of each length-N input to each output length L, as a matrix.

    out_len [Bo] (L), in_len [Bi] (N) -> R [Bo, Bi, out_size, in_size]: bin k averages input positions
    [floor(k N / L), ceil((k + 1) N / L)) as ``F.adaptive_avg_pool1d`` does; rows k >= L are zero (so
    are columns >= N, which no bin reaches).
    """
    length = out_len.view(-1, 1, 1)                                             # [Bo, 1, 1]
    n = in_len.view(1, -1, 1)                                                   # [1, Bi, 1]
    k = torch.arange(out_size, device=out_len.device).view(1, 1, -1)            # [1, 1, K]
    valid = k < length                                                          # rows beyond L: empty bins
    start = torch.div(k * n, length, rounding_mode="floor") * valid             # [Bo, Bi, K]
    end = torch.div((k + 1) * n + length - 1, length, rounding_mode="floor") * valid
    inv_width = 1.0 / (end - start).clamp(min=1).to(dtype)
    cols = torch.arange(in_size, device=out_len.device)
    inside = (cols >= start.unsqueeze(-1)) & (cols < end.unsqueeze(-1))         # [Bo, Bi, K, N]
    return inside * inv_width.unsqueeze(-1)


# Both strategies take the cosine without forming the B x B resampled sequences ([B, B, T, c]): with
# â the unit-normalised side that is not resampled and r = (resampling of the other side b),
#     <â_p, r_p> = sum_l R[p, l] <â_p, b_l>,   |r_p|^2 = sum_{l, m} R[p, l] <b_l, b_m> R[p, m],
# so all that is needed is the dot products d = <â_p, b_l> (one [B Tv, c] x [c, B Lt] matmul) and the
# Gram matrices of b. Memory: a few [B, B, Tv, Lt] tensors, independent of c (B = 32, Tv = 64, Lt = 40:
# 2.6 M elements, 10.5 MB each in float32), where the resampled sequences would take [B, B, T, c]
# (c = 512: 134 MB, plus as much again for the backward pass).

def text_to_video_similarity(video: torch.Tensor, video_mask: torch.Tensor,
                             text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """video [B, Tv, c] + mask, text [B, Lt, c] + mask -> [B, B] (rows video, columns text).

    Text j's valid tokens are linearly interpolated to video i's valid length; the per-position cosine
    is averaged over video i's valid positions.
    """
    i0, i1, lam = _interpolation_taps(_valid_lengths(video_mask), _valid_lengths(text_mask),
                                      video.shape[1], video.dtype)               # [Bv, Bt, Tv]
    d = torch.einsum("ipc,jlc->ijpl", F.normalize(video, dim=-1), text)        # [Bv, Bt, Tv, Lt]
    taps = torch.stack([1 - lam, lam], -1)                                      # [Bv, Bt, Tv, 2]
    num = (d.gather(-1, torch.stack([i0, i1], -1)) * taps).sum(-1)
    gram = text @ text.transpose(1, 2)                                          # [Bt, Lt, Lt]
    j = torch.arange(text.shape[0], device=text.device).view(1, -1, 1)
    sq_norm = ((1 - lam) ** 2 * gram[j, i0, i0] + 2 * lam * (1 - lam) * gram[j, i0, i1]
               + lam ** 2 * gram[j, i1, i1])
    return _masked_mean_cosine(num, sq_norm, video_mask)


def video_to_text_similarity(video: torch.Tensor, video_mask: torch.Tensor,
                             text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """video [B, Tv, c] + mask, text [B, Lt, c] + mask -> [B, B] (rows video, columns text).

    Video i's valid positions are adaptive-average-pooled to text j's valid length; the per-token cosine
    is averaged over text j's valid tokens.
    """
    R = _pooling_matrix(_valid_lengths(text_mask), _valid_lengths(video_mask),
                        text.shape[1], video.shape[1], video.dtype)             # [Bt, Bv, Lt, Tv]
    d = torch.einsum("jkc,ipc->jikp", F.normalize(text, dim=-1), video)        # [Bt, Bv, Lt, Tv]
    num = (R * d).sum(-1)
    gram = video @ video.transpose(1, 2)                                        # [Bv, Tv, Tv]
    sq_norm = (torch.einsum("jikp,ipq->jikq", R, gram) * R).sum(-1)             # [Bt, Bv, Lt]
    return _masked_mean_cosine(num, sq_norm, text_mask).t()


def info_nce(video_to_text: torch.Tensor, text_to_video: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE: the mean of the cross-entropies in both directions; pair i of the batch is
    the positive of row i. video_to_text [B, B]: row i scores video i against every text;
    text_to_video [B, B]: row j scores text j against every video (default ``video_to_text.T``, a
    symmetric similarity; Sigma's token-wise level has its own)."""
    text_to_video = video_to_text.t() if text_to_video is None else text_to_video
    target = torch.arange(video_to_text.shape[0], device=video_to_text.device)
    return 0.5 * (F.cross_entropy(video_to_text.float(), target) + F.cross_entropy(text_to_video.float(), target))


def contrastive_loss(sim: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric cross-entropy of Eq. 1 over ``logit_scale * sim`` ([B, B], matches on the diagonal)."""
    return info_nce(sim * logit_scale)


def gathered_world() -> int:
    """The number of processes whose shares make up a batch (1 unless torchrun started several)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_rows(x: torch.Tensor, count: int) -> tuple[torch.Tensor, int]:
    """The first ``count`` rows of ``x`` [B, ...] from every rank, in rank order -> (rows [sum of counts, ...],
    the offset of this rank's rows). Ranks may hold different numbers of rows (the other dims must
    agree); differentiable in ``x`` when it requires grad (``torch.distributed.nn``: the gradient of this
    rank's rows is summed over every rank's graph)."""
    world = dist.get_world_size()
    sizes = torch.tensor([x.shape[0], count], device=x.device)
    every = [torch.zeros_like(sizes) for _ in range(world)]
    dist.all_gather(every, sizes)
    rows = max(int(s[0]) for s in every)
    counts = [int(s[1]) for s in every]
    padded = torch.cat([x, x.new_zeros(rows - x.shape[0], *x.shape[1:])]) if rows > x.shape[0] else x
    if x.requires_grad:
        parts = dist_fn.all_gather(padded)
    else:
        raw = padded.to(torch.uint8) if padded.dtype == torch.bool else padded
        parts = [torch.empty_like(raw) for _ in range(world)]
        dist.all_gather(parts, raw.contiguous())
        parts = [q.to(padded.dtype) for q in parts]
    rank = dist.get_rank()
    return torch.cat([q[:c] for q, c in zip(parts, counts)]), sum(counts[:rank])


__all__ = ["gather_rows", "gathered_world", "info_nce", "contrastive_loss", "vector_similarity", "text_to_video_similarity",
           "video_to_text_similarity", "last_valid", "INIT_TEMPERATURE", "MAX_LOGIT_SCALE"]
