"""The dev curves and ours-vs-paper figures (qbslt.reports.plots)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qbslt.errors import QbsltError
from qbslt.reports.plots import (dev_curve_frame, paper_comparison_frame, render_dev_curves,
                                 render_paper_vs_ours)

PNG = b"\x89PNG\r\n\x1a\n"


def _curves(tmp_path):
    rows = []
    for seed, scores in ((0, [1.0, 3.0, 2.0]), (1, [2.0, 5.0])):  # seed 1 stopped early
        for epoch, score in enumerate(scores, start=1):
            rows.append({"dataset": "phoenix", "variant": "ssl_ssaw", "seed": seed, "epoch": epoch,
                         "quantity": "dev_bleu4", "value": score})
            rows.append({"dataset": "phoenix", "variant": "ssl_ssaw", "seed": seed, "epoch": epoch,
                         "quantity": "loss", "value": 9.0})
    path = tmp_path / "training_curves.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_dev_curves_average_the_seeds_that_evaluated_each_epoch(tmp_path):
    frame = dev_curve_frame(pd.read_csv(_curves(tmp_path))).set_index("epoch")
    assert frame.loc[1, "mean"] == 1.5 and frame.loc[2, "mean"] == 4.0 and frame.loc[2, "n"] == 2
    assert frame.loc[3, "mean"] == 2.0 and frame.loc[3, "n"] == 1 and frame.loc[3, "std"] == 0.0
    out = render_dev_curves(_curves(tmp_path), tmp_path / "dev_curves.png")
    assert out.read_bytes()[:8] == PNG


def test_dev_curves_without_dev_evaluations_still_draw(tmp_path):
    path = tmp_path / "curves.csv"
    pd.DataFrame(columns=["dataset", "variant", "seed", "epoch", "quantity", "value"]).to_csv(path, index=False)
    assert render_dev_curves(path, tmp_path / "d.png").read_bytes()[:8] == PNG


def test_paper_vs_ours_reads_measured_rows_with_paper_numbers(tmp_path):
    table = pd.DataFrame([
        {"table": 4, "dataset": "phoenix", "label": "SSL-SSAW", "bleu4_mean": 30.0, "bleu4_std": 1.0, "bleu4_paper": 24.1},
        {"table": 4, "dataset": "phoenix", "label": "ours only", "bleu4_mean": 20.0, "bleu4_std": 0.0, "bleu4_paper": None},
        {"table": 4, "dataset": "phoenix", "label": "not run", "bleu4_mean": None, "bleu4_std": None, "bleu4_paper": 20.0},
    ])
    path = tmp_path / "table4.csv"
    table.to_csv(path, index=False)
    frame = paper_comparison_frame([path])
    assert frame[["label", "ours", "paper"]].values.tolist() == [["SSL-SSAW", 30.0, 24.1]]
    assert render_paper_vs_ours([path], tmp_path / "p.png", "embedded").read_bytes()[:8] == PNG


def test_a_table_without_scores_is_left_out_and_an_unreadable_one_named(tmp_path):
    examples = tmp_path / "table8.csv"  # Table 8: example translations, no scores
    examples.write_text("table,dataset,system,text\n8,phoenix,Reference,x\n")
    assert paper_comparison_frame([examples]).empty
    empty = tmp_path / "table1.csv"
    empty.write_text("")
    with pytest.raises(QbsltError, match="table1.csv: cannot read the table"):
        paper_comparison_frame([empty])


def test_dvc_shows_every_png_figure_the_report_rules_draw():
    """Every PNG under results/<profile>/figures/ that a report rule writes is a top-level DVC image plot
    (``dvc plots show`` renders images without Vega), and DVC lists no figure the rules do not write."""
    import re

    import yaml

    repo = Path(__file__).resolve().parents[1]
    drawn = set(re.findall(r'f"\{RESULTS\}/figures/([\w.]+\.png)"', (repo / "workflow/rules/report.smk").read_text()))
    listed = {Path(p).name for p in yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]}
    assert drawn and drawn == listed
