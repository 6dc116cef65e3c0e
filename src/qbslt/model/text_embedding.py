"""Text Embedding (question, stage 2) and Text Encoder (translation, stage 1).

Shapes (B batch, L tokens, d = ``config.d_model``)::

    TextEmbedding  ids long [B, L], mask [B, L] -> [B, L, d] (zero at padding), bool mask [B, L]
    TextEncoder    ids long [B, L], mask [B, L] -> [B, L, d]

``text_model = "mbart"`` (the paper's choice, Sec. 4.2 "Text Embedding directly uses the Embedding of
pre-trained mBART"):

* ``TextEmbedding`` is the seq2seq model's shared token table (``MBartScaledWordEmbedding``, so mBART's
  ``embed_scale`` is applied). Positions and ``layernorm_embedding`` are *not* added here: the fused
  sequence goes to the Video Encoder (an ``MBartEncoder`` fed with ``inputs_embeds``), which adds its
  own positions and embedding LayerNorm, exactly as it would for tokens.
* ``TextEncoder`` is a separate ``MBartEncoder`` (own layers, so it does not share weights with the
  Video Encoder) whose ``embed_tokens`` *is* the shared table. With a pretrained mBART its layers are
  initialised from the pretrained encoder (Sec. 4.2: "Text Encoder, Text Decoder and Video Encoder are
  initialized with the pre-trained parameters of the mBART model").

``text_model = "mbert"`` (Table 6 ablation; the decoder stays mBART, so a bridge to d_model is needed).
The paper does not say how; our choice:

* one ``BertModel`` (no pooler) is shared by both modules;
* stage 1, ``TextEncoder``: BERT last hidden states -> ``Linear(hidden, d_model)``; the projected states
  give f_SE for the contrastive loss and are the ``encoder_hidden_states`` the mBART decoder
  cross-attends to in the masked reconstruction (Eq. 2);
* stage 2, ``TextEmbedding``: ``BertModel.embeddings`` (word + position + token type + LayerNorm) ->
  a separate ``Linear(hidden, d_model)``; this feeds the fusion. The two Linears are distinct because
  they map different distributions (contextual states vs. input embeddings).

Inputs of both modules are in the *text-model* vocabulary (mBART or mBERT tokenizer); only the
decoder targets are always in the mBART vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel, MBartConfig
from transformers.models.mbart.modeling_mbart import MBartEncoder, MBartScaledWordEmbedding

from qbslt.model.configuration import QBSLTConfig


def build_mbart_config(config: QBSLTConfig) -> MBartConfig:
    """A randomly initialisable ``MBartConfig`` from the size and token fields of ``config``."""
    return MBartConfig(
        vocab_size=config.vocab_size,
        d_model=config.d_model,
        encoder_layers=config.encoder_layers,
        decoder_layers=config.decoder_layers,
        encoder_attention_heads=config.attention_heads,
        decoder_attention_heads=config.attention_heads,
        encoder_ffn_dim=config.ffn_dim,
        decoder_ffn_dim=config.ffn_dim,
        dropout=config.dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        max_position_embeddings=config.max_positions,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_id,
        forced_eos_token_id=None,
        scale_embedding=False,
        tie_word_embeddings=True,
    )


def build_bert(config: QBSLTConfig) -> BertModel:
    """mBERT without pooler: ``from_pretrained(config.bert_path)`` or a random tiny one from the size fields."""
    if config.bert_path:
        return BertModel.from_pretrained(config.bert_path, add_pooling_layer=False)
    bert_config = BertConfig(
        vocab_size=config.bert_vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.attention_heads,
        intermediate_size=config.ffn_dim,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=config.max_positions,
    )
    return BertModel(bert_config, add_pooling_layer=False)


class TextEmbedding(nn.Module):
    """Question token embedding: ids [B, L] + mask [B, L] -> [B, L, d_model] (padding zeroed), mask bool [B, L].

    mbart: ``token_embedding`` is the seq2seq model's shared table (a new one of the config's size
    when ``None``). mbert: ``bert`` is the shared ``BertModel`` (a new one when ``None``).
    """

    def __init__(self, config: QBSLTConfig, token_embedding: nn.Embedding | None = None,
                 bert: BertModel | None = None):
        super().__init__()
        self.text_model = config.text_model
        if config.text_model == "mbart":
            if token_embedding is None:
                token_embedding = MBartScaledWordEmbedding(config.vocab_size, config.d_model,
                                                           config.pad_token_id, embed_scale=1.0)
            self.embed_tokens = token_embedding
        else:
            bert = bert if bert is not None else build_bert(config)
            self.bert_embeddings = bert.embeddings
            self.proj = nn.Linear(bert.config.hidden_size, config.d_model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = attention_mask.bool()
        if self.text_model == "mbart":
            x = self.embed_tokens(input_ids)
        else:
            x = self.proj(self.bert_embeddings(input_ids=input_ids))
        return x * mask.unsqueeze(-1).to(x.dtype), mask


class TextEncoder(nn.Module):
    """Stage-1 text encoder psi_TE: ids [B, L] + mask [B, L] -> hidden states [B, L, d_model].

    mbart: an ``MBartEncoder`` built from ``mbart_config`` whose ``embed_tokens`` is replaced by
    ``token_embedding`` (shared with the seq2seq model); ``init_from`` (an ``MBartEncoder``) copies its
    layer weights (used with a pretrained mBART). mbert: ``bert`` + ``Linear(hidden, d_model)``.
    """

    def __init__(self, config: QBSLTConfig, token_embedding: nn.Embedding | None = None,
                 bert: BertModel | None = None, mbart_config: MBartConfig | None = None,
                 init_from: MBartEncoder | None = None):
        super().__init__()
        self.text_model = config.text_model
        if config.text_model == "mbart":
            mbart_config = mbart_config if mbart_config is not None else build_mbart_config(config)
            self.encoder = MBartEncoder(mbart_config)
            if init_from is not None:
                state = {k: v for k, v in init_from.state_dict().items() if not k.startswith("embed_tokens.")}
                missing, unexpected = self.encoder.load_state_dict(state, strict=False)
                assert not unexpected and all(k.startswith("embed_tokens.") for k in missing), (missing, unexpected)
            if token_embedding is not None:
                self.encoder.embed_tokens = token_embedding
        else:
            self.bert = bert if bert is not None else build_bert(config)
            self.proj = nn.Linear(self.bert.config.hidden_size, config.d_model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.long()
        if self.text_model == "mbart":
            return self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return self.proj(self.bert(input_ids=input_ids, attention_mask=mask).last_hidden_state)


__all__ = ["TextEmbedding", "TextEncoder", "build_bert", "build_mbart_config"]
