"""Table 9: Sigma's variants on both datasets, with SSL-SSAW rows for context.

Rows, per dataset:

* **Sigma (skeleton only, gloss-free translation)**: every ``sigma.variants`` entry, in params order;
* **SSL-SSAW, RGB + skeleton (measured here)**: ``ssl_ssaw`` and ``ssl_ssaw_skeleton`` of the
  experiment matrix, when it runs them on that dataset (else "not run");
* **SSL-SSAW as the SSL-SSAW paper reports it** (arXiv 2509.14036): the paper row that the dataset's
  comparison table (Table 1 or 2) sets beside ``ssl_ssaw``; RGB + question, its real datasets; never
  computed, only shown.

Row labels and the RGB rows are data: ``table9`` in ``qbslt/reports/layout.yaml``. The Sigma paper's own numbers are not in its abstract
  (the only text of it here), so Table 9 has no paper row for Sigma.

Cells: mean ± std (ddof 1; ± 0.00 for one seed) of the test scores over the seeds found, like
Tables 1-8 (:func:`qbslt.reports.results.summarize`). Two more columns say whether a model reads its
input (:mod:`qbslt.eval.reliance`), where its metrics file records them: the share of the test
videos that get a distinct hypothesis (``test.distinct_share``) and the test BLEU-4 with the inputs
shuffled across the test examples (``test.shuffled_keypoints.bleu4`` for Sigma,
``test.shuffled_video.bleu4`` for the translation runs), means over the seeds; "–" where not
recorded. Written as ``table9.md``, ``.csv``, ``.tex``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from qbslt.atomic import atomic_write_text
from qbslt.data.datasets import DATASETS
from qbslt.errors import ResultError
from qbslt.reports.rendering import latex_table, markdown_table
from qbslt.reports.layout import DEFAULT_LAYOUT, DEFAULT_PAPER, load_yaml, table9_layout
from qbslt.reports.results import METRICS, summarize
from qbslt.reports.tables import data_statement

SIGMA_GROUP = "Sigma: skeleton only, gloss-free translation (beam search)"
RGB_GROUP = "SSL-SSAW with RGB + skeleton (measured here, beam search)"
PAPER_LABEL = "SSL-SSAW paper's numbers (arXiv 2509.14036; RGB + question, real data; not run)"
SHOWN = ("bleu4", "rouge_l")
HEADERS = {"bleu1": "B1", "bleu2": "B2", "bleu3": "B3", "bleu4": "BLEU-4", "rouge_l": "ROUGE-L"}


def read_runs(paths: list[Path | str]) -> dict[tuple[str, str], dict[int, dict]]:
    """{(dataset, variant): {seed: metrics}} of metrics files (each names its dataset, variant, seed)."""
    runs: dict[tuple[str, str], dict[int, dict]] = {}
    for path in map(Path, paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            key, seed = (data["dataset"], data["variant"]), int(data["seed"])
            {m: float(data["test"][m]) for m in METRICS}
        except FileNotFoundError:
            raise ResultError(f"{path}: missing") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ResultError(f"{path}: not a metrics file ({type(exc).__name__}: {exc})") from None
        runs.setdefault(key, {})[seed] = data
    return runs


# Input-reliance checks: CSV column -> where a metrics file keeps it (the first found).
CHECKS = {"distinct_share": (("test", "distinct_share"),),
          "shuffled_bleu4": (("test", "shuffled_keypoints", "bleu4"), ("test", "shuffled_video", "bleu4"))}


def _lookup(data: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def check_means(runs: dict[int, dict] | None) -> dict:
    """{check: mean over the seeds that record it, or None} of :data:`CHECKS`."""
    out = {}
    for name, paths in CHECKS.items():
        values = [v for run in (runs or {}).values()
                  for v in [next((x for x in (_lookup(run, p) for p in paths) if x is not None), None)]
                  if v is not None]
        out[name] = round(sum(map(float, values)) / len(values), 4) if values else None
    return out


def build_rows(sigma_variants: list[str], datasets: list[str], sigma_runs: dict, rgb_runs: dict,
               paper: dict, layout: dict) -> list[dict]:
    """One record per row: dataset, group, label, variant, status, n_seeds, seeds, <metric>_mean/_std.
    ``layout``: :func:`table9_layout`."""
    rows = []

    def add(dataset, group, label, variant, runs, values=None):
        stats = summarize(runs)
        rec = {"dataset": dataset, "group": group, "label": label, "variant": variant,
               "status": "reported (not run)" if values else ("measured" if stats else "not run"),
               "n_seeds": stats.n if stats else 0, "seeds": ";".join(map(str, stats.seeds)) if stats else ""}
        for m in METRICS:
            rec[f"{m}_mean"] = values[m] if values else (round(stats.mean[m], 6) if stats else None)
            rec[f"{m}_std"] = None if values or not stats else round(stats.std[m], 6)
        rec.update(check_means(None if values else runs))
        rows.append(rec)

    for d in datasets:
        for v in sigma_variants:
            add(d, SIGMA_GROUP, layout["labels"].get(v, v), v, sigma_runs.get((d, v)))
        for r in layout["rgb_rows"]:
            add(d, RGB_GROUP, r["label"], r["variant"], rgb_runs.get((d, r["variant"])))
        table, group, row = layout["paper_rows"].get(d, ("", "", ""))
        reported = paper.get(table, {}).get(group, {}).get(row)
        if reported:
            add(d, PAPER_LABEL, "SSL-SSAW (paper)", "", None, dict(zip(paper["columns"], map(float, reported))))
    return rows


def caption(profile: str, datasets: list[str], rows: list[dict]) -> str:
    seeds = sorted({r["n_seeds"] for r in rows if r["status"] == "measured"})
    n = "/".join(map(str, seeds)) or "0"
    statements = " ".join(dict.fromkeys(data_statement(profile, d) for d in datasets))
    return (f"Table 9: Sigma (skeleton-based pre-training, arXiv 2509.21223, built from its abstract) on "
            f"{' and '.join(DATASETS[d].title for d in datasets)}: test BLEU-4 and ROUGE-L, mean ± std over "
            f"{n} seeds (column n). Sigma translates from the skeleton stream alone (no question); the SSL-SSAW "
            f"rows use RGB (+ skeleton) and the question; both decode with beam search. Distinct: share of the "
            f"test videos with a distinct hypothesis (a collapsed decoder writes one sentence for all); shuffled: "
            f"test BLEU-4 with each video's input (keypoints, frames) taken from another test video; both means "
            f"over the seeds, – where not recorded. The Sigma "
            f"paper's own numbers are not in its abstract, the only text of it available here, so no paper row "
            f"is shown for Sigma; the last row of each dataset is the SSL-SSAW paper's, for context only. "
            f"{statements}")


def _cell(row: dict, m: str) -> str:
    if row["status"] == "not run":
        return "not run"
    if row[f"{m}_std"] is None:
        return f"{row[f'{m}_mean']:.2f}"
    return f"{row[f'{m}_mean']:.2f} ± {row[f'{m}_std']:.2f}"


def _lines(rows: list[dict]) -> list[tuple[str, list[str]]]:
    out, last = [], None
    for r in rows:
        if (r["dataset"], r["group"]) != last:
            last = (r["dataset"], r["group"])
            out.append(("group", [f"{DATASETS[r['dataset']].title}: {r['group']}"]
                        + [""] * (len(SHOWN) + len(CHECK_HEADERS) + 2)))
        n = "–" if r["status"] == "reported (not run)" else str(r["n_seeds"])
        checks = ["–" if r["distinct_share"] is None else f"{100 * r['distinct_share']:.1f} %",
                  "–" if r["shuffled_bleu4"] is None else f"{r['shuffled_bleu4']:.2f}"]
        out.append(("row", [r["label"], r["variant"], n] + [_cell(r, m) for m in SHOWN] + checks))
    return out


CHECK_HEADERS = ["distinct", "BLEU-4 shuffled"]
HEADER = ["System", "variant", "n"] + [HEADERS[m] for m in SHOWN] + CHECK_HEADERS


def write_table9(sigma_metrics: list[Path | str], rgb_metrics: list[Path | str], sigma_variants: list[str],
                 datasets: list[str], out_dir: Path | str, profile: str = "embedded",
                 paper_path: Path | str = DEFAULT_PAPER, layout_path: Path | str = DEFAULT_LAYOUT) -> list[Path]:
    """Render table9.{md,csv,tex} into ``out_dir`` from exactly the metrics files given."""
    paper = load_yaml(Path(paper_path))
    rows = build_rows(sigma_variants, datasets, read_runs(sigma_metrics), read_runs(rgb_metrics), paper,
                      table9_layout(layout_path))
    text, lines = caption(profile, datasets, rows), _lines(rows)
    out_dir = Path(out_dir)
    written = []
    numeric = len(SHOWN) + len(CHECK_HEADERS)
    for ext, content in (("md", markdown_table(text, HEADER, lines, numeric)),
                         ("csv", pd.DataFrame(rows).to_csv(index=False)),
                         ("tex", latex_table(text, 9, HEADER, lines, numeric, __name__))):
        path = out_dir / f"table9.{ext}"
        atomic_write_text(path, content)
        written.append(path)
    return written
