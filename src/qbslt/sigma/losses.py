"""Sigma's pre-training objectives, named after the abstract's terms (arXiv 2509.21223).

The abstract names three parts of one *unified pre-training framework* -- "contrastive learning,
text matching and language modelling" -- and a *hierarchical alignment learning strategy* that
"jointly maximises agreements across different levels of paired features". The equations are ours
(docs/model-choices.md, "Sigma"):

    L_align  = w_fine * L_fine + w_global * L_global                   (hierarchical alignment)
    L_fine   = InfoNCE over token-wise late-interaction similarities   (frame / token level)
    L_global = InfoNCE over pooled sequence vectors                    (sequence level)
    L_vtm    = BCE of the video-text matching head on the positive pairs and on the hardest
               in-batch negatives (mined from the global similarity)
    L_lm     = CE of the text decoder on the translation, given the skeleton features
    L_pre    = lambda_c * L_align + lambda_vtm * L_vtm + lambda_lm * L_lm  (unified pre-training)

Shapes: B batch, T skeleton positions, L text tokens, c embedding size. Embeddings are expected
L2-normalised; ``tau`` is the softmax temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from qbslt.model.contrastive import info_nce


def global_alignment_loss(video: torch.Tensor, text: torch.Tensor, tau: float) -> torch.Tensor:
    """Sequence-level contrastive loss: video [B, c], text [B, c] (normalised) -> scalar."""
    return info_nce(video @ text.t() / tau)


def token_wise_similarity(frames: torch.Tensor, frame_mask: torch.Tensor, tokens: torch.Tensor,
                          token_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Late-interaction similarity of every (video i, text j) pair (FILIP-style).

    frames [B, T, c], frame_mask bool [B, T], tokens [B, L, c], token_mask bool [B, L] ->
    (video_to_text [B, B]: mean over the valid frames of video i of their best match among the
    tokens of text j; text_to_video [B, B]: row j = mean over the valid tokens of text j of their
    best match among the frames of video i).
    """
    sim = torch.einsum("itc,jlc->ijtl", frames, tokens)                    # [B, B, T, L]
    neg = torch.finfo(sim.dtype).min
    valid = frame_mask[:, None, :, None] & token_mask[None, :, None, :]      # [B, B, T, L]
    sim = sim.masked_fill(~valid, neg)
    best_token = sim.max(dim=3).values                                       # [B, B, T]
    best_frame = sim.max(dim=2).values                                       # [B, B, L]
    fm = frame_mask[:, None, :].to(sim.dtype)                                # [B, 1, T]
    tm = token_mask[None, :, :].to(sim.dtype)                                # [1, B, L]
    video_to_text = (best_token * fm).sum(2) / fm.sum(2).clamp(min=1)        # [B, B]
    text_to_video = ((best_frame * tm).sum(2) / tm.sum(2).clamp(min=1)).t()  # [B(text), B(video)]
    return video_to_text, text_to_video


def fine_grained_alignment_loss(frames: torch.Tensor, frame_mask: torch.Tensor, tokens: torch.Tensor,
                                token_mask: torch.Tensor, tau: float) -> torch.Tensor:
    """Frame/token-level contrastive loss over the token-wise similarities (normalised inputs)."""
    v2t, t2v = token_wise_similarity(frames, frame_mask.bool(), tokens, token_mask.bool())
    return info_nce(v2t / tau, t2v / tau)


def hierarchical_alignment_loss(fine: torch.Tensor, global_: torch.Tensor, levels: dict) -> torch.Tensor:
    """The levels summed with their stated weights (``levels``: {"fine": w, "global": w})."""
    return levels["fine"] * fine + levels["global"] * global_


def mine_hard_negatives(similarity: torch.Tensor, same_text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hardest in-batch negatives from a [B, B] video-text similarity (no gradient).

    ``same_text`` bool [B, B]: pairs whose texts are identical (the diagonal included) are never
    negatives. Returns (text index per video, video index per text), each long [B]; -1 where a
    row has no admissible negative (every text of the batch equal to its own).
    """
    sim = similarity.detach().masked_fill(same_text, float("-inf"))
    text_for_video = sim.argmax(dim=1)
    video_for_text = sim.argmax(dim=0)
    text_for_video[torch.isinf(sim.max(dim=1).values)] = -1
    video_for_text[torch.isinf(sim.max(dim=0).values)] = -1
    return text_for_video, video_for_text


def video_text_matching_loss(logits: torch.Tensor, is_match: torch.Tensor) -> torch.Tensor:
    """Binary video-text matching: logits [N] of the matching head, is_match [N] (1 positive, 0 negative)."""
    return F.binary_cross_entropy_with_logits(logits.float(), is_match.float())


def language_modelling_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Token-mean CE of the text decoder: logits [B, L, V], labels [B, L] (-100 at padding, ignored)."""
    keep = labels != -100
    if not keep.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep].float(), labels[keep], label_smoothing=label_smoothing)


def unified_pretraining_loss(parts: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """lambda_c * L_align + lambda_vtm * L_vtm + lambda_lm * L_lm (``weights``: contrastive, vtm, lm)."""
    names = {"contrastive": "l_align", "vtm": "l_vtm", "lm": "l_lm"}
    total = None
    for key, part in names.items():
        if weights[key] > 0:
            term = weights[key] * parts[part]
            total = term if total is None else total + term
    if total is None:
        raise ValueError("unified pre-training with every objective weighted 0")
    return total


__all__ = ["global_alignment_loss", "token_wise_similarity", "fine_grained_alignment_loss",
           "hierarchical_alignment_loss", "mine_hard_negatives", "video_text_matching_loss",
           "language_modelling_loss", "unified_pretraining_loss"]
