"""Table 8: example translations with every word marked correct, wrong or [Miss].

Marking (:func:`mark`) aligns a hypothesis with its reference by ``difflib.SequenceMatcher``
(``a`` = reference, ``b`` = hypothesis, ``autojunk=False``) and reads its opcodes:

* ``equal``   → the hypothesis words are *correct*;
* ``replace`` → the hypothesis words are *wrong*; when the reference side is longer, its last
  ``len(ref side) - len(hyp side)`` words are *miss* (shown ``[Miss]``, after the wrong words);
* ``delete``  → reference words absent from the hypothesis: *miss*;
* ``insert``  → hypothesis words absent from the reference: *wrong*.

On the paper's Table 8 sentences this reproduces every ``[Miss]`` the paper prints, except the
first SSL-SSAW row, where the paper omits the missing "auch" (docs/paper-notes.md).

Example rule (:func:`select_examples`): the test examples with the largest sentence-BLEU-4
(:func:`qbslt.eval.metrics.sentence_bleu4`) gain of ``gain_of`` (SSL-SSAW) over ``gain_over``
(GFSLT-VLP), on the predictions of the first seed of the experiment matrix that every shown
variant has (seed 0 when all have it); ties by example name. Tokens are words for PHOENIX and
characters for CSL (:func:`qbslt.eval.metrics.tokenize_for_eval`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Mapping

import pandas as pd

from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import DatasetSpec
from qbslt.reports.results import Results

CORRECT, WRONG, MISS = "correct", "wrong", "miss"
MISS_TEXT = "[Miss]"


def mark(hypothesis_tokens: list[str], reference_tokens: list[str]) -> list[tuple[str, str]]:
    """``(token, "correct" | "wrong" | "miss")`` for a hypothesis against its reference.

    Miss entries carry the missing *reference* token; they are placed where the alignment puts
    them (see the module docstring for the rule).
    """
    hyp, ref = list(hypothesis_tokens), list(reference_tokens)
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, ref, hyp, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [(t, CORRECT) for t in hyp[j1:j2]]
        elif tag == "replace":
            out += [(t, WRONG) for t in hyp[j1:j2]]
            n_hyp = j2 - j1
            if i2 - i1 > n_hyp:
                out += [(t, MISS) for t in ref[i1 + n_hyp:i2]]
        elif tag == "delete":
            out += [(t, MISS) for t in ref[i1:i2]]
        elif tag == "insert":
            out += [(t, WRONG) for t in hyp[j1:j2]]
        else:  # pragma: no cover - difflib has no other tags
            raise ValueError(f"unknown opcode {tag!r}")
    return out


def counts(marked: list[tuple[str, str]]) -> dict[str, int]:
    return {k: sum(1 for _, s in marked if s == k) for k in (CORRECT, WRONG, MISS)}


# ---------------------------------------------------------------------------------------------
# Example selection


@dataclass
class SystemLine:
    variant: str
    label: str
    hypothesis: str
    marked: list[tuple[str, str]]
    sentence_bleu4: float


@dataclass
class Example:
    rank: int
    name: str
    question: str
    reference: str
    gain: float
    systems: list[SystemLine] = field(default_factory=list)


def select_examples(predictions: dict[str, pd.DataFrame], variants: list[dict], level: str, gain_of: str,
                    gain_over: str, n_examples: int = 3) -> list[Example]:
    """The ``n_examples`` test examples with the largest sentence-BLEU-4 gain of ``gain_of``
    over ``gain_over`` (ties by name), each with every variant's marked hypothesis.

    ``predictions`` maps variant → predictions frame; ``variants`` is the layout's list of
    ``{variant, label}`` in display order. Only examples present in every frame are considered.
    """
    # Imported here: qbslt.eval.metrics loads rouge_score/nltk/scipy (seconds), and the Snakefile
    # imports this package's tables module only for its layout functions.
    from qbslt.eval.metrics import sentence_bleu4, tokenize_for_eval

    names = None
    for v in predictions.values():
        names = set(v["name"]) if names is None else names & set(v["name"])
    by_name = {v: f.set_index("name") for v, f in predictions.items()}
    ref_frame = by_name[gain_of]
    scored = []
    for name in sorted(names or ()):
        ref = ref_frame.at[name, "reference"]
        gain = (sentence_bleu4(by_name[gain_of].at[name, "hypothesis"], ref, level)
                - sentence_bleu4(by_name[gain_over].at[name, "hypothesis"], ref, level))
        scored.append((-gain, name))
    scored.sort()
    examples = []
    for rank, (neg_gain, name) in enumerate(scored[:n_examples], start=1):
        ref = ref_frame.at[name, "reference"]
        ex = Example(rank=rank, name=name, question=ref_frame.at[name, "question"], reference=ref, gain=-neg_gain)
        ref_tokens = tokenize_for_eval(ref, level)
        for spec in variants:
            hyp = by_name[spec["variant"]].at[name, "hypothesis"]
            ex.systems.append(SystemLine(spec["variant"], spec["label"], hyp,
                                         mark(tokenize_for_eval(hyp, level), ref_tokens),
                                         sentence_bleu4(hyp, ref, level)))
        examples.append(ex)
    return examples


# ---------------------------------------------------------------------------------------------
# Rendering

_MD_SPECIAL = "\\`*_[]<>|~"


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def _marked(marked: list[tuple[str, str]], correct, wrong, miss, empty: str) -> str:
    """Join the marked tokens, each formatted by its state's function (``miss`` for [Miss])."""
    formats = {CORRECT: correct, WRONG: wrong}
    parts = [formats.get(state, miss)(tok) for tok, state in marked]
    return " ".join(parts) if parts else empty


def marked_md(marked: list[tuple[str, str]]) -> str:
    return _marked(marked, lambda tok: f"**{_md_escape(tok)}**", lambda tok: f"~~{_md_escape(tok)}~~",
                   lambda tok: f"`{MISS_TEXT}`", "(empty)")


def marked_html(marked: list[tuple[str, str]]) -> str:
    return _marked(marked, lambda tok: f'<span class="correct">{html.escape(tok)}</span>',
                   lambda tok: f'<span class="wrong">{html.escape(tok)}</span>',
                   lambda tok: f'<span class="miss" title="missing: {html.escape(tok, quote=True)}">{MISS_TEXT}</span>',
                   "<em>(empty)</em>")


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_UNICODE = {"✓": r"\checkmark{}", "✗": r"$\times$", "→": r"$\rightarrow$", "±": r"$\pm$", "†": r"$^\dagger$",
                "Δ": r"$\Delta$", "↳": r"\quad{}", "|": r"$|$", "−": "-", "–": "--", "…": r"\ldots{}",
                "<": r"\textless{}", ">": r"\textgreater{}"}


def tex_escape(text: str) -> str:
    """LaTeX-safe text (specials escaped; ✓ ✗ → ± † Δ mapped to amssymb/math symbols)."""
    return "".join(_TEX_SPECIAL.get(c) or _TEX_UNICODE.get(c) or c for c in str(text))


def strip_table_prefix(caption: str) -> str:
    """A caption without its leading "Table N: " (LaTeX's \\caption numbers tables itself)."""
    return re.sub(r"^Table \d+: ", "", caption)


def marked_tex(marked: list[tuple[str, str]]) -> str:
    parts = []
    for tok, state in marked:
        if state == CORRECT:
            parts.append(rf"\textcolor{{green}}{{{tex_escape(tok)}}}")
        elif state == WRONG:
            parts.append(rf"\textcolor{{red}}{{{tex_escape(tok)}}}")
        else:
            parts.append(r"[Miss]")
    return " ".join(parts) if parts else r"\textit{(empty)}"


def marked_plain(marked: list[tuple[str, str]]) -> str:
    """CSV form: correct tokens as is, wrong as ``~tok~``, miss as ``[Miss:tok]``."""
    return " ".join(t if s == CORRECT else (f"~{t}~" if s == WRONG else f"[Miss:{t}]") for t, s in marked)


@dataclass
class Section:
    dataset: str
    dataset_name: str
    level: str  # evaluation level: the tokens marked are words or characters
    seed: int | None
    examples: list[Example]
    missing: list[str]


MARKING_RULE = (
    "Each hypothesis is aligned with the reference by difflib.SequenceMatcher: equal → correct; "
    "replace → the hypothesis words are wrong and, where the reference side is longer, the extra "
    "reference words are [Miss]; delete → [Miss]; insert → wrong."
)


def _caption(spec: dict, section: Section, data_statement: str) -> str:
    labels = {v["variant"]: v["label"] for v in spec["variants"]}
    notes = " ".join(f"{v['label']}: {v['note']}." for v in spec["variants"] if v.get("note"))
    seed = f"seed-{section.seed} test predictions" if section.seed is not None else "test predictions"
    return (f"Table 8: {spec.get('title', 'Qualitative analysis')} on {section.dataset_name}. {data_statement} "
            f"Examples: the {spec.get('n_examples', 3)} test examples with the largest sentence-BLEU-4 gain of "
            f"{labels[spec['gain_of']]} over {labels[spec['gain_over']]} ({seed}; ties by name). {MARKING_RULE} "
            f"Tokens are {'characters' if section.level == 'char' else 'words'}. {notes}").strip()


def build_sections(results: Results, spec: dict, datasets: Mapping[str, DatasetSpec]) -> list[Section]:
    """One section per dataset of ``spec``, from the predictions of the runs of ``results`` only;
    ``datasets``: the dataset objects (:data:`qbslt.data.datasets.DATASETS`)."""
    sections = []
    variants = [v["variant"] for v in spec["variants"]]
    for ds in spec.get("datasets", []):
        info = datasets[ds]
        missing = [v for v in variants if not results.prediction_seeds(ds, v)]
        seed = None if missing else results.first_common_seed(ds, variants)
        examples: list[Example] = []
        if not missing and seed is None:
            missing = ["(no seed common to " + ", ".join(variants) + ")"]
        if not missing:
            preds = {v: results.read_predictions(ds, v, seed) for v in variants}
            examples = select_examples(preds, spec["variants"], info.eval_level, spec["gain_of"], spec["gain_over"],
                                       int(spec.get("n_examples", 3)))
        sections.append(Section(ds, info.title, info.eval_level, seed, examples, missing))
    return sections


def render_table8(results: Results | Path, out_dir: Path, spec: dict, datasets: Mapping[str, DatasetSpec],
                  data_statement_for) -> list[Path]:
    """Write ``table8.md``, ``.csv``, ``.tex`` and ``.html`` into ``out_dir``.

    ``results``: the runs to read (:class:`qbslt.reports.results.Results`; a folder: every run
    found, ad hoc). ``spec`` is the layout's ``table8`` entry, ``datasets`` the dataset objects
    and ``data_statement_for(dataset_key)`` the sentence about the data used in captions.
    """
    out_dir = Path(out_dir)
    sections = build_sections(Results.of(results), spec, datasets)
    md, tex, rows = [], [], []
    html_parts = [
        "<!DOCTYPE html>", '<html lang="de"><head><meta charset="utf-8"><title>Table 8</title>',
        "<style>body{font-family:sans-serif;max-width:70em;margin:1em auto}"
        "table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        ".correct{color:#080;font-weight:bold}.wrong{color:#c00;text-decoration:line-through}"
        ".miss{color:#666;font-family:monospace}caption{caption-side:top;text-align:left;padding:.5em 0}</style>",
        "</head><body>",
    ]
    tex.append("% Generated by qbslt.reports.example_translations. Needs \\usepackage{xcolor} (and CJK support for CSL).")
    for section in sections:
        caption = _caption(spec, section, data_statement_for(section.dataset))
        md += [caption, ""]
        html_parts.append(f"<table><caption>{html.escape(caption)}</caption>")
        tex += [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex_escape(strip_table_prefix(caption))}}}",
                rf"\label{{tab:table8-{section.dataset}}}", r"\begin{tabular}{llp{0.65\linewidth}}", r"\toprule",
                r"\# & System & Translation \\", r"\midrule"]
        if section.missing:
            msg = "not run: no test predictions for " + ", ".join(section.missing)
            md += [f"*{msg}*", ""]
            html_parts.append(f"<tr><td>{html.escape(msg)}</td></tr></table>")
            tex += [rf"\multicolumn{{3}}{{l}}{{{tex_escape(msg)}}} \\", r"\bottomrule", r"\end{tabular}",
                    r"\end{table}", ""]
            continue
        md += ["| # | System | Translation | correct / wrong / miss | sBLEU-4 |", "|---|---|---|---|---|"]
        html_parts.append("<tr><th>#</th><th>System</th><th>Translation</th><th>correct / wrong / miss</th>"
                          "<th>sBLEU-4</th></tr>")
        for ex in section.examples:
            head = f"{ex.rank} ({_md_escape(ex.name)}, gain {ex.gain:+.1f})"
            md.append(f"| {head} | Question | {_md_escape(ex.question)} | | |")
            md.append(f"| | Reference | {_md_escape(ex.reference)} | | |")
            html_parts.append(f"<tr><td>{ex.rank}<br><small>{html.escape(ex.name)}<br>gain {ex.gain:+.1f}</small></td>"
                              f"<td>Question</td><td>{html.escape(ex.question)}</td><td></td><td></td></tr>")
            html_parts.append(f"<tr><td></td><td>Reference</td><td>{html.escape(ex.reference)}</td><td></td><td></td></tr>")
            tex.append(rf"{ex.rank} & Question & {tex_escape(ex.question)} \\")
            tex.append(rf" & Reference & {tex_escape(ex.reference)} \\")
            base = {"dataset": section.dataset, "seed": section.seed, "rank": ex.rank, "name": ex.name,
                    "gain": round(ex.gain, 4)}
            rows.append({**base, "system": "question", "label": "Question", "text": ex.question})
            rows.append({**base, "system": "reference", "label": "Reference", "text": ex.reference})
            for line in ex.systems:
                c = counts(line.marked)
                cwm = f"{c[CORRECT]} / {c[WRONG]} / {c[MISS]}"
                md.append(f"| | {line.label} | {marked_md(line.marked)} | {cwm} | "
                          f"{line.sentence_bleu4:.1f} |")
                html_parts.append(f"<tr><td></td><td>{html.escape(line.label)}</td><td>{marked_html(line.marked)}</td>"
                                  f"<td>{cwm}</td><td>{line.sentence_bleu4:.1f}</td></tr>")
                tex.append(rf" & {tex_escape(line.label)} & {marked_tex(line.marked)} \\")
                rows.append({**base, "system": line.variant, "label": line.label, "text": line.hypothesis,
                             "marked": marked_plain(line.marked), "n_correct": c[CORRECT], "n_wrong": c[WRONG],
                             "n_miss": c[MISS], "sentence_bleu4": round(line.sentence_bleu4, 4)})
            tex.append(r"\midrule" if ex is not section.examples[-1] else r"\bottomrule")
        if not section.examples:
            tex.append(r"\bottomrule")
        md.append("")
        html_parts.append("</table>")
        tex += [r"\end{tabular}", r"\end{table}", ""]
    html_parts.append("</body></html>")
    columns = ["dataset", "seed", "rank", "name", "gain", "system", "label", "text", "marked", "n_correct",
               "n_wrong", "n_miss", "sentence_bleu4"]
    paths = {ext: out_dir / f"table8.{ext}" for ext in ("md", "csv", "tex", "html")}
    atomic_write_text(paths["md"], "\n".join(md).rstrip() + "\n")
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("seed", "n_correct", "n_wrong", "n_miss"):
        frame[col] = frame[col].astype("Int64")
    atomic_write_text(paths["csv"], frame.to_csv(index=False))
    atomic_write_text(paths["tex"], "\n".join(tex).rstrip() + "\n")
    atomic_write_text(paths["html"], "\n".join(html_parts) + "\n")
    return list(paths.values())
