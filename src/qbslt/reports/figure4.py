"""Figure 4: SSAW sigmoid weights over the fused sequence (question tokens | video positions).

Input: one ``results/ssaw/<dataset>/<variant>/seed<k>.json`` of the result contract (written for
the SSAW fusion only). For each shown example a 1×L heat strip: one cell per question *word*
(the mean weight of its sub-word tokens, as the paper does), then one cell per video position,
with a black dashed line between the two parts. The title is ``question % reference`` (the
paper's "Reference" line). The ``top_k`` question words with the highest weight are framed by a
red rectangle and their labels set in bold red. Special tokens (``<s>``, ``</s>``, ``[CLS]``,
language codes such as ``de_DE``) keep their own cell but are never highlighted.

Sub-word merging (:func:`merge_subwords`): if any token starts with ``▁`` (sentencepiece, as
mBART's), a token starting with ``▁`` begins a word and every other non-special token continues
the previous one; otherwise every token is a word unless it starts with ``##`` (BERT
WordPiece), which continues the previous one. Our embedded word-level tokenizer gives one token
per word, so words = tokens there.

Example rule: the first ``n_examples`` examples of the file, in file order (the training code
stores the first test examples in test-set order).

:func:`weights_frame` gives the same cells as a table (``figure4_weights.csv``, the data of
``dvc plots show``'s Figure 4): one row per cell of each strip.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from qbslt.atomic import atomic_paths  # noqa: E402
from qbslt.errors import ResultError  # noqa: E402
from qbslt.reports.results import read_json  # noqa: E402

SP_PREFIX = "▁"
WP_PREFIX = "##"
_SPECIAL = re.compile(r"^(<[^<>\s]+>|\[[A-Z]+\]|[a-z]{2}_[A-Z]{2})$")


def is_special(token: str) -> bool:
    """``<s>``/``</s>``/``<pad>``/``<q>``, ``[CLS]``/``[SEP]``, mBART language codes (``de_DE``)."""
    return bool(_SPECIAL.match(token))


@dataclass
class Word:
    text: str
    indices: list[int]  # token positions in the question part
    special: bool = False


def merge_subwords(tokens: list[str]) -> list[Word]:
    """Group question tokens into words (see the module docstring for the rule)."""
    sentencepiece = any(t.startswith(SP_PREFIX) for t in tokens)
    words: list[Word] = []
    for i, tok in enumerate(tokens):
        if is_special(tok):
            words.append(Word(tok, [i], special=True))
            continue
        if sentencepiece:
            starts = tok.startswith(SP_PREFIX)
            piece = tok[len(SP_PREFIX):] if starts else tok
        else:
            starts = not tok.startswith(WP_PREFIX)
            piece = tok if starts else tok[len(WP_PREFIX):]
        if starts or not words or words[-1].special:
            words.append(Word(piece, [i]))
        else:
            words[-1].text += piece
            words[-1].indices.append(i)
    for w in words:
        if not w.text:
            w.text = SP_PREFIX  # a lone "▁" piece
    return words


def word_weights(example: dict) -> tuple[list[Word], np.ndarray, np.ndarray]:
    """(question words, their mean weights, video-position weights) of one stored example."""
    split = int(example["split"])
    tokens = list(example["question_tokens"])
    weights = np.asarray(example["weights"], dtype=float)
    if len(tokens) != split:
        raise ValueError(f"example {example.get('name')!r}: {len(tokens)} question tokens but split = {split}")
    if weights.ndim != 1 or len(weights) < split:
        raise ValueError(f"example {example.get('name')!r}: weights must be a list of >= split floats")
    words = merge_subwords(tokens)
    q = np.array([weights[w.indices].mean() for w in words]) if words else np.zeros(0)
    video = weights[split:]
    video_len = example.get("video_len")
    if video_len is not None and int(video_len) != len(video):
        raise ValueError(f"example {example.get('name')!r}: {len(video)} video weights but video_len = {video_len}")
    return words, q, video


def load_examples(ssaw_json: Path) -> list[dict]:
    """The stored examples of an SSAW weights file (ResultError naming the file if it is unreadable or
    holds no SSAW weights)."""
    data = read_json(Path(ssaw_json))
    if not isinstance(data, dict):
        raise ResultError(f"{ssaw_json}: expected a JSON object, found {type(data).__name__}")
    if data.get("fusion") != "ssaw" or not data.get("examples"):
        raise ResultError(f"{ssaw_json}: no SSAW weights (fusion={data.get('fusion')!r}); Figure 4 needs an SSAW "
                          f"variant")
    if not isinstance(data["examples"], list) or not all(isinstance(ex, dict) for ex in data["examples"]):
        raise ResultError(f"{ssaw_json}: 'examples' must be a list of objects")
    return data["examples"]


def prepared_examples(ssaw_json: Path, n_examples: int) -> list[tuple[dict, list[Word], np.ndarray, np.ndarray]]:
    """(example, words, word weights, video weights) of the first ``n_examples`` stored examples."""
    prepared = []
    for ex in load_examples(ssaw_json)[:n_examples]:
        try:
            prepared.append((ex, *word_weights(ex)))
        except (KeyError, TypeError, ValueError) as e:
            detail = f"missing key {e}" if isinstance(e, KeyError) else " ".join(str(e).split())
            raise ResultError(f"{ssaw_json}: example {ex.get('name')!r}: {detail}") from None
    return prepared


def top_words(words: list[Word], q: np.ndarray, top_k: int) -> list[int]:
    """Indices of the ``top_k`` highest-weight non-special words (ties: earlier word first)."""
    candidates = [i for i, w in enumerate(words) if not w.special]
    return sorted(sorted(candidates, key=lambda i: (-q[i], i))[:top_k])


WEIGHT_COLUMNS = ["example", "rank", "name", "index", "cell", "part", "token", "weight", "highlight"]


def weights_frame(ssaw_json: Path, n_examples: int = 3, top_k: int = 2) -> pd.DataFrame:
    """Figure 4's cells as a table: for each of the first ``n_examples`` examples (``example``:
    "rank. question % reference"), one row per question word, then per video position (``part``),
    in strip order (``index``); ``cell`` is a unique, sortable label (``"03 Wetter"``,
    ``"07 v2"``), ``highlight`` 1 for the ``top_k`` framed words."""
    rows = []
    for rank, (ex, words, q, video) in enumerate(prepared_examples(ssaw_json, n_examples), start=1):
        highlight = set(top_words(words, q, top_k))
        tokens = [("question", w.text, float(q[i]), int(i in highlight)) for i, w in enumerate(words)]
        tokens += [("video", f"v{k}", float(x), 0) for k, x in enumerate(video)]
        width = len(str(len(tokens) - 1))
        example = f"{rank}. {ex.get('question', '')} % {ex.get('reference', '')}"
        for index, (part, token, weight, framed) in enumerate(tokens):
            rows.append({"example": example, "rank": rank, "name": ex.get("name", ""), "index": index,
                         "cell": f"{index:0{width}d} {token}", "part": part, "token": token,
                         "weight": round(weight, 6), "highlight": framed})
    return pd.DataFrame(rows, columns=WEIGHT_COLUMNS)


def render_figure4(ssaw_json: Path, out_png: Path, out_pdf: Path, n_examples: int = 3, top_k: int = 2,
                   dpi: int = 150) -> list[Path]:
    """Draw the first ``n_examples`` stored examples' weight strips; write PNG and PDF."""
    prepared = prepared_examples(ssaw_json, n_examples)
    all_w = np.concatenate([np.concatenate([q, v]) for _, _, q, v in prepared])
    vmin, vmax = float(all_w.min()), float(all_w.max())
    if vmax - vmin < 1e-12:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    longest = max(len(q) + len(v) for _, _, q, v in prepared)
    width = min(max(8.0, 0.32 * longest + 2.0), 24.0)
    fig, axes = plt.subplots(len(prepared), 1, figsize=(width, 1.9 * len(prepared) + 0.4), squeeze=False,
                             layout="constrained")
    image = None
    for ax, (ex, words, q, video) in zip(axes[:, 0], prepared):
        strip = np.concatenate([q, video])[None, :]
        image = ax.imshow(strip, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        n_q = len(q)
        ax.axvline(n_q - 0.5, color="black", linestyle="--", linewidth=1.5)
        labels = [w.text for w in words] + [str(i) for i in range(len(video))]
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks([])
        highlight = top_words(words, q, top_k)
        for i in highlight:
            ax.add_patch(Rectangle((i - 0.5, -0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.2))
            tick = ax.get_xticklabels()[i]
            tick.set_color("red")
            tick.set_fontweight("bold")
        title = f"{ex['question']} % {ex['reference']}"
        ax.set_title("\n".join(textwrap.wrap(title, width=int(width * 12))), fontsize=9, loc="left", pad=14)
        ax.text(n_q / 2 - 0.5, 1.02, "question words", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=7, color="dimgray")
        ax.text(n_q + len(video) / 2 - 0.5, 1.02, "video positions", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7, color="dimgray")
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), fraction=0.03, pad=0.01, label="SSAW weight")
    out_png, out_pdf = Path(out_png), Path(out_pdf)
    try:
        # Whole or nothing: both land under temporary names (hence the explicit format), then renamed.
        with atomic_paths(out_png, out_pdf) as (tmp_png, tmp_pdf):
            fig.savefig(tmp_png, dpi=dpi, format="png")
            fig.savefig(tmp_pdf, format="pdf")
    finally:
        plt.close(fig)
    return [out_png, out_pdf]
