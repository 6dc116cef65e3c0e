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
* ``TextEncoder`` is a separate ``MBartEncoder`` of ``config.text_encoder_layers`` layers (own layers,
  so it does not share weights with the Video Encoder) whose ``embed_tokens`` *is* the shared table.
  With a pretrained mBART its layers are the pretrained encoder's first ones (Sec. 4.2: "Text Encoder,
  Text Decoder and Video Encoder are initialized with the pre-trained parameters of the mBART model";
  GFSLT-VLP's stage-1 text encoder is the whole 12-layer encoder of mbart-large-cc25).

``text_model = "mbert"`` (Table 6 ablation; the decoder stays mBART, so a bridge to d_model is needed).
The paper does not say how; our choice:

* one ``BertModel`` (no pooler, ``config.text_encoder_layers`` layers: the first ones of a pretrained
  mBERT) is shared by both modules;
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

import copy
import math

import torch
from torch import nn
from transformers import BertConfig, BertModel, MBartConfig
from transformers.models.mbart.modeling_mbart import MBartEncoder, MBartScaledWordEmbedding

from qbslt.errors import ConfigError
from qbslt.model.configuration import hub_kwargs
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig


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
        scale_embedding=config.scale_embedding,
        tie_word_embeddings=True,
    )


def check_depth(wanted: int, available: int, key: str, source: str) -> None:
    """A part takes the first ``wanted`` layers of a pretrained stack: refuse more than it has."""
    if wanted > available:
        raise ConfigError(f"model config: key '{key}': {wanted} layers requested, but {source} has {available}")


def build_bert(config: QBSLTConfig) -> BertModel:
    """mBERT without pooler and with ``config.text_encoder_depth`` layers: the first ones of
    ``config.bert_path``; else one of ``config.bert_config`` (recorded from a loaded one), or a
    random tiny one from the size fields."""
    if config.bert_path:
        bert = BertModel.from_pretrained(config.bert_path, add_pooling_layer=False,
                                         **hub_kwargs(config.bert_path, config.bert_revision))
        # Loaded whole, then cut to its first layers (a smaller config would report every dropped weight).
        check_depth(config.text_encoder_depth, bert.config.num_hidden_layers, "text_encoder_layers", config.bert_path)
        del bert.encoder.layer[config.text_encoder_depth:]
        bert.config.num_hidden_layers = config.text_encoder_depth
        return bert
    if config.bert_config is not None:  # a saved model's recorded mBERT: same sizes, random init
        return BertModel(BertConfig.from_dict(config.bert_config), add_pooling_layer=False)
    bert_config = BertConfig(
        vocab_size=config.bert_vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.text_encoder_depth,
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
                scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
                token_embedding = MBartScaledWordEmbedding(config.vocab_size, config.d_model,
                                                           config.pad_token_id, embed_scale=scale)
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

    mbart: an ``MBartEncoder`` of ``config.text_encoder_depth`` layers, otherwise shaped like
    ``mbart_config`` (the seq2seq model's), whose ``embed_tokens`` is replaced by ``token_embedding``
    (shared with the seq2seq model); ``init_from`` (a pretrained ``MBartEncoder`` with at least as many
    layers) gives the weights of its first layers, positions and LayerNorms. mbert: ``bert`` +
    ``Linear(hidden, d_model)``.
    """

    def __init__(self, config: QBSLTConfig, token_embedding: nn.Embedding | None = None,
                 bert: BertModel | None = None, mbart_config: MBartConfig | None = None,
                 init_from: MBartEncoder | None = None):
        super().__init__()
        self.text_model = config.text_model
        if config.text_model == "mbart":
            mbart_config = copy.deepcopy(mbart_config if mbart_config is not None else build_mbart_config(config))
            mbart_config.encoder_layers = config.text_encoder_depth
            self.encoder = MBartEncoder(mbart_config)
            if init_from is not None:
                own = self.encoder.state_dict()
                state = {k: v for k, v in init_from.state_dict().items()
                         if k in own and not k.startswith("embed_tokens.")}  # layers beyond ours are not taken
                missing, _ = self.encoder.load_state_dict(state, strict=False)
                assert all(k.startswith("embed_tokens.") for k in missing), missing
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


__all__ = ["TextEmbedding", "TextEncoder", "build_bert", "build_mbart_config", "check_depth"]
