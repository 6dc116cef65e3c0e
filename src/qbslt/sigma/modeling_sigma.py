"""``SigmaModel``: skeleton encoder, sign-aware visual encoder, mBART text side (arXiv 2509.21223).

Parts (B batch, T frames, J = 75 joints, T' = ceil(T / 2**temporal_blocks), L tokens, d = d_model)::

    skeleton_encoder   SkeletonEncoder: joint-MLP per frame + Conv1D-BN-ReLU-MaxPool blocks
                       keypoints [B, T, J, 3] + joint mask [B, T, J] + frame mask [B, T] -> [B, T', d]
    visual_encoder     SignAwareVisualEncoder: pre-LN transformer over the skeleton tokens; its first
                       ``fusion_layers`` layers carry cross-attention to the text tokens (sign-aware
                       early fusion), used only when text is given    -> [B, T', d]
    seq2seq            MBartForConditionalGeneration (random init):
                         .model.encoder = text encoder (token ids -> [B, L, d])
                         .model.decoder + lm_head = text decoder (language modelling, translation)
    video_proj, text_proj   Linear d -> d: contrastive embedding spaces (normalised)
    vtm_head           video-text matching head: pooled fused features [B, d] -> logit
                       (no early fusion: [v; t; v*t; |v-t|] of the pooled vectors, [B, 4d] -> logit)

Batch contract (dict of tensors)::

    "keypoints"       float [B, T, J, 3]   x, y (0..1), score; anything at masked joints (NaN in the store)
    "keypoint_mask"   bool  [B, T, J]      joint found in that frame
    "frame_mask"      bool  [B, T]         valid frames (a prefix of each row)
    "text_ids"        long  [B, L]         translation + </s> in the decoder (mBART) tokenizer
    "text_mask"       bool  [B, L]
    "labels"          long  [B, L]         the same ids, -100 at padding

Masked joints never reach the network as NaN: their channels are set to 0 with ``torch.where`` and a
fourth channel carries the mask itself, so "not found" and "found at 0" differ.

Objectives: :meth:`SigmaModel.pretrain_losses` (unified pre-training, see ``losses.py``),
:meth:`SigmaModel.translation_losses` and :meth:`SigmaModel.generate` (downstream gloss-free
translation from the skeleton stream alone: the visual encoder runs without text).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationConfig, MBartConfig, MBartForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from qbslt.model.pretrained import PretrainedModel
from qbslt.model.skeleton import JOINT_CHANNELS, joint_features
from qbslt.model.video_embedding import TemporalBlock
from qbslt.sigma import losses
from qbslt.sigma.configuration_sigma import SigmaConfig

def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x [B, T, d], mask bool [B, T] -> [B, d] mean over the valid positions."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


def fourier_features(features: torch.Tensor, frequencies: int) -> torch.Tensor:
    """[..., J, 4] joint features (x, y, score, found) -> [..., J, 4 + 4K]: the features, then sin and
    cos of x and y at pi * 2^k (k < K), 0 at a masked joint. An MLP fed raw coordinates learns smooth
    functions of them first (spectral bias); telling apart many signs whose hand paths differ by a few
    hundredths of the frame needs sharp ones, which these inputs make linear."""
    if frequencies == 0:
        return features
    scales = torch.pi * 2.0 ** torch.arange(frequencies, dtype=features.dtype, device=features.device)
    angles = features[..., :2, None] * scales                                # [..., J, 2, K]
    found = features[..., 3:4]                                               # 1 where found, 0 where masked
    waves = torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2) * found
    return torch.cat([features, waves], dim=-1)


class SkeletonEncoder(nn.Module):
    """Joint-MLP over each frame's joints, then temporal convolution blocks."""

    def __init__(self, config: SigmaConfig):
        super().__init__()
        d = config.d_model
        self.frequencies = config.coordinate_frequencies
        channels = JOINT_CHANNELS + 4 * self.frequencies
        self.joint_mlp = nn.Sequential(nn.Linear(config.num_joints * channels, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(TemporalBlock(d, d, config.temporal_kernel) for _ in range(config.temporal_blocks))

    def joint_features(self, keypoints: torch.Tensor, keypoint_mask: torch.Tensor) -> torch.Tensor:
        """[B, T, J, 3] + bool [B, T, J] -> [B, T, J, 4 + 4K]: centred x, y, score, found flag (0 at a
        masked joint), then the coordinates' Fourier features (:func:`fourier_features`)."""
        return fourier_features(joint_features(keypoints, keypoint_mask), self.frequencies)

    def forward(self, keypoints: torch.Tensor, keypoint_mask: torch.Tensor, frame_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> features [B, T', d] (0 at padding), mask bool [B, T']."""
        B, T = frame_mask.shape
        mask = frame_mask.bool()
        x = self.joint_mlp(self.joint_features(keypoints, keypoint_mask & mask.unsqueeze(-1)).reshape(B, T, -1))
        for block in self.blocks:
            x, mask = block(x, mask)
        return x * mask.unsqueeze(-1).to(x.dtype), mask


class SignAwareLayer(nn.Module):
    """Pre-LN transformer layer: self-attention, [cross-attention to text], feed-forward."""

    def __init__(self, config: SigmaConfig, cross_attention: bool):
        super().__init__()
        d, h, p = config.d_model, config.attention_heads, config.dropout
        self.norm1 = nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, h, dropout=p, batch_first=True)
        self.norm_cross = nn.LayerNorm(d) if cross_attention else None
        self.cross_attn = nn.MultiheadAttention(d, h, dropout=p, batch_first=True) if cross_attention else None
        self.norm2 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, config.ffn_dim), nn.GELU(), nn.Dropout(p), nn.Linear(config.ffn_dim, d))
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, text: torch.Tensor | None = None,
                text_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, d], mask bool [B, T]; text [B, L, d] + text_mask [B, L] (fusion layers only)."""
        h = self.norm1(x)
        x = x + self.dropout(self.self_attn(h, h, h, key_padding_mask=~mask, need_weights=False)[0])
        if self.cross_attn is not None and text is not None:
            h = self.norm_cross(x)
            x = x + self.dropout(self.cross_attn(h, text, text, key_padding_mask=~text_mask.bool(),
                                                 need_weights=False)[0])
        return x + self.dropout(self.ffn(self.norm2(x)))


class SignAwareVisualEncoder(nn.Module):
    """Learned positions + ``encoder_layers`` SignAwareLayers; with ``early_fusion`` the first
    ``fusion_layers`` have cross-attention to the text tokens (sign-aware early fusion)."""

    def __init__(self, config: SigmaConfig):
        super().__init__()
        self.positions = nn.Embedding(config.max_positions, config.d_model)
        fused = config.fusion_layers if config.early_fusion else 0
        self.layers = nn.ModuleList(SignAwareLayer(config, cross_attention=i < fused)
                                    for i in range(config.encoder_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.max_positions = config.max_positions

    @property
    def has_fusion(self) -> bool:
        return any(layer.cross_attn is not None for layer in self.layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, text: torch.Tensor | None = None,
                text_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T', d], mask [B, T'] (+ text [B, L, d], text_mask [B, L]: fused) -> [B, T', d] (0 at padding)."""
        if x.shape[1] > self.max_positions:
            raise ValueError(f"{x.shape[1]} skeleton positions, more than max_positions={self.max_positions}")
        x = x + self.positions(torch.arange(x.shape[1], device=x.device))
        for layer in self.layers:
            x = layer(x, mask, text, text_mask)
        return self.norm(x) * mask.unsqueeze(-1).to(x.dtype)


def build_mbart_config(config: SigmaConfig) -> MBartConfig:
    """The random-init mBART of the text side: text encoder + decoder sized by ``config``."""
    return MBartConfig(
        vocab_size=config.vocab_size, d_model=config.d_model, encoder_layers=config.text_encoder_layers,
        decoder_layers=config.decoder_layers, encoder_attention_heads=config.attention_heads,
        decoder_attention_heads=config.attention_heads, encoder_ffn_dim=config.ffn_dim,
        decoder_ffn_dim=config.ffn_dim, dropout=config.dropout, attention_dropout=0.0, activation_dropout=0.0,
        encoder_layerdrop=0.0, decoder_layerdrop=0.0, max_position_embeddings=config.max_positions,
        pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_id, forced_eos_token_id=None, scale_embedding=False,
        tie_word_embeddings=True)


class SigmaModel(PretrainedModel, nn.Module):
    """See the module docstring. ``save_pretrained`` / ``from_pretrained``: a model folder
    (:mod:`qbslt.model.pretrained`)."""

    config_class = SigmaConfig

    def __init__(self, config: SigmaConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.skeleton_encoder = SkeletonEncoder(config)
        self.visual_encoder = SignAwareVisualEncoder(config)
        self.seq2seq = MBartForConditionalGeneration(build_mbart_config(config))
        self.video_proj = nn.Linear(d, d)
        self.text_proj = nn.Linear(d, d)
        head_in = d if config.early_fusion else 4 * d
        self.vtm_head = nn.Sequential(nn.Linear(head_in, d), nn.GELU(), nn.Linear(d, 1))
        # The pre-training objective's weights ({"loss_weights", "levels"}), set by the run:
        # qbslt.training.loop.fit calls model(batch, objective) with nothing else.
        self.pretrain_settings: dict | None = None

    @property
    def device(self) -> torch.device:
        return self.video_proj.weight.device

    # ------------------------------------------------------------------ encoders
    def encode_skeleton(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Skeleton tokens before the visual encoder: [B, T', d], mask [B, T']."""
        return self.skeleton_encoder(batch["keypoints"], batch["keypoint_mask"], batch["frame_mask"])

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Text encoder (mBART encoder on the shared table): [B, L] -> [B, L, d]."""
        return self.seq2seq.model.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state

    def encode(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Skeleton stream alone (no text): visual features [B, T', d], mask [B, T']."""
        s, sm = self.encode_skeleton(batch)
        return self.visual_encoder(s, sm), sm

    def match_logits(self, s: torch.Tensor, sm: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                     video: torch.Tensor | None = None) -> torch.Tensor:
        """Video-text matching logits [N] of N (skeleton, text) pairs: s [N, T', d] skeleton tokens,
        text [N, L, d] text-encoder states. Early fusion: the visual encoder re-runs with the text
        (cross-attention); otherwise ``video`` [N, T', d] (unimodal features) meets the text late."""
        if self.config.early_fusion:
            fused = self.visual_encoder(s, sm, text, text_mask)
            return self.vtm_head(masked_mean(fused, sm)).squeeze(-1)
        v, t = masked_mean(video, sm), masked_mean(text, text_mask.bool())
        return self.vtm_head(torch.cat([v, t, v * t, (v - t).abs()], dim=-1)).squeeze(-1)

    # ------------------------------------------------------------------ objectives
    def forward(self, batch: dict, objective: str = "translation", settings: dict | None = None) -> dict:
        if objective == "pretrain":
            return self.pretrain_losses(batch, settings if settings is not None else self.pretrain_settings)
        if objective == "translation":
            return self.translation_losses(batch)
        raise ValueError(f"unknown objective {objective!r} (expected 'pretrain' or 'translation')")

    def _decoder_logits(self, states: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: labels [B, L] (-100 = pad) -> logits [B, L, V]; input = [start] + labels[:-1]."""
        ids = labels.masked_fill(labels == -100, self.config.pad_token_id)
        start = torch.full_like(ids[:, :1], self.config.decoder_start_id)
        dec_in = torch.cat([start, ids[:, :-1]], 1)
        dec_mask = torch.cat([torch.ones_like(start), (labels[:, :-1] != -100).long()], 1)
        return self.seq2seq(encoder_outputs=BaseModelOutput(last_hidden_state=states), attention_mask=mask.long(),
                            decoder_input_ids=dec_in, decoder_attention_mask=dec_mask, use_cache=False).logits

    def pretrain_losses(self, batch: dict, settings: dict) -> dict[str, torch.Tensor]:
        """Unified pre-training. ``settings``: {"loss_weights": {contrastive, vtm, lm}, "levels": {fine, global}}.
        -> {"loss", "l_align", "l_fine", "l_global", "l_vtm", "l_lm"} (an objective weighted 0 is not computed: 0)."""
        weights, levels, tau = settings["loss_weights"], settings["levels"], self.config.temperature
        s, sm = self.encode_skeleton(batch)
        video = self.visual_encoder(s, sm)                                   # [B, T', d] unimodal
        text_mask = batch["text_mask"].bool()
        text = self.encode_text(batch["text_ids"], text_mask)               # [B, L, d]
        zero = video.sum() * 0.0
        parts = {k: zero for k in ("l_align", "l_fine", "l_global", "l_vtm", "l_lm")}

        frames = F.normalize(self.video_proj(video), dim=-1)                # [B, T', d]
        tokens = F.normalize(self.text_proj(text), dim=-1)                  # [B, L, d]
        v_global = F.normalize(self.video_proj(masked_mean(video, sm)), dim=-1)       # [B, d]
        t_global = F.normalize(self.text_proj(masked_mean(text, text_mask)), dim=-1)  # [B, d]
        if weights["contrastive"] > 0:
            if levels["fine"] > 0:
                parts["l_fine"] = losses.fine_grained_alignment_loss(frames, sm, tokens, text_mask, tau)
            if levels["global"] > 0:
                parts["l_global"] = losses.global_alignment_loss(v_global, t_global, tau)
            parts["l_align"] = losses.hierarchical_alignment_loss(parts["l_fine"], parts["l_global"], levels)
        if weights["vtm"] > 0 and video.shape[0] > 1:
            parts["l_vtm"] = self._vtm_loss(batch, s, sm, video, text, text_mask, v_global @ t_global.t())
        if weights["lm"] > 0:
            logits = self._decoder_logits(video, sm, batch["labels"])
            parts["l_lm"] = losses.language_modelling_loss(logits, batch["labels"], self.config.label_smoothing)
        return {"loss": losses.unified_pretraining_loss(parts, weights), **parts}

    def _vtm_loss(self, batch, s, sm, video, text, text_mask, similarity) -> torch.Tensor:
        """Positives (i, i) and, per video and per text, the hardest in-batch negative."""
        ids = batch["text_ids"].masked_fill(~text_mask, -1)
        same_text = (ids[:, None, :] == ids[None, :, :]).all(-1)            # identical translations
        text_for_video, video_for_text = losses.mine_hard_negatives(similarity, same_text)
        B = s.shape[0]
        idx = torch.arange(B, device=s.device)
        neg_v = idx[text_for_video >= 0], text_for_video[text_for_video >= 0]
        neg_t = video_for_text[video_for_text >= 0], idx[video_for_text >= 0]
        vi = torch.cat([idx, neg_v[0], neg_t[0]])
        ti = torch.cat([idx, neg_v[1], neg_t[1]])
        is_match = torch.cat([torch.ones(B, device=s.device), torch.zeros(len(vi) - B, device=s.device)])
        logits = self.match_logits(s[vi], sm[vi], text[ti], text_mask[ti], video[vi])
        return losses.video_text_matching_loss(logits, is_match)

    def translation_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Downstream gloss-free translation from the skeleton stream alone: {"loss"}."""
        video, mask = self.encode(batch)
        logits = self._decoder_logits(video, mask, batch["labels"])
        return {"loss": losses.language_modelling_loss(logits, batch["labels"], self.config.label_smoothing)}

    @torch.no_grad()
    def generate(self, batch: dict, max_new_tokens: int = 40, num_beams: int = 1) -> list[list[int]]:
        """Decoding from the skeleton stream (greedy for ``num_beams`` 1, else beam search, as the
        translation models decode) -> token ids per example (no start/eos/pad)."""
        was_training = self.training
        self.eval()
        try:
            video, mask = self.encode(batch)
            cfg = self.config
            budget = min(max_new_tokens, cfg.max_positions - 1)
            gen = GenerationConfig(num_beams=num_beams, do_sample=False, max_new_tokens=budget,
                                   decoder_start_token_id=cfg.decoder_start_id, bos_token_id=cfg.bos_token_id,
                                   eos_token_id=cfg.eos_token_id, pad_token_id=cfg.pad_token_id)
            out = self.seq2seq.generate(encoder_outputs=BaseModelOutput(last_hidden_state=video),
                                        attention_mask=mask.long(), generation_config=gen)
        finally:
            self.train(was_training)
        results = []
        for row in out[:, 1:].tolist():
            if cfg.eos_token_id in row:
                row = row[:row.index(cfg.eos_token_id)]
            results.append([t for t in row if t != cfg.pad_token_id])
        return results


__all__ = ["SigmaModel", "SkeletonEncoder", "SignAwareVisualEncoder", "SignAwareLayer", "masked_mean"]
