"""Figure 4: SSAW sigmoid weights over the fused sequence (question tokens | video positions), and
its test-wide statistic.

**What is plotted.** ``SSAWFusion`` weights the fused sequence f_c by σ(f_f) (Eq. 3-4), one weight
in (0, 1) per position and channel. A cell is σ(f_f) averaged over the d_model channels of one
position (a question token, or a video position); a question *word*'s cell is the mean of its
sub-word tokens' cells, as in the paper. The paper calls its map an "attention weight heatmap" of
"the weight map generated ... using the SSAW module" and states neither the channel reduction nor
the colour scale, so it is the same quantity only if its map is σ(f_f) reduced over channels (the
only per-position weight SSAW makes; the self-attention probabilities are an L × L map).

**Colour scale.** Fixed: 0 to 1 (:data:`COLOUR_RANGE`), the sigmoid's whole range, for every
strip and every run, never the data's min-max. The weight multiplies the features, so equal
colour distances are equal differences in how much of a feature passes; since σ(f_f) is the
sigmoid of a LayerNorm output its channel mean stays near 0.5, and a min-max scale would stretch a
gap of 0.01 over the whole colour range.

**The strips** (:func:`draw_figure4`), from one ``results/ssaw/<dataset>/<variant>/seed<k>.json``
of the result contract (written for the SSAW fusion only): for each shown example a 1×L heat
strip, one cell per question word, then one per video position, with a black dashed line between
the two parts. The title is ``question % reference``: "%" separates the question from the
reference translation (the paper's "Reference" line). The ``top_k`` question words with the highest
weight *in that strip* are framed by a red rectangle and their labels set in bold red; they are
the highest of the strip, not significantly so. Special tokens (``<s>``, ``</s>``, ``[CLS]``,
language codes such as ``de_DE``) keep their own cell but are never highlighted. Right of each
title: that example's mean over its question tokens and over its video positions.

Sub-word merging (:func:`merge_subwords`): if any token starts with ``▁`` (sentencepiece, as
mBART's), a token starting with ``▁`` begins a word and every other non-special token continues
the previous one; otherwise every token is a word unless it starts with ``##`` (BERT
WordPiece), which continues the previous one. Our embedded word-level tokenizer gives one token
per word, so words = tokens there.

Example rule: the first ``n_examples`` examples of the file, in file order (the training code
stores the first test examples in test-set order).

**The statistic** (:func:`stats_frame`, ``plots/figure4.csv``): three examples cannot carry "the
question weighs more than the video", so every run also stores, for *every* test example, the
mean weight over its question tokens (special tokens included: every position of the question
part) and over its video positions (``test_summary``, written by the training's test decoding).
One row per seed of the figure's variant, then ``all``: ``seed, n_examples, question_mean,
video_mean, difference, ci_low, ci_high``; ``difference`` = question − video, the mean over test
examples of each example's difference (paired), with a 95 % percentile bootstrap interval over
test examples (:func:`bootstrap_interval`: ``eval.bootstrap_samples`` resamples, fixed seed
:data:`BOOTSTRAP_SEED`). ``all`` averages each example's means over the seeds first (the seeds
must hold the same test examples), then proceeds as for one seed: the mean over seeds, with an
interval over test examples (the per-seed rows show the spread across seeds).

:func:`weights_frame` gives the strips' cells as a table (``figure4_weights.csv``, the data of
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
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from qbslt.atomic import atomic_paths, atomic_write_text  # noqa: E402
from qbslt.errors import ResultError  # noqa: E402
from qbslt.reports.results import read_json  # noqa: E402

SP_PREFIX = "▁"
WP_PREFIX = "##"
_SPECIAL = re.compile(r"^(<[^<>\s]+>|\[[A-Z]+\]|[a-z]{2}_[A-Z]{2})$")

# The colour scale of every strip: the sigmoid's range (module docstring, "Colour scale").
COLOUR_RANGE = (0.0, 1.0)
# What a cell is, in the figure's own words (its heading and colour-bar label).
QUANTITY = "SSAW weight σ(f_f) (Eq. 4), mean over the d_model channels of each position"
# The statistic's interval: a percentile bootstrap over test examples, with the tables' bootstrap
# seed (qbslt.reports.tables.render_all), so the file is the same on every run of the same results.
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 12345
ALL_SEEDS = "all"
STATS_COLUMNS = ["seed", "n_examples", "question_mean", "video_mean", "difference", "ci_low", "ci_high"]


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


# ---------------------------------------------------------------------------------------------
# The statistic: question vs video weight over the whole test split


def load_test_summary(ssaw_json: Path) -> tuple[int, pd.DataFrame]:
    """(seed, one row per test example: name, question_mean, video_mean) of an SSAW weights file;
    examples with an empty part (no question tokens or no video) are left out. ResultError naming
    the file when it has no such summary (a file of an earlier qbslt: rerun the training)."""
    data = read_json(Path(ssaw_json))
    if not isinstance(data, dict) or data.get("fusion") != "ssaw":
        raise ResultError(f"{ssaw_json}: no SSAW weights; Figure 4 needs an SSAW variant")
    summary, seed = data.get("test_summary"), data.get("seed")
    if not isinstance(summary, list) or not summary or not isinstance(seed, int):
        raise ResultError(f"{ssaw_json}: no 'test_summary' and 'seed' (written by an earlier qbslt?): rerun the "
                          f"training of this run for Figure 4's statistic")
    try:
        frame = pd.DataFrame([{key: row[key] for key in ("name", "question_mean", "video_mean")} for row in summary])
        frame[["question_mean", "video_mean"]] = frame[["question_mean", "video_mean"]].astype(float)
    except (KeyError, TypeError, ValueError) as e:
        detail = f"missing key {e}" if isinstance(e, KeyError) else " ".join(str(e).split())
        raise ResultError(f"{ssaw_json}: test_summary: {detail}") from None
    if frame["name"].duplicated().any():
        raise ResultError(f"{ssaw_json}: test_summary names an example twice")
    return seed, frame.dropna().reset_index(drop=True)


def bootstrap_interval(differences: np.ndarray, n_samples: int, seed: int = BOOTSTRAP_SEED,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``differences`` (one per test example, paired:
    question minus video of the same example): ``n_samples`` resamples of the examples with
    replacement, from ``numpy.random.default_rng(seed)``."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) == 0 or n_samples < 1:
        raise ValueError(f"a bootstrap needs examples and resamples (got {len(differences)} and {n_samples})")
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), size=(n_samples, len(differences)))].mean(axis=1)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _stats_row(seed: int | str, frame: pd.DataFrame, n_samples: int, bootstrap_seed: int) -> dict:
    differences = (frame["question_mean"] - frame["video_mean"]).to_numpy()
    low, high = bootstrap_interval(differences, n_samples, bootstrap_seed)
    return {"seed": seed, "n_examples": len(frame), "question_mean": frame["question_mean"].mean(),
            "video_mean": frame["video_mean"].mean(), "difference": differences.mean(), "ci_low": low,
            "ci_high": high}


def stats_frame(ssaw_jsons: list[Path], n_samples: int, bootstrap_seed: int = BOOTSTRAP_SEED,
                decimals: int = 6) -> pd.DataFrame:
    """Figure 4's statistic (module docstring, "The statistic"): one row per seed of ``ssaw_jsons``
    (the SSAW weights files of one variant, one per seed), in seed order, then the ``all`` row;
    :data:`STATS_COLUMNS`, floats rounded to ``decimals``."""
    if not ssaw_jsons:
        raise ResultError("Figure 4's statistic needs at least one SSAW weights file")
    per_seed: dict[int, pd.DataFrame] = {}
    names: set[str] | None = None
    for path in ssaw_jsons:
        seed, frame = load_test_summary(Path(path))
        if seed in per_seed:
            raise ResultError(f"{path}: seed {seed} given twice")
        if frame.empty:
            raise ResultError(f"{path}: no test example has both question tokens and video positions")
        if names is not None and set(frame["name"]) != names:
            raise ResultError(f"{path}: other test examples than the first file's: the seeds must share one test split")
        names = set(frame["name"])
        per_seed[seed] = frame.set_index("name")
    rows = [_stats_row(seed, per_seed[seed].reset_index(), n_samples, bootstrap_seed) for seed in sorted(per_seed)]
    pooled = pd.concat(per_seed.values()).groupby(level="name", sort=False).mean().reset_index()
    rows.append(_stats_row(ALL_SEEDS, pooled, n_samples, bootstrap_seed))
    return pd.DataFrame(rows, columns=STATS_COLUMNS).round(decimals)


def write_stats(ssaw_jsons: list[Path], out_csv: Path, n_samples: int,
                bootstrap_seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Write :func:`stats_frame` as CSV (``plots/figure4.csv``); returns it."""
    frame = stats_frame(ssaw_jsons, n_samples, bootstrap_seed)
    atomic_write_text(Path(out_csv), frame.to_csv(index=False))
    return frame


# ---------------------------------------------------------------------------------------------
# The figure


def colour_norm() -> Normalize:
    """The fixed colour scale of every strip (:data:`COLOUR_RANGE`)."""
    return Normalize(*COLOUR_RANGE)


def _heading(top_k: int, stats: dict | None) -> str:
    """The figure's caption line: what a cell is, the scale, the boxes, the "%", and with ``stats``
    (the drawn seed's row of :func:`stats_frame`) the whole test split's difference."""
    low, high = COLOUR_RANGE
    lines = [f"{QUANTITY}; fixed colour scale {low:g}-{high:g} (the sigmoid's range).",
             f"Red boxes: the {top_k} question words with the highest weight in the strip. "
             f"Title: question % reference translation."]
    if stats is not None:
        lines.append(f"Whole test split, seed {stats['seed']} ({stats['n_examples']} examples): question "
                     f"{stats['question_mean']:.4f}, video {stats['video_mean']:.4f}, difference "
                     f"{stats['difference']:+.4f} ({CONFIDENCE:.0%} CI {stats['ci_low']:+.4f} to "
                     f"{stats['ci_high']:+.4f}).")
    return "\n".join(lines)


def draw_figure4(ssaw_json: Path, n_examples: int = 3, top_k: int = 2, stats: dict | None = None) -> Figure:
    """The figure of the first ``n_examples`` stored examples' weight strips, on the fixed colour
    scale (:func:`colour_norm`); ``stats``: the drawn seed's row of :func:`stats_frame`, quoted in
    the heading. The caller closes it (``plt.close``)."""
    prepared = prepared_examples(ssaw_json, n_examples)
    longest = max(len(q) + len(v) for _, _, q, v in prepared)
    width = min(max(8.0, 0.32 * longest + 2.0), 24.0)
    fig, axes = plt.subplots(len(prepared), 1, figsize=(width, 1.9 * len(prepared) + 1.0), squeeze=False,
                             layout="constrained")
    fig.suptitle(_heading(top_k, stats), fontsize=8, x=0.01, ha="left")
    image = None
    for ax, (ex, words, q, video) in zip(axes[:, 0], prepared):
        strip = np.concatenate([q, video])[None, :]
        image = ax.imshow(strip, aspect="auto", cmap="viridis", norm=colour_norm(), interpolation="nearest")
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
        # Wrapped short enough to leave room for the means on the right (about 2.6 in at fontsize 7).
        ax.set_title("\n".join(textwrap.wrap(title, width=int(width * 8))), fontsize=9, loc="left", pad=14)
        split = int(ex["split"])
        means = [f"{part} mean {np.mean(w):.4f}" for part, w in
                 (("question", ex["weights"][:split]), ("video", ex["weights"][split:])) if len(w)]
        ax.set_title(", ".join(means), fontsize=7, loc="right", pad=14, color="dimgray")
        ax.text(n_q / 2 - 0.5, 1.02, "question words", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=7, color="dimgray")
        ax.text(n_q + len(video) / 2 - 0.5, 1.02, "video positions", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7, color="dimgray")
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), fraction=0.03, pad=0.01,
                     label="SSAW weight σ(f_f), channel mean")
    return fig


def render_figure4(ssaw_json: Path, out_png: Path, out_pdf: Path, n_examples: int = 3, top_k: int = 2,
                   dpi: int = 150, stats: dict | None = None) -> list[Path]:
    """Draw the first ``n_examples`` stored examples' weight strips (:func:`draw_figure4`); write PNG
    and PDF."""
    fig = draw_figure4(ssaw_json, n_examples, top_k, stats)
    out_png, out_pdf = Path(out_png), Path(out_pdf)
    try:
        # Whole or nothing: both land under temporary names (hence the explicit format), then renamed.
        with atomic_paths(out_png, out_pdf) as (tmp_png, tmp_pdf):
            # No creation date or software stamp: the bytes depend on the weights and matplotlib only.
            fig.savefig(tmp_png, dpi=dpi, format="png", metadata={"Software": None})
            fig.savefig(tmp_pdf, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    finally:
        plt.close(fig)
    return [out_png, out_pdf]
