"""What the report tables show, read from ``layout.yaml`` beside this file: which tables the
experiment can render, and which runs each needs. The workflow imports this module while it builds
the DAG (``workflow/rules/common.smk``), at every ``snakemake`` call: it imports no pandas, no torch.
"""

from __future__ import annotations

from pathlib import Path

from qbslt.config import layout_entries, load_yaml_file, table_variants
from qbslt.config import renderable_tables as config_renderable_tables
from qbslt.errors import ConfigError

HERE = Path(__file__).resolve().parent
DEFAULT_LAYOUT = HERE / "layout.yaml"
DEFAULT_PAPER = HERE / "paper_results.yaml"


def load_yaml(path: Path) -> dict:
    return load_yaml_file(path) or {}


def renderable_tables(runs: dict[str, set[str]], layout_path: Path = DEFAULT_LAYOUT) -> list[int]:
    """Numbers of the tables (1-8) whose every row the experiment runs (the rule lives in
    :func:`qbslt.config.renderable_tables`, which validation uses too)."""
    return config_renderable_tables(runs, layout_path)


def table_numbers(layout_path: Path = DEFAULT_LAYOUT) -> list[int]:
    """Every table number of the layout (``tables.tableN`` and ``table8``), rendered or not."""
    layout = load_yaml(Path(layout_path))
    return sorted([int(key.removeprefix("table")) for key in layout["tables"]] + ([8] if layout.get("table8") else []))


def table_runs(number: int, runs: dict[str, set[str]], layout_path: Path = DEFAULT_LAYOUT) -> list[tuple[str, str]]:
    """The ``(dataset, variant)`` pairs Table ``number`` shows (trained variants and reference
    systems, in layout order): what the per-table target ``tableN`` builds. ``runs`` as for
    :func:`renderable_tables`; Table 8: its variants on each of its datasets that runs them all.
    A table that the experiment cannot render raises :class:`ConfigError` naming what is missing."""
    layout = load_yaml(Path(layout_path))
    if number == 8 and layout.get("table8"):
        spec = layout["table8"]
        datasets = [ds for ds in spec["datasets"] if table_variants(spec) <= runs.get(ds, set())]
        if not datasets:
            raise ConfigError(f"Table 8 needs {', '.join(sorted(table_variants(spec)))} on one of "
                              f"{', '.join(spec['datasets'])}; experiment.datasets does not run them all on any")
    elif f"table{number}" in layout["tables"]:
        spec = layout["tables"][f"table{number}"]
        datasets = [spec["dataset"]]
        missing = sorted(table_variants(spec, optional=False) - runs.get(spec["dataset"], set()))
        if missing:
            raise ConfigError(f"Table {number} shows {', '.join(missing)} on {spec['dataset']}, which "
                              f"experiment.datasets does not run")
    else:
        raise ConfigError(f"no Table {number} in {layout_path}")
    needed = table_variants(spec, optional=False)
    variants = list(dict.fromkeys(e["variant"] for e in layout_entries(spec)))
    return [(d, v) for d in datasets for v in variants if v in needed or v in runs.get(d, set())]


def table9_layout(layout_path: Path | str = DEFAULT_LAYOUT) -> dict:
    """``table9`` of the layout, plus ``paper_rows``: {dataset: (paper table, group, row)} of the
    SSL-SSAW paper row that each dataset's comparison table sets beside ``ssl_ssaw``."""
    layout = load_yaml(Path(layout_path))
    paper_rows = {spec["dataset"]: (spec["paper"], m["paper_group"], m["paper_row"])
                  for spec in layout["tables"].values() if "paper" in spec
                  for m in spec.get("measured", []) if m["variant"] == "ssl_ssaw"}
    return {**layout["table9"], "paper_rows": paper_rows}


def rgb_variants(layout_path: Path | str = DEFAULT_LAYOUT) -> list[str]:
    """The experiment variants Table 9 shows beside Sigma (the DAG gives their metrics files)."""
    return [r["variant"] for r in table9_layout(layout_path)["rgb_rows"]]
