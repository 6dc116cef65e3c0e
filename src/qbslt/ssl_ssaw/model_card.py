"""The model card (``README.md``) of a trained model folder, in the Hugging Face style: YAML front
matter between ``---`` lines (``library_name``, ``license``, ``language``, ``tags``), then Markdown.

Written by ``qbslt.ssl_ssaw.run.save_model`` from what it holds when it saves: the model's config,
the folder's ``pipeline.json`` dict, the variant, the training settings and the dev / test scores.
Nothing is guessed: a profile or seed that is not passed in is not mentioned. No network, no Hub.
Plain text only (no torch), so this module imports nothing heavy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from qbslt.atomic import atomic_write_text
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig

CARD_FILE = "README.md"
# The spoken language each dataset translates into (ISO 639-1, the model card's ``language``).
DATASET_LANGUAGES = {"phoenix": "de", "csl": "zh"}
# Frames smaller than this (the embedded and realtext profiles render 40x32) are drawn, not filmed
# (the same test as ``qbslt translate``'s warning).
RENDERED_MAX_SIZE = 64
RENDERED_NOTE = "Trained on rendered (synthetic) video; it does not translate filmed signing."
SCORE_COLUMNS = (("bleu1", "BLEU-1"), ("bleu2", "BLEU-2"), ("bleu3", "BLEU-3"), ("bleu4", "BLEU-4"),
                 ("rouge_l", "ROUGE-L"))
TRAIN_COLUMNS = (("epochs", "epochs"), ("lr", "learning rate"), ("batch_size", "batch size"))


def _yaml(value: Any) -> str:
    """A YAML scalar (a JSON string or number is one), so no name can break the front matter."""
    return json.dumps(value, ensure_ascii=False)


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join("–" if c is None else str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def is_rendered(frame_size: list[int] | tuple[int, ...] | None) -> bool:
    """Whether frames of ``frame_size`` are the renderer's (below 64 pixels); False when unknown."""
    return bool(frame_size) and max(frame_size) < RENDERED_MAX_SIZE


def model_card(config: QBSLTConfig, pipeline: Mapping[str, Any], variant: str, *,
               train: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None,
               profile: str | None = None, seed: int | None = None) -> str:
    """The text of the card. ``pipeline``: the folder's pipeline.json dict (``dataset``, ``frame_size``,
    ...); ``train``: the run's ``train`` settings (``stage1`` / ``stage2`` with epochs, lr, batch_size);
    ``metrics``: {split: {bleu1.., rouge_l}} for dev / test, optionally ``epochs`` and ``best_epoch``."""
    dataset = pipeline.get("dataset")
    language = DATASET_LANGUAGES.get(dataset)
    tags = ["qbslt", "sign-language-translation", "question-based-slt", variant]
    if dataset:
        tags.append(dataset)
    front = ["---", "library_name: qbslt", "license: mit"]
    if language:
        front += ["language:", f"- {_yaml(language)}"]
    front += ["tags:", *(f"- {_yaml(t)}" for t in tags), "---"]

    where = f"dataset `{dataset}`" if dataset else "an unrecorded dataset"
    body = ["", f"# QB-SLT `{variant}` ({dataset or 'unknown dataset'})", "",
            f"Question-based sign language translation (SSL-SSAW, arXiv 2509.14036): variant `{variant}`, "
            f"trained on {where}" + (f", profile `{profile}`" if profile else "")
            + (f", seed {seed}" if seed is not None else "") + "."]
    if is_rendered(pipeline.get("frame_size")):
        body += ["", f"**{RENDERED_NOTE}**"]

    body += ["", "## Model", ""]
    body += _table(["setting", "value"], [
        ["backbone", f"{config.backbone} ({'frozen' if config.freeze_backbone else 'trained'})"],
        ["text model", config.text_model], ["fusion", config.fusion], ["inputs", config.inputs],
        ["sign input", config.sign_input], ["question self-supervision (ssl)", config.ssl],
        # Which reading of Eq. 5-7 decides what the decoder is given at inference: none without ssl.
        ["ssl reading (Eq. 5-7)", config.ssl_reading if config.ssl else None],
        ["alignment (stage 1)", config.alignment], ["d_model", config.d_model],
        ["encoder / decoder layers", f"{config.encoder_layers} / {config.decoder_layers}"],
        ["decoder vocabulary", config.vocab_size],
        ["frame size", "x".join(map(str, pipeline.get("frame_size") or [])) or None],
        ["evaluation level", pipeline.get("level")]])

    stages = [(name, train[name]) for name in ("stage1", "stage2") if isinstance((train or {}).get(name), Mapping)]
    if stages:
        body += ["", "## Training", ""]
        body += _table(["stage", *(label for _, label in TRAIN_COLUMNS)],
                       [[name, *(settings.get(key) for key, _ in TRAIN_COLUMNS)] for name, settings in stages])
        if metrics and metrics.get("epochs") is not None:
            best = metrics.get("best_epoch")
            body += ["", f"Stage 2 ran {metrics['epochs']} epochs"
                     + (f"; the saved weights are those of epoch {best}." if best is not None else ".")]

    splits = [s for s in ("dev", "test") if isinstance((metrics or {}).get(s), Mapping)]
    body += ["", "## Evaluation", ""]
    if splits:
        body += _table(["split", *(label for _, label in SCORE_COLUMNS)],
                       [[s, *(metrics[s].get(key) for key, _ in SCORE_COLUMNS)] for s in splits])
    else:
        body += ["No scores were recorded with this folder."]

    body += ["", "## Usage", "", "```python",
             "import qbslt.ssl_ssaw.modeling_ssl_ssaw  # registers model_type \"qbslt\" with the transformers Auto classes",
             "from transformers import AutoModel", "", "model = AutoModel.from_pretrained(\"path/to/this/folder\")",
             "```", "",
             "or `qbslt translate --checkpoint path/to/this/folder --video ... --question ...` "
             "(preprocessing from `pipeline.json`, tokenizers from `tokenizer/` and `text_tokenizer/`)."]
    return "\n".join(front + body) + "\n"


def write_model_card(folder: Path | str, config: QBSLTConfig, pipeline: Mapping[str, Any], variant: str,
                     **details: Any) -> Path:
    """Write :func:`model_card` to ``folder/README.md`` atomically; its path."""
    path = Path(folder) / CARD_FILE
    atomic_write_text(path, model_card(config, pipeline, variant, **details))
    return path


__all__ = ["CARD_FILE", "DATASET_LANGUAGES", "RENDERED_NOTE", "is_rendered", "model_card", "write_model_card"]
