"""The tables' Snakemake targets, in one place: what `qbslt plan --help`, `qbslt tables --help` and
the per-table DVC stages (``workflow/dvc.yaml``, checked by tests/test_targets.py) list.

* Tables 1-8: the layout's tables (``qbslt/reports/layout.yaml``, read through
  :func:`qbslt.config.table_needs`, as :func:`qbslt.reports.layout.table_numbers` does); each has its own
  target ``tableN`` (``workflow/rules/report.smk``), and rule ``tables`` renders them all;
* Tables 9 and 10: one rule each, ``table9`` (Sigma, ``workflow/rules/sigma.smk``) and ``table10``
  (SL-SLR, ``workflow/rules/slslr.smk``);
* the input-reliance table (``tables/reliance.{md,csv}``): an output of rule ``tables``, which
  renders Tables 1-8 with it; it has no target of its own.
"""

from __future__ import annotations

# Tables rendered by a rule of their own rather than from the layout: number -> what runs them.
OWN_RULE_TABLES = {9: "Sigma", 10: "SL-SLR"}
# The Snakemake target that renders the input-reliance table (with the layout's tables).
RELIANCE_TARGET = "tables"


def layout_tables() -> list[int]:
    """Numbers of the layout's tables (1-8): rendered together by rule ``tables``, one by one by ``tableN``."""
    from qbslt.config import table_needs  # qbslt.plan may not import qbslt.reports (pyproject: layers)

    return sorted({number for number, _dataset, _needs in table_needs()})


def table_numbers() -> list[int]:
    """Every table number with a Snakemake target ``tableN``: the layout's, then Tables 9 and 10."""
    return layout_tables() + sorted(OWN_RULE_TABLES)


def table_targets() -> list[str]:
    """``["table1", ..., "table10"]``: every per-table Snakemake target."""
    return [f"table{n}" for n in table_numbers()]


def span(numbers: list[int], prefix: str = "") -> str:
    """``1-8`` (``prefix`` ``"table"``: ``table1 ... table8``) of consecutive ``numbers``, else each listed."""
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{prefix}{numbers[0]} ... {prefix}{numbers[-1]}" if prefix else f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(f"{prefix}{n}" for n in numbers)
