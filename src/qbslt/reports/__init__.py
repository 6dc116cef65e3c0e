"""Reports: the paper's Tables 1-10 and Figure 4 from the result contract under ``results/<profile>/``.

* :mod:`qbslt.reports.layout` -- what each table shows (``layout.yaml``); read at DAG time, so it
  imports neither pandas nor torch.
* :class:`qbslt.reports.results.Results` -- the runs a report reads (the experiment matrix)
  and the checked reading of their result files; mean ± std over seeds.
* :func:`qbslt.reports.tables.render_all` -- tables 1-8 (md/csv/tex, table8 also html) and
  (:mod:`qbslt.reports.dvc_outputs`) the DVC metrics and plots files.
* :mod:`qbslt.reports.table9`, :mod:`qbslt.reports.table10` -- the Sigma and SL-SLR tables.
* :func:`qbslt.reports.example_translations.mark` -- Table 8's correct / wrong / [Miss] word marking.
* :func:`qbslt.reports.figure4.render_figure4` -- Figure 4, SSAW weight heat strips.
"""

from importlib import import_module

# Where each public name lives. Imported on first use (PEP 562), so that importing
# ``qbslt.reports.layout`` (as Snakemake does at DAG time) does not import pandas.
_HOMES = {"mark": "example_translations", "render_all": "tables", "render_figure4": "figure4"}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
