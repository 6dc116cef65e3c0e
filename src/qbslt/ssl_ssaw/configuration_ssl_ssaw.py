"""``QBSLTConfig``: every hyper-parameter of the SSL-SSAW model in one JSON-serialisable dataclass.

The fields mirror the paper's ablation axes:

* ``backbone`` / ``text_model``   Table 6 (ShuffleNet | ResNet  x  mBERT | mBART),
* ``fusion``                      Table 5 (Concat | LSTM | TCN | SSAW),
* ``ssl``                         Table 4 (question self-supervision, Eq. 5-7),
* ``ssl_reading``                 which reading of Eq. 5-7 ``ssl`` trains (prefix | auxiliary; ours, not
                                  the paper's: docs/model-choices.md, "SSL: two readings of Eq. 5-7"),
* ``inputs``                      Table 7 (question only | sign only | both),
* ``alignment``                   Table 3 (stage-1 contrastive alignment strategy).

Size fields (``d_model`` ... ``vocab_size``, ``scale_embedding``) describe the randomly initialised
mBART / BERT used when ``mbart_path`` / ``bert_path`` is ``None``. A path is a local folder or a
Hugging Face Hub id; ``mbart_revision`` / ``bert_revision`` pin a hub id to one commit of its
repository (:func:`hub_kwargs`, the one place that decides when a revision is passed on). When a
pretrained path is given, the model overwrites the size fields of its own copy of the config with
the checkpoint's values (``QBSLTModel.config`` then records what actually runs, so that the recorded
config rebuilds the same model without the checkpoint).

Layer counts are honoured in both cases: the Video Encoder has ``encoder_layers`` layers, the Text
Decoder ``decoder_layers`` and the stage-1 Text Encoder ``text_encoder_layers`` (``None``: as many as
the Video Encoder). From a pretrained checkpoint each part takes that many of its *first* layers,
as GFSLT-VLP takes the first 3 encoder / 3 decoder layers of mbart-large-cc25 while its stage-1
text encoder keeps all 12.

Special token ids are ids of the *decoder* (mBART) vocabulary. The text-model tokenizer of the
mBERT variant has its own ids; the model never needs them because every text input comes with
an explicit mask.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from qbslt.model.configuration import BACKBONES, HUB_REVISION, PRETRAINED_REVISIONS, ModelConfig, VideoConfig

TEXT_MODELS = ("mbart", "mbert")
FUSIONS = ("concat", "lstm", "tcn", "ssaw")
INPUTS = ("both", "sign", "question")
# Where the sign stream comes from: the video, or the sample's gloss sequence as tokens (the text
# reference systems gloss_text / question_gloss_text, which bound what the video can carry).
SIGN_INPUTS = ("video", "gloss")
ALIGNMENTS = ("vector", "text_to_video", "video_to_text")
# The two readings of the question self-supervision (Eq. 5-7; qbslt.ssl_ssaw.modeling_ssl_ssaw):
#   prefix     one decoder pass over D_M + <q> + S: the question is the decoder prefix of the translation,
#              in training and (the gold question, forced) at inference;
#   auxiliary  L_D in a decoder pass of its own (<q> + D_M), the translation pass [start] + S has no
#              question prefix, nor does decoding: the question reaches the translation only through
#              the encoder side (fusion + Video Encoder, the h_j of Eq. 6).
SSL_READINGS = ("prefix", "auxiliary")


@dataclass
class QBSLTConfig(ModelConfig, VideoConfig):
    model_type: ClassVar[str] = "qbslt"

    # ---- video embedding: VideoConfig's fields (backbone ... input_norm, d_model, skeleton) ----

    # ---- text side ----
    text_model: str = "mbart"             # text embedding / stage-1 text encoder: "mbart" | "mbert"
    mbart_path: str | None = None         # local save_pretrained dir or hub id of MBartForConditionalGeneration
    bert_path: str | None = None          # local save_pretrained dir or hub id of BertModel (mBERT)
    # The hub commit a hub-id path is loaded at (None: a local folder, or the hub's default branch).
    mbart_revision: str | None = None
    bert_revision: str | None = None

    # ---- transformer sizes (random init only; overwritten from a pretrained checkpoint; d_model: VideoConfig's) ----
    encoder_layers: int = 2               # Video Encoder (first layers of a pretrained encoder)
    decoder_layers: int = 2               # Text Decoder (first layers of a pretrained decoder)
    text_encoder_layers: int | None = None  # stage-1 Text Encoder; None => encoder_layers
    attention_heads: int = 4
    ffn_dim: int = 1024
    dropout: float = 0.1
    max_positions: int = 512
    scale_embedding: bool = False         # mBART's sqrt(d_model) token-embedding scale (True in mbart-large-cc25)
    vocab_size: int = 1000                # decoder (mBART) vocabulary
    bert_vocab_size: int = 1000           # mBERT vocabulary (random-init mBERT only)
    # The BertConfig of a loaded mBERT (its own sizes), recorded when the model is built from
    # bert_path, so that a saved model rebuilds without the checkpoint (``qbslt translate``).
    bert_config: dict | None = None

    # ---- special token ids (decoder vocabulary) ----
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    unk_token_id: int = 3
    mask_token_id: int = 4
    sep_question_token_id: int = 5        # separates question and translation in the SSL decoder sequence
    decoder_start_token_id: int | None = None  # None => eos (mBART's shift_tokens_right of "... </s>")

    # ---- method switches ----
    fusion: str = "ssaw"
    inputs: str = "both"
    ssl: bool = True
    alignment: str = "vector"
    contrastive_dim: int = 256
    label_smoothing: float = 0.1
    # Eq. 7 weight of L_D (question reconstruction): loss = ssl_weight * L_D + L_S; the paper's is 1.
    ssl_weight: float = 1.0
    # Which reading of Eq. 5-7 ``ssl`` trains (SSL_READINGS above). Like ``ssl_weight`` it means nothing
    # without ``ssl`` and is then ignored (not refused): flipping the base default to the reading dev
    # chooses must not break the variants that run without SSL (gfslt_vlp, qb_concat, sign_only, ...).
    ssl_reading: str = "prefix"
    sign_input: str = "video"
    gloss_vocab_size: int = 0             # sign_input="gloss": the gloss tokenizer's size

    # ------------------------------------------------------------------------------------------
    @property
    def text_encoder_depth(self) -> int:
        return self.encoder_layers if self.text_encoder_layers is None else self.text_encoder_layers

    @property
    def question_prefix(self) -> bool:
        """Whether the decoder reads the question (D_M + <q>) as the prefix of the translation, in
        training and at inference: ``ssl`` in its ``prefix`` reading only."""
        return self.ssl and self.ssl_reading == "prefix"

    def validate(self) -> None:
        bad = self.bad
        choices = {"backbone": tuple(BACKBONES), "text_model": TEXT_MODELS, "fusion": FUSIONS,
                   "inputs": INPUTS, "alignment": ALIGNMENTS, "sign_input": SIGN_INPUTS,
                   "ssl_reading": SSL_READINGS}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise bad(key, f"{getattr(self, key)!r} is not one of {', '.join(allowed)}")
        for key in ("feature_dim", "d_model", "encoder_layers", "decoder_layers", "attention_heads",
                    "ffn_dim", "max_positions", "vocab_size", "bert_vocab_size", "contrastive_dim",
                    "temporal_kernel"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise bad(key, f"must be a positive integer, got {getattr(self, key)!r}")
        if self.text_encoder_layers is not None and (not isinstance(self.text_encoder_layers, int)
                                                     or self.text_encoder_layers < 1):
            raise bad("text_encoder_layers", f"must be a positive integer or null, got {self.text_encoder_layers!r}")
        for path_key, revision_key in PRETRAINED_REVISIONS.items():
            revision = getattr(self, revision_key)
            if revision is None:
                continue
            if not isinstance(revision, str) or not HUB_REVISION.fullmatch(revision):
                raise bad(revision_key, f"must be a full 40-character hex commit hash or null, got {revision!r}")
            if not getattr(self, path_key):
                raise bad(revision_key, f"set to {revision!r} but {path_key} is null (a revision pins a Hub id)")
        if not isinstance(self.temporal_blocks, int) or self.temporal_blocks < 0:
            raise bad("temporal_blocks", f"must be an integer >= 0, got {self.temporal_blocks!r}")
        if self.temporal_kernel % 2 == 0:
            raise bad("temporal_kernel", f"must be odd ('same' padding), got {self.temporal_kernel}")
        if self.d_model % self.attention_heads:
            raise bad("attention_heads", f"d_model={self.d_model} is not divisible by {self.attention_heads}")
        if self.fusion == "lstm" and self.d_model % 2:
            raise bad("fusion", f"'lstm' (bidirectional, d_model/2 per direction) needs an even d_model, got {self.d_model}")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", f"must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise bad("label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        if self.skeleton and self.inputs == "question":
            raise bad("skeleton", "the skeleton stream is fused into the video embedding; inputs='question' has no video")
        if self.sign_input == "gloss" and self.inputs == "question":
            raise bad("sign_input", "'gloss' replaces the video by the glosses; inputs='question' reads no sign stream")
        if self.sign_input == "gloss" and self.skeleton:
            raise bad("skeleton", "the skeleton stream is fused into the video embedding; sign_input='gloss' has no video")
        if not self.ssl_weight >= 0.0:
            raise bad("ssl_weight", f"must be >= 0, got {self.ssl_weight}")
        if self.ssl and self.inputs == "sign":
            raise bad("ssl", "the question self-supervision (ssl=true) reconstructs the question in the decoder; "
                             "inputs='sign' (no question anywhere, Table 7) needs ssl=false")

    # ---- (de)serialisation ------------------------------------------------------------------
    @classmethod
    def from_params(cls, model: dict[str, Any], **token_fields: Any) -> "QBSLTConfig":
        """The config of a ``model`` tree of params.yaml (one variant's, overrides merged), plus the
        fields only the tokenizers know (``vocab_size``, special token ids, ...; defaults without
        them). The training runs and the DAG-time check of every variant both build it here."""
        return cls(
            backbone=model["backbone"], backbone_pretrained=model["backbone_pretrained"],
            freeze_backbone=model["freeze_backbone"], feature_dim=BACKBONES.get(model["backbone"], 0),
            temporal_blocks=model["temporal_blocks"], temporal_kernel=model["temporal_kernel"],
            input_norm=model["input_norm"],
            text_model=model["text_model"], mbart_path=model["mbart_path"], bert_path=model["bert_path"],
            mbart_revision=model["mbart_revision"], bert_revision=model["bert_revision"],
            d_model=model["d_model"], encoder_layers=model["encoder_layers"],
            decoder_layers=model["decoder_layers"], text_encoder_layers=model["text_encoder_layers"],
            attention_heads=model["attention_heads"], ffn_dim=model["ffn_dim"], dropout=model["dropout"],
            max_positions=model["max_positions"],
            # A stage-1 config has no stage-2 switches (qbslt.config.stage1_config): stage 1 ignores them.
            fusion=model.get("fusion", "concat"), inputs=model.get("inputs", "both"), ssl=model.get("ssl", False),
            alignment=model["alignment"], contrastive_dim=model["contrastive_dim"],
            label_smoothing=model["label_smoothing"],
            # Stage 2 only (qbslt.config.STAGE2_ONLY_MODEL_KEYS): a stage-1 config has no skeleton key.
            skeleton=model.get("skeleton", False), ssl_weight=model.get("ssl_weight", 1.0),
            ssl_reading=model.get("ssl_reading", "prefix"), sign_input=model.get("sign_input", "video"),
            **token_fields)


    @classmethod
    def from_json(cls, text: str) -> "QBSLTConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> "QBSLTConfig":
        return dataclasses.replace(self, **changes)


__all__ = ["QBSLTConfig", "TEXT_MODELS", "FUSIONS", "INPUTS", "ALIGNMENTS", "SIGN_INPUTS", "SSL_READINGS"]
