"""``QBSLTModel``: SSL-SSAW (arXiv 2509.14036) on Hugging Face mBART.

Parts (Fig. 3)::

    video_embedding   VideoEmbedding: [frame CNN] + Conv1D-BN-ReLU-MaxPool blocks -> [B, T', d]
    text_embedding    TextEmbedding: mBART shared token table (or mBERT embeddings + Linear) -> [B, Lq, d]
    text_encoder      TextEncoder (stage 1 only): separate MBartEncoder on the shared table (or mBERT + Linear)
    fusion            Concat | LSTM | TCN | SSAW (stage 2), see ``fusion.py``
    seq2seq           MBartForConditionalGeneration:
                        .model.encoder  = Video Encoder (fed ``inputs_embeds``)
                        .model.decoder + lm_head = Text Decoder
    contrastive       ContrastiveHead (stage 1, Eq. 1)
    video_cls         learnable [CLS] embedding appended after the last valid video position (stage 1)

Batch contract (a dict of tensors, all on the model's device; B batch)::

    "video"              float [B, T, feature_dim] precomputed per-frame features (frozen backbone), or
                         uint8 [B, T, H, W, 3] RGB frames (trained backbone, ``freeze_backbone=False``)
    "video_mask"         bool  [B, T]     valid frames (a prefix of each row)
    "question_ids"       long  [B, Lq]    question in the TEXT-MODEL tokenizer (mBART or mBERT), for
                                          the TextEmbedding; special tokens as that tokenizer adds them
    "question_mask"      bool/long [B, Lq]
    "question_dec_ids"   long  [B, Lqd]   question in the DECODER (mBART) tokenizer, no bos/eos: the
                                          targets of L_D and (``ssl_reading="prefix"``) the
                                          generation prefix
    "question_dec_mask"  bool/long [B, Lqd]
    "text_ids"           long  [B, Lt]    translation in the TEXT-MODEL tokenizer, ending with eos
                                          (mBERT: [SEP]); stage-1 text encoder input
    "text_mask"          bool/long [B, Lt]
    "masked_text_ids"    long  [B, Lt]    ``text_ids`` with some words replaced by the mask token
                                          (same length; ``text_mask`` applies; an optional
                                          "masked_text_mask" overrides it)
    "labels"             long  [B, Ls]    translation in the DECODER vocabulary ending with eos,
                                          padded with -100
    "keypoints"          float [B, T, 75, 3], "keypoint_mask" bool [B, T, 75]: the keypoints of the
                                          video's frames (``model.skeleton`` only, stage 2;
                                          ``qbslt.model.skeleton``)
    "gloss_ids"          long  [B, Lg]    the sample's glosses in the gloss tokenizer, "gloss_mask" bool
                                          [B, Lg] (``sign_input="gloss"`` only: they replace the video)

Stage 1 (:meth:`QBSLTModel.pretrain_losses`) uses video, video_mask, text_ids, text_mask,
masked_text_ids, labels. Stage 2 (:meth:`QBSLTModel.translation_losses`, :meth:`generate`) uses video,
video_mask, question_ids, question_mask, labels and, with ``ssl``, question_dec_ids/question_dec_mask
(:meth:`generate` only in the ``prefix`` reading). Keys a configuration does not use may be absent (e.g.
no video with ``inputs="question"``).

Choices where the paper is silent or vague (see also the docstrings of the part modules):

* Decoder start token: ``config.decoder_start_id`` (default eos, which is what mBART's
  ``shift_tokens_right`` yields for a target ending in ``</s>``; the paper profile sets the language
  code, de_DE / zh_CN, through ``model.decoder_start_token``, as GFSLT-VLP does with mBART-cc25).
  The paper calls it <BOS>.
* Layer counts: the Video Encoder, Text Decoder and stage-1 Text Encoder have ``encoder_layers``,
  ``decoder_layers`` and ``text_encoder_layers`` layers; with a pretrained mBART each takes the first
  ones of the checkpoint (GFSLT-VLP: 3 / 3 / 12 of mbart-large-cc25).
* Question self-supervision (Eq. 5-7), ``config.ssl_reading`` (docs/model-choices.md, "SSL: two
  readings of Eq. 5-7"). D = d_1..d_M is the question (``question_dec_ids``), S = s_1..s_N the
  translation (``labels``, ending with eos), h_j the encoder states of the fused question + video
  (one :meth:`encode` per batch, shared by every decoder pass below).

  - ``prefix`` (Eq. 6's D_M read as a decoder prefix): ONE decoder pass over
    D + [sep_question] + S, decoder input = [start] + that[:-1] (teacher forcing). The positions
    of D and the separator give L_D (Eq. 5, z_i^d = psi_TD(h_j, D_{1:i-1}); the separator teaches
    where the question ends), those of S give L_S (Eq. 6, z_k^s = psi_TD(h_j, D_M, S_{k-1}): the
    whole question precedes every translation token in the decoder). At inference the known
    question is forced as the decoder prefix [start] + D + [sep] (examples grouped by prefix
    length, so no left padding); only the tokens after the separator are returned.
  - ``auxiliary`` (Eq. 5 as a pass of its own, D_M reaching Eq. 6 through h_j only): TWO decoder
    passes over the same h_j. The question pass reads [sep_question] + D and predicts D + eos: L_D
    (Eq. 5). The translation pass reads [start] + S[:-1] and predicts S: L_S (Eq. 6; the question is
    in h_j, through the fusion, never in the decoder). Inference decodes from [start] alone, as
    without SSL, and never reads ``question_dec_ids``. The question pass starts with the separator
    instead of [start] because both passes attend to the same h_j: with one start token the
    decoder would be taught two different continuations of the same input and could write the
    question at inference; the start token names the task, as mBART's language-code start token
    names the target language.

  Every L is a token mean (the paper writes sums), label-smoothed by ``config.label_smoothing``
  like every CE here (L_rec included). Eq. 7's sum is weighted in both readings:
  ``ssl_weight * l_d + l_s`` (1 in the paper). Without ``ssl`` the loss is l_s alone, l_d is 0 and
  ``ssl_reading`` is ignored.
* Generation: beam search; the tokens after the decoder prefix, cut at the first eos.
* ``inputs="sign"``: no question anywhere (empty question side; ``ssl`` must be off, the config
  refuses it). ``inputs="question"``: empty video side, the video is not even embedded.
* Stage 1 appends the CLS embedding only for ``alignment="vector"``; the sequence strategies use all
  valid positions.
* Stage 2 initialises from stage 1 every state-dict entry under ``video_embedding.``, ``seq2seq.``
  (video encoder, decoder, lm_head, shared table) and ``text_embedding.``; the stage-1 text encoder,
  contrastive head and CLS are not used in stage 2 and stay as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, GenerationConfig, MBartForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.mbart.modeling_mbart import MBartScaledWordEmbedding

from qbslt.errors import ConfigError
from qbslt.model.configuration import hub_kwargs
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig
from qbslt.model.contrastive import gathered_world
from qbslt.ssl_ssaw.contrastive_head import ContrastiveHead
from qbslt.ssl_ssaw.fusion import build_fusion
from qbslt.model.pretrained import PretrainedModel
from qbslt.ssl_ssaw.text_embedding import TextEmbedding, TextEncoder, build_bert, build_mbart_config, check_depth
from qbslt.model.video_embedding import VideoEmbedding

STAGE1_TRANSFER_PREFIXES = ("video_embedding.", "seq2seq.", "text_embedding.")
# Stage-2-only parts inside those (model.skeleton): stage 1 has no skeleton stream, they start fresh.
STAGE2_ONLY_PREFIXES = ("video_embedding.skeleton.",)
# The frame CNN of a model with a trained backbone (model.freeze_backbone: false).
BACKBONE_PREFIX = "video_embedding.backbone."


def stage1_backbone_weights(state_dict: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The frame CNN's weights (a FrameBackbone state dict) of a stage-1 model's ``state_dict``; a
    ConfigError naming ``source`` when it has none (its backbone was frozen: nothing was trained)."""
    weights = {k[len(BACKBONE_PREFIX):]: v for k, v in state_dict.items() if k.startswith(BACKBONE_PREFIX)}
    if not weights:
        raise ConfigError(f"{source}: no trained backbone in this stage-1 model (model.freeze_backbone was true: "
                          f"the frozen features are the backbone's features)")
    return weights

# segment ids of the SSL decoder sequence
SEG_PAD, SEG_QUESTION, SEG_SEP, SEG_TRANSLATION = -1, 0, 1, 2


def pack_segments(segments: list[tuple[torch.Tensor, torch.Tensor]], fill: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate the valid tokens of each segment per example, padding at the end.

    segments: [(ids [B, L_k], mask [B, L_k]), ...] -> ids [B, L] (``fill`` at padding), segment index
    [B, L] (k of the segment a position comes from, -1 at padding).
    """
    B = segments[0][0].shape[0]
    device = segments[0][0].device
    masks = [m.bool() for _, m in segments]
    lens = [m.sum(1) for m in masks]
    total = torch.stack(lens).sum(0)
    L = int(total.max()) if B else 0
    out = torch.full((B, L), fill, dtype=torch.long, device=device)
    seg = torch.full((B, L), SEG_PAD, dtype=torch.long, device=device)
    offset = torch.zeros(B, dtype=torch.long, device=device)
    for k, ((ids, _), m) in enumerate(zip(segments, masks)):
        rows = torch.arange(B, device=device).unsqueeze(1).expand_as(m)
        pos = m.long().cumsum(1) - 1 + offset.unsqueeze(1)
        out[rows[m], pos[m]] = ids[m].long()
        seg[rows[m], pos[m]] = k
        offset = offset + lens[k]
    return out, seg


class QBSLTModel(PretrainedModel, nn.Module):
    """SSL-SSAW question-based SLT model. See the module docstring for the batch contract.
    ``save_pretrained`` / ``from_pretrained``: a model folder (:mod:`qbslt.model.pretrained`)."""

    config_class = QBSLTConfig

    @classmethod
    def config_for_loading(cls, config: QBSLTConfig) -> QBSLTConfig:
        # The stored config already holds the sizes of the trained model: never fetch pretrained weights.
        return config.replace(mbart_path=None, bert_path=None, mbart_revision=None, bert_revision=None,
                              backbone_pretrained=False)

    def __init__(self, config: QBSLTConfig):
        super().__init__()
        # A private copy that records what runs: the resolved Text Encoder depth and, with a
        # pretrained mBART, the checkpoint's sizes (so that the recorded config rebuilds this model).
        config = QBSLTConfig.from_dict(config.to_dict()).replace(text_encoder_layers=config.text_encoder_depth)
        if config.mbart_path:
            # Loaded whole: the Text Encoder copies its layers from the full pretrained encoder before
            # the Video Encoder and Text Decoder are cut to their first layers (below).
            self.seq2seq = MBartForConditionalGeneration.from_pretrained(
                config.mbart_path, **hub_kwargs(config.mbart_path, config.mbart_revision))
            if config.vocab_size > self.seq2seq.config.vocab_size:
                # The tokenizer added tokens (e.g. the <q> separator of the SSL sequence): new rows.
                self.seq2seq.resize_token_embeddings(config.vocab_size)
            mc = self.seq2seq.config
            depths = {"encoder_layers": mc.encoder_layers, "decoder_layers": mc.decoder_layers}
            if config.text_model == "mbart":
                depths["text_encoder_layers"] = mc.encoder_layers
            for key, available in depths.items():
                check_depth(getattr(config, key), available, key, config.mbart_path)
            config = config.replace(d_model=mc.d_model, vocab_size=mc.vocab_size,
                                    attention_heads=mc.encoder_attention_heads, ffn_dim=mc.encoder_ffn_dim,
                                    max_positions=mc.max_position_embeddings, scale_embedding=mc.scale_embedding)
        else:
            self.seq2seq = MBartForConditionalGeneration(build_mbart_config(config))
        self.config = config
        self.seq2seq.generation_config = GenerationConfig(
            decoder_start_token_id=config.decoder_start_id, bos_token_id=config.bos_token_id,
            eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)

        shared = self.seq2seq.get_input_embeddings()
        bert = build_bert(config) if config.text_model == "mbert" else None
        if bert is not None and config.bert_path:
            self.config = config = config.replace(bert_config=bert.config.to_dict())
        self.video_embedding = VideoEmbedding(config)
        if config.sign_input == "gloss":
            # The text reference systems: the sample's glosses, one token each, take the video's place
            # (a table of the gloss vocabulary, scaled like the shared token table).
            self.gloss_embedding = MBartScaledWordEmbedding(
                config.gloss_vocab_size, config.d_model, padding_idx=config.pad_token_id,
                embed_scale=math.sqrt(config.d_model) if config.scale_embedding else 1.0)
        self.text_embedding = TextEmbedding(config, token_embedding=shared, bert=bert)
        self.text_encoder = TextEncoder(config, token_embedding=shared, bert=bert,
                                        mbart_config=self.seq2seq.config,
                                        init_from=self.seq2seq.model.encoder if config.mbart_path else None)
        # Video Encoder and Text Decoder: the first encoder_layers / decoder_layers layers (GFSLT-VLP:
        # 3 and 3 of mbart-large-cc25); a no-op for a random init built with these counts.
        del self.video_encoder.layers[config.encoder_layers:]
        del self.text_decoder.layers[config.decoder_layers:]
        # The seq2seq config must say so too: generation sizes the decoder's cache from it.
        self.seq2seq.config.encoder_layers = config.encoder_layers
        self.seq2seq.config.decoder_layers = config.decoder_layers
        self.fusion = build_fusion(config)
        self.contrastive = ContrastiveHead(config)
        self.video_cls = nn.Parameter(torch.randn(config.d_model) * 0.02)

    # ------------------------------------------------------------------ parts
    @property
    def video_encoder(self) -> nn.Module:
        return self.seq2seq.model.encoder

    @property
    def text_decoder(self) -> nn.Module:
        return self.seq2seq.model.decoder

    @property
    def device(self) -> torch.device:
        return self.video_cls.device

    def _check_positions(self, length: int, what: str) -> None:
        if length > self.config.max_positions:
            raise ValueError(f"{what} has {length} positions, more than max_positions={self.config.max_positions}")

    def _encode_states(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Video Encoder: inputs_embeds [B, L, d] + mask [B, L] -> [B, L, d]."""
        self._check_positions(embeds.shape[1], "the video-encoder input")
        return self.video_encoder(inputs_embeds=embeds, attention_mask=mask.long()).last_hidden_state

    def append_cls(self, v: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T, d] + mask [B, T] -> [B, T+1, d] with CLS at index len_b (after the last valid position)."""
        B, T, d = v.shape
        lens = mask.long().sum(1)
        out = torch.cat([v * mask.unsqueeze(-1).to(v.dtype), v.new_zeros(B, 1, d)], 1)
        out = out.index_put((torch.arange(B, device=v.device), lens), self.video_cls.to(v.dtype).expand(B, d))
        new_mask = torch.arange(T + 1, device=v.device).unsqueeze(0) < (lens + 1).unsqueeze(1)
        return out, new_mask

    def _batch_size(self, batch: dict) -> int:
        for key in ("video", "question_ids", "labels", "text_ids"):
            if key in batch:
                return batch[key].shape[0]
        raise ValueError("empty batch")

    def encode(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Stage 2 encoder side: question/video embeddings -> fusion -> Video Encoder.

        Returns states [B, L, d], mask bool [B, L], fusion extras (``split``, ``video_len``, SSAW ``weights``).
        """
        B, d, dev = self._batch_size(batch), self.config.d_model, self.device
        dtype = self.video_cls.dtype
        empty = (torch.zeros(B, 0, d, device=dev, dtype=dtype), torch.zeros(B, 0, dtype=torch.bool, device=dev))
        q, qm = (self.text_embedding(batch["question_ids"], batch["question_mask"])
                 if self.config.inputs != "sign" else empty)
        if self.config.inputs == "question":
            v, vm = empty
        elif self.config.sign_input == "gloss":
            gm = batch["gloss_mask"].bool()
            v, vm = self.gloss_embedding(batch["gloss_ids"]) * gm.unsqueeze(-1).to(dtype), gm
        else:
            v, vm = self.video_embedding(batch["video"], batch["video_mask"], batch.get("video_colour"),
                                         batch.get("keypoints"), batch.get("keypoint_mask"))
        fused, mask, extras = self.fusion(q, qm, v, vm)
        return self._encode_states(fused, mask), mask, extras

    def _decoder_states(self, states: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
                        start_id: int | None = None) -> torch.Tensor:
        """Teacher forcing: targets [B, L] (-100 = ignore) -> the Text Decoder's last hidden states [B, L, d];
        input = [start] + targets[:-1], start = ``start_id`` (default ``config.decoder_start_id``)."""
        self._check_positions(targets.shape[1], "the decoder sequence")
        B = targets.shape[0]
        ids = targets.masked_fill(targets == -100, self.config.pad_token_id)
        start_id = self.config.decoder_start_id if start_id is None else start_id
        start = torch.full((B, 1), start_id, dtype=torch.long, device=targets.device)
        dec_in = torch.cat([start, ids[:, :-1]], 1)
        dec_mask = torch.cat([torch.ones_like(start), (targets[:, :-1] != -100).long()], 1)
        out = self.seq2seq.model(encoder_outputs=BaseModelOutput(last_hidden_state=states),
                                 attention_mask=mask.long(), decoder_input_ids=dec_in,
                                 decoder_attention_mask=dec_mask, use_cache=False)
        return out.last_hidden_state

    def _token_losses(self, states: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
                      start_id: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Label-smoothed CE of every scored position (targets != -100) of a teacher-forced decoder pass
        (:meth:`_decoder_states`) -> (losses [N], keep bool [B, L], hidden [B, L, d]).

        The vocabulary projection (``lm_head`` + ``final_logits_bias``, as MBartForConditionalGeneration
        applies them) runs on the N scored positions only: padding gets no logits, which is most of the
        cost of a step of the small models (a [B, L, V] product and its backward)."""
        hidden = self._decoder_states(states, mask, targets, start_id)
        keep = targets != -100
        logits = self.seq2seq.lm_head(hidden[keep]) + self.seq2seq.final_logits_bias
        losses = F.cross_entropy(logits.float(), targets[keep], label_smoothing=self.config.label_smoothing,
                                 reduction="none")
        return losses, keep, hidden

    @staticmethod
    def _mean(losses: torch.Tensor, hidden: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        """The token mean of ``losses`` (where ``select``, a bool [N]); with no token selected a zero that
        still depends on the pass (every parameter keeps a gradient, as DDP expects)."""
        chosen = losses if select is None else losses[select]
        return chosen.mean() if chosen.numel() else hidden.sum() * 0.0

    # ------------------------------------------------------------------ stage 1
    def forward(self, batch: dict, objective: str = "translation") -> dict[str, torch.Tensor]:
        """The losses of ``objective`` ("pretrain": stage 1, "translation": stage 2). A forward
        that dispatches, so that DistributedDataParallel (which hooks ``forward``) can wrap the model."""
        if objective == "pretrain":
            return self.pretrain_losses(batch)
        if objective == "translation":
            return self.translation_losses(batch)
        raise ValueError(f"unknown objective {objective!r} (expected 'pretrain' or 'translation')")

    def pretrain_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Stage 1: L_sim (Eq. 1) + L_rec (Eq. 2). -> {"loss", "l_sim", "l_rec", "sim" [B, B] (detached)}."""
        v, vm = self.video_embedding(batch["video"], batch["video_mask"], batch.get("video_colour"))
        if self.config.alignment == "vector":
            v, vm = self.append_cls(v, vm)
        f_ve = self._encode_states(v, vm)
        f_se = self.text_encoder(batch["text_ids"], batch["text_mask"])
        if gathered_world() > 1:  # torchrun: Eq. 1 over the whole batch, gathered from every rank's share
            count = 0 if batch.get("ghost") else f_ve.shape[0]
            l_sim, sim = self.contrastive.gathered_loss(f_ve, vm, f_se, batch["text_mask"].bool(), count)
        else:
            sim = self.contrastive.similarity(f_ve, vm, f_se, batch["text_mask"].bool())
            l_sim = self.contrastive.loss(sim)

        masked_mask = batch.get("masked_text_mask", batch["text_mask"])
        states = self.text_encoder(batch["masked_text_ids"], masked_mask)
        labels = batch["labels"]
        losses, _, hidden = self._token_losses(states, masked_mask.bool(), labels)
        l_rec = self._mean(losses, hidden)
        return {"loss": l_sim + l_rec, "l_sim": l_sim, "l_rec": l_rec, "sim": sim.detach()}

    def freeze_unused(self, objective: str) -> list[str]:
        """Stop training (``requires_grad=False``) every parameter ``objective``'s losses never use, so
        DistributedDataParallel can run without ``find_unused_parameters``: "pretrain" (stage 1) does not
        use the fusion, the question embedding (except the token table the decoder shares), the gloss
        table nor the skeleton stream; "translation" (stage 2) not the stage-1 Text Encoder (except what
        it shares), the contrastive head nor the CLS. Parameters shared with a used part stay trained.
        Returns the frozen names. A no-op for the numbers: the optimiser skips a parameter without a
        gradient, and these never get one."""
        c = self.config
        if objective == "pretrain":
            used: list = [self.video_embedding, self.seq2seq, self.text_encoder, self.contrastive]
            if c.alignment == "vector":
                used.append(self.video_cls)
            unused_parts = [getattr(self.video_embedding, "skeleton", None)]
        elif objective == "translation":
            used = [self.seq2seq, self.fusion]
            if c.inputs != "sign":
                used.append(self.text_embedding)
            if c.inputs != "question":
                used.append(self.gloss_embedding if c.sign_input == "gloss" else self.video_embedding)
            unused_parts = []
        else:
            raise ValueError(f"unknown objective {objective!r} (expected 'pretrain' or 'translation')")
        params = lambda part: [part] if isinstance(part, nn.Parameter) else list(part.parameters())  # noqa: E731
        skip = {id(p) for part in unused_parts if part is not None for p in params(part)}
        keep = {id(p) for part in used for p in params(part)} - skip
        frozen = []
        for name, p in self.named_parameters():
            if p.requires_grad and id(p) not in keep:
                p.requires_grad_(False)
                frozen.append(name)
        return frozen

    # ------------------------------------------------------------------ stage 2
    def ssl_targets(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``prefix`` reading: D + sep + S (S ends with eos) per example -> targets [B, Lqd + 1 + Ls]
        (-100 pad), segments [B, L] (SEG_QUESTION, SEG_SEP, SEG_TRANSLATION, SEG_PAD)."""
        labels = batch["labels"]
        B = labels.shape[0]
        sep = torch.full((B, 1), self.config.sep_question_token_id, dtype=torch.long, device=labels.device)
        return pack_segments([(batch["question_dec_ids"], batch["question_dec_mask"]),
                              (sep, torch.ones_like(sep, dtype=torch.bool)),
                              (labels, labels != -100)], fill=-100)

    def question_targets(self, batch: dict) -> torch.Tensor:
        """``auxiliary`` reading, the question pass: D + eos per example -> targets [B, Lqd + 1] (-100 pad).
        Its decoder input is [sep_question] + D (:meth:`translation_losses`)."""
        qd = batch["question_dec_ids"]
        eos = torch.full((qd.shape[0], 1), self.config.eos_token_id, dtype=torch.long, device=qd.device)
        targets, _ = pack_segments([(qd, batch["question_dec_mask"]),
                                    (eos, torch.ones_like(eos, dtype=torch.bool))], fill=-100)
        return targets

    def translation_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Stage 2 (Eq. 5-7). -> {"loss", "l_d", "l_s"}: loss = ssl_weight * l_d + l_s; without ssl
        loss = l_s and l_d = 0. Which decoder pass predicts what, per ``config.ssl_reading``:

        * no ssl:     one pass, [start] + S[:-1] -> S                        : l_s (Eq. 6 without D_M)
        * prefix:     one pass, [start] + (D + sep + S)[:-1] -> D + sep + S  : l_d over D + sep (Eq. 5),
                      l_s over S (Eq. 6, D_M as the decoder prefix)
        * auxiliary:  question pass, [sep] + D -> D + eos                    : l_d (Eq. 5)
                      translation pass, [start] + S[:-1] -> S                : l_s (Eq. 6, D_M in h_j only)

        Every pass attends to the same encoder states h_j of the fused question + video."""
        states, mask, _ = self.encode(batch)
        labels = batch["labels"]
        if not self.config.ssl:
            losses, _, hidden = self._token_losses(states, mask, labels)
            l_s = self._mean(losses, hidden)
            return {"loss": l_s, "l_d": torch.zeros((), device=l_s.device), "l_s": l_s}
        if self.config.ssl_reading == "auxiliary":
            question = self.question_targets(batch)
            losses, _, hidden = self._token_losses(states, mask, question, self.config.sep_question_token_id)
            l_d = self._mean(losses, hidden)
            losses, _, hidden = self._token_losses(states, mask, labels)
            l_s = self._mean(losses, hidden)
        else:
            targets, seg = self.ssl_targets(batch)
            losses, keep, hidden = self._token_losses(states, mask, targets)
            part = seg[keep]  # the segment of each scored position
            l_d = self._mean(losses, hidden, (part == SEG_QUESTION) | (part == SEG_SEP))
            l_s = self._mean(losses, hidden, part == SEG_TRANSLATION)
        return {"loss": self.config.ssl_weight * l_d + l_s, "l_d": l_d, "l_s": l_s}

    @torch.no_grad()
    def generate(self, batch: dict, num_beams: int = 4, max_new_tokens: int = 64, return_weights: bool = False,
                 length_penalty: float = 1.0):
        """Beam search. -> list[list[int]] (translation ids, no start/eos/pad) in input order.

        The decoder prefix: [start] + D + [sep] with the ``prefix`` reading of ssl (the known question,
        forced; ``question_dec_ids`` required), else [start] alone (no ssl, or its ``auxiliary``
        reading: the question reaches the decoder only through the encoder states).

        With ``return_weights`` -> (sequences, {"weights": list of [L_b, d] CPU tensors (SSAW) or None,
        "split": list[int] question tokens per example, "video_len": list[int]}).
        """
        was_training = self.training
        self.eval()
        try:
            states, mask, extras = self.encode(batch)
            B = states.shape[0]
            start, eos, pad = self.config.decoder_start_id, self.config.eos_token_id, self.config.pad_token_id
            if self.config.question_prefix:
                qd, qdm = batch["question_dec_ids"], batch["question_dec_mask"].bool()
                prefixes = [[start] + qd[b][qdm[b]].tolist() + [self.config.sep_question_token_id] for b in range(B)]
            else:
                prefixes = [[start] for _ in range(B)]
            groups: dict[int, list[int]] = {}
            for b, p in enumerate(prefixes):
                groups.setdefault(len(p), []).append(b)
            results: list[list[int] | None] = [None] * B
            for plen, idxs in sorted(groups.items()):
                budget = min(max_new_tokens, self.config.max_positions - plen)
                if budget < 1:
                    raise ValueError(f"decoder prefix of {plen} tokens leaves no room under max_positions="
                                     f"{self.config.max_positions}")
                idx = torch.tensor(idxs, device=states.device)
                gen_cfg = GenerationConfig(num_beams=num_beams, max_new_tokens=budget, do_sample=False,
                                           length_penalty=length_penalty, decoder_start_token_id=start,
                                           bos_token_id=self.config.bos_token_id, eos_token_id=eos,
                                           pad_token_id=pad)
                out = self.seq2seq.generate(
                    encoder_outputs=BaseModelOutput(last_hidden_state=states[idx]),
                    attention_mask=mask[idx].long(),
                    decoder_input_ids=torch.tensor([prefixes[i] for i in idxs], device=states.device),
                    generation_config=gen_cfg)
                for row, i in zip(out.tolist(), idxs):
                    toks = row[plen:]
                    if eos in toks:
                        toks = toks[:toks.index(eos)]
                    results[i] = [t for t in toks if t != pad]
        finally:
            self.train(was_training)
        if not return_weights:
            return results
        lens = mask.sum(1).tolist()
        w = extras.get("weights")
        info = {"weights": None if w is None else [w[b, :lens[b]].float().cpu() for b in range(B)],
                "split": extras["split"].tolist(), "video_len": extras["video_len"].tolist()}
        return results, info

    # ------------------------------------------------------------------ stage 1 -> stage 2
    def stage1_transfer_keys(self) -> list[str]:
        """State-dict names stage 2 initialises from stage 1 (video embedding, video encoder, text
        embedding, decoder + lm_head + shared table: everything under ``STAGE1_TRANSFER_PREFIXES``)."""
        return [k for k in self.state_dict()
                if k.startswith(STAGE1_TRANSFER_PREFIXES) and not k.startswith(STAGE2_ONLY_PREFIXES)]

    def load_stage1(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Copy the stage-1 weights named by :meth:`stage1_transfer_keys` into this model.

        Raises ``KeyError`` when one of them is missing from ``state_dict`` (and ``RuntimeError`` on a
        shape mismatch). Returns the loaded names.
        """
        keys = self.stage1_transfer_keys()
        missing = [k for k in keys if k not in state_dict]
        if missing:
            raise KeyError(f"stage-1 state dict lacks {len(missing)} entries, e.g. {missing[:3]}")
        own = self.state_dict()
        for k in keys:
            if own[k].shape != state_dict[k].shape:
                raise RuntimeError(f"{k}: stage-1 shape {tuple(state_dict[k].shape)} != {tuple(own[k].shape)}")
        self.load_state_dict({k: state_dict[k] for k in keys}, strict=False)
        return keys


# Hugging Face Auto classes: a model folder's config.json says ``"model_type": "qbslt"``, so once this
# module is imported (``from qbslt.model import QBSLTModel`` imports it) ``AutoConfig.from_pretrained(folder)``
# gives its QBSLTConfig and ``AutoModel.from_pretrained(folder)`` its QBSLTModel (through
# QBSLTModel.from_pretrained: the same loading, eval mode included). exist_ok: a re-import re-registers.
AutoConfig.register(QBSLTConfig.model_type, QBSLTConfig, exist_ok=True)
AutoModel.register(QBSLTConfig, QBSLTModel, exist_ok=True)


__all__ = ["QBSLTModel", "pack_segments", "STAGE1_TRANSFER_PREFIXES"]
