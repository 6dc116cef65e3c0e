"""Reports: the paper's Tables 1-8 and Figure 4 from the result contract under ``results/<profile>/``.

* :class:`qbslt.reports.results.Results` -- the runs a report reads (the experiment matrix)
  and the checked reading of their result files.
* :func:`qbslt.reports.tables.render_all` -- tables 1-8 (md/csv/tex, table8 also html) and the
  DVC metrics and plots files; row layout in ``layout.yaml``.
* :func:`qbslt.reports.example_translations.mark` -- Table 8's correct / wrong / [Miss] word marking.
* :func:`qbslt.reports.figure4.render_figure4` -- Figure 4, SSAW weight heat strips.
"""

from qbslt.reports.example_translations import mark
from qbslt.reports.tables import render_all

__all__ = ["mark", "render_all", "render_figure4"]


def render_figure4(*args, **kwargs):
    """See :func:`qbslt.reports.figure4.render_figure4` (imported lazily: it loads matplotlib)."""
    from qbslt.reports.figure4 import render_figure4 as _render

    return _render(*args, **kwargs)
