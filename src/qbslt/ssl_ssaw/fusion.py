"""Question/video fusion modules (paper Sec. 3.3, Eq. 3-4; Table 5 compares Concat/LSTM/TCN/SSAW).

Every fusion has the same interface::

    fusion(q [B, Lq, d], q_mask [B, Lq], v [B, Lv, d], v_mask [B, Lv])
        -> fused [B, L, d], mask bool [B, L], extras dict

Step 1, for all of them: :func:`pack` concatenates along time the *valid* question tokens followed by
the *valid* video positions of each example, contiguously, padding only at the end
(L = max_b(len_q[b] + len_v[b])). So a recurrent or convolutional fusion never sees padding between
the two parts, and f_c = Concat(f_{e,DE}, f_{e,VE}) of Eq. 3 holds example by example.
``extras["split"]`` (long [B]) is the number of question tokens of each example: positions
``[0, split)`` are question, ``[split, split + extras["video_len"])`` video (the dashed line of
Figure 4). Either side may be empty (Lq = 0 for ``inputs="sign"``, Lv = 0 for ``inputs="question"``).
Padded output positions are always exactly zero.

Step 2:

* ``ConcatFusion``  identity (the "QB" / "SSL-Concat" rows).
* ``LSTMFusion``    bidirectional ``nn.LSTM`` (hidden d/2 per direction, so the output is d) over
  ``pack_padded_sequence``; we add a residual connection (f_c + LSTM(f_c)) -- our choice, so that the
  Video Encoder initialised in stage 1 on raw embeddings still receives the embeddings plus a
  learned temporal correction.
* ``TCNFusion``     three residual blocks x <- x + Dropout(ReLU(Conv1d_k3,dilation(x * mask))) with
  dilations 1, 2, 4, non-causal ("same" padding); zeroing padding before every convolution makes a
  padded example compute exactly what it would alone.
* ``SSAWFusion``    Eq. 3-4: f_a = LN(f_c + SA(f_c W_Q, f_c W_K, f_c W_V)) with
  ``nn.MultiheadAttention`` (``config.attention_heads`` heads, key_padding_mask on padding);
  f_f = LN(f_a + Linear2(ReLU(Linear1(f_a)))) (hidden ``config.ffn_dim``); f_j = f_c * sigmoid(f_f).
  ``extras["weights"]`` = sigmoid(f_f) [B, L, d] (zero at padding), for Figure 4. Dropout
  (``config.dropout``) on the attention probabilities and on both residual branches, as in a
  Transformer layer, is our addition (the paper does not mention dropout; it is inactive in eval).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig


def pack(q: torch.Tensor, q_mask: torch.Tensor, v: torch.Tensor, v_mask: torch.Tensor
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Valid question tokens then valid video positions, contiguous per example.

    q [B, Lq, d], q_mask [B, Lq], v [B, Lv, d], v_mask [B, Lv] ->
    f_c [B, L, d] (zero at padding), mask bool [B, L], split long [B] (= question lengths),
    video_len long [B]; L = max(len_q + len_v).
    """
    qm, vm = q_mask.bool(), v_mask.bool()
    B, d = q.shape[0], q.shape[-1]
    if v.shape[0] != B or v.shape[-1] != d:
        raise ValueError(f"question {tuple(q.shape)} and video {tuple(v.shape)} disagree on batch or width")
    qlen, vlen = qm.sum(1), vm.sum(1)
    total = qlen + vlen
    L = int(total.max()) if B else 0
    dtype = torch.promote_types(q.dtype, v.dtype)
    out = torch.zeros(B, L, d, dtype=dtype, device=q.device)
    rows = torch.arange(B, device=q.device).unsqueeze(1)
    if qm.any():
        q_pos = qm.long().cumsum(1) - 1
        out = out.index_put((rows.expand_as(qm)[qm], q_pos[qm]), q[qm].to(dtype))
    if vm.any():
        v_pos = vm.long().cumsum(1) - 1 + qlen.unsqueeze(1)
        out = out.index_put((rows.expand_as(vm)[vm], v_pos[vm]), v[vm].to(dtype))
    mask = torch.arange(L, device=q.device).unsqueeze(0) < total.unsqueeze(1)
    return out, mask, qlen, vlen


class Fusion(nn.Module):
    """Base class: packs, then :meth:`fuse` (f_c [B, L, d], mask [B, L]) -> (fused [B, L, d], extras)."""

    def forward(self, q: torch.Tensor, q_mask: torch.Tensor, v: torch.Tensor, v_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        f_c, mask, split, video_len = pack(q, q_mask, v, v_mask)
        fused, extras = self.fuse(f_c, mask)
        fused = fused * mask.unsqueeze(-1).to(fused.dtype)
        extras.update(split=split, video_len=video_len)
        return fused, mask, extras

    def fuse(self, f_c: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError


class ConcatFusion(Fusion):
    """f_j = f_c."""

    def __init__(self, config: QBSLTConfig | None = None):
        super().__init__()

    def fuse(self, f_c, mask):
        return f_c, {}


class LSTMFusion(Fusion):
    """Bidirectional LSTM (d/2 per direction) over the packed sequence; f_j = f_c + LSTM(f_c) if residual."""

    def __init__(self, config: QBSLTConfig, residual: bool = True):
        super().__init__()
        d = config.d_model
        self.lstm = nn.LSTM(d, d // 2, num_layers=1, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.residual = residual

    def fuse(self, f_c, mask):
        B, L, _ = f_c.shape
        if L == 0:
            return f_c, {}
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(f_c, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=L)
        out = self.dropout(out)
        return (f_c + out if self.residual else out), {}


class TCNFusion(Fusion):
    """Residual non-causal dilated Conv1d stack (kernel 3, dilations 1, 2, 4), padding masked."""

    def __init__(self, config: QBSLTConfig, dilations: tuple[int, ...] = (1, 2, 4), kernel: int = 3):
        super().__init__()
        d = config.d_model
        self.convs = nn.ModuleList(
            nn.Conv1d(d, d, kernel, dilation=dil, padding=dil * (kernel // 2)) for dil in dilations)
        self.dropout = nn.Dropout(config.dropout)

    def fuse(self, f_c, mask):
        m = mask.unsqueeze(-1).to(f_c.dtype)
        x = f_c
        for conv in self.convs:
            h = conv((x * m).transpose(1, 2)).transpose(1, 2)
            x = x + self.dropout(torch.relu(h))
        return x, {}


class SSAWFusion(Fusion):
    """Sigmoid Self-Attention Weighting, Eq. 3-4: f_j = f_c * sigmoid(f_f)."""

    def __init__(self, config: QBSLTConfig):
        super().__init__()
        d = config.d_model
        self.self_attn = nn.MultiheadAttention(d, config.attention_heads, dropout=config.dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, config.ffn_dim)
        self.linear2 = nn.Linear(config.ffn_dim, d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)

    def weights(self, f_c: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """sigmoid(f_f) [B, L, d] (Eq. 3-4) for f_c [B, L, d] and mask [B, L]."""
        key_padding_mask = ~mask
        key_padding_mask[~mask.any(1)] = False          # an all-empty example would give NaN rows
        sa, _ = self.self_attn(f_c, f_c, f_c, key_padding_mask=key_padding_mask, need_weights=False)
        f_a = self.norm1(f_c + self.dropout(sa))
        f_f = self.norm2(f_a + self.dropout(self.linear2(torch.relu(self.linear1(f_a)))))
        return torch.sigmoid(f_f)

    def fuse(self, f_c, mask):
        if f_c.shape[1] == 0:
            return f_c, {"weights": f_c.clone()}
        w = self.weights(f_c, mask) * mask.unsqueeze(-1).to(f_c.dtype)
        return f_c * w, {"weights": w}


FUSION_CLASSES = {"concat": ConcatFusion, "lstm": LSTMFusion, "tcn": TCNFusion, "ssaw": SSAWFusion}


def build_fusion(config: QBSLTConfig) -> Fusion:
    return FUSION_CLASSES[config.fusion](config)


__all__ = ["pack", "Fusion", "ConcatFusion", "LSTMFusion", "TCNFusion", "SSAWFusion", "build_fusion",
           "FUSION_CLASSES"]
