"""Reports (:mod:`qbslt.reports`): Tables 1-8 and the input-reliance table, the DVC metrics and plots
files, Figure 4, and the user docs' generated blocks (``qbslt docs``). Tables 9 and 10 have their own
steps (``sigma-table9``, :mod:`qbslt.cli.sigma`; ``slslr-table``, :mod:`qbslt.cli.slr`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qbslt.cli.common import log
from qbslt.errors import QbsltError
from qbslt.profiles import PROFILE_NAMES


def cmd_tables(args) -> int:
    from qbslt.reports.results import Results
    from qbslt.reports.tables import render_all

    if args.metrics:
        results = Results.from_metrics_files(Path(args.results), args.metrics)
    else:
        results = Results.discover(Path(args.results))
        log.warning("no --metrics: reporting every run found under %s (%d runs), leftovers included",
                    args.results, len(results.runs))
    files = {key: getattr(args, name) and Path(getattr(args, name)) for key, name in (
        ("summary_path", "summary"), ("runs_path", "runs"), ("scores_dir", "scores"), ("curves_path", "curves"),
        ("figure4_ssaw", "figure4_ssaw"), ("figure4_data", "figure4_data"))}
    paths = render_all(results, Path(args.out), bootstrap_samples=args.bootstrap_samples, profile=args.profile,
                       numbers=args.tables, datasets=args.datasets, reliance=args.reliance, **files)
    if args.claims:  # after render_all: Figure 4's statistic, when this command writes it, is there by now
        from qbslt.reports.claims import figure4_run_of, render_claims

        paths += render_claims(results, Path(args.out),
                               figure4_run=figure4_run_of(args.figure4_ssaw) if args.figure4_ssaw else None,
                               figure4_stats=args.figure4_stats and Path(args.figure4_stats))
    log.info("wrote %d files under %s (%d runs)", len(paths), args.out, len(results.runs))
    return 0


def cmd_figure4(args) -> int:
    from qbslt.reports.figure4 import load_test_summary, render_figure4, write_stats

    files = [Path(f) for f in args.ssaw]
    stats = None
    if args.stats:  # the statistic, and the drawn seed's row of it quoted in the figure
        frame = write_stats(files, Path(args.stats), args.bootstrap_samples)
        log.info("wrote %s (%d seeds)", args.stats, len(frame) - 1)
        drawn_seed, _ = load_test_summary(files[0])
        stats = frame[frame["seed"] == drawn_seed].to_dict("records")[0]
    render_figure4(files[0], Path(args.png), Path(args.pdf), stats=stats)
    return 0


def cmd_plots(args) -> int:
    from qbslt.reports.plots import render_dev_curves, render_paper_vs_ours

    render_dev_curves(Path(args.curves), Path(args.dev_curves))
    render_paper_vs_ours([Path(t) for t in args.tables], Path(args.paper_vs_ours), args.profile)
    log.info("wrote %s and %s", args.dev_curves, args.paper_vs_ours)
    return 0


DOCS_EXAMPLE = """example:
  qbslt docs --results results/            # fill README.md and docs/*.md from results/<profile>/ and docs/measurements.yaml
  qbslt docs --results results/ --check    # fail on any block that differs (a results file not there is skipped)"""


def cmd_docs(args) -> int:
    from qbslt.reports.docs import RESULTS_DIFFER_NOTE, default_docs, fill

    docs = [Path(d) for d in args.doc] if args.doc else default_docs(Path("."))
    # The default results/ may be absent (a fresh clone: its blocks are skipped); a folder named on the
    # command line must be there, or a mistyped path would skip every block without a word.
    if args.results is not None and not Path(args.results).is_dir():
        raise QbsltError(f"--results {args.results}: no such folder (the results tree: results/<profile>/tables/...)")
    report = fill(docs, Path(args.results or "results"), Path(args.measurements), check=args.check)
    for label in report.skipped:
        print(f"skipped (no such results file): {label}")
    verb = "differs" if args.check else "filled"
    for label in report.changed:
        print(f"{verb}: {label}" + (f" ({report.first_difference[label]})" if args.check else ""),
              file=sys.stderr if args.check else sys.stdout)
    print(f"{len(report.changed)} block(s) {verb}, {len(report.unchanged)} unchanged, {len(report.skipped)} skipped")
    if args.check and report.results_differ:
        print(RESULTS_DIFFER_NOTE, file=sys.stderr)
    return 1 if args.check and report.changed else 0


def register(sub) -> None:
    p = sub.add_parser("docs", help="fill (or --check) the generated blocks of README.md and docs/*.md from the results",
                       epilog=DOCS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", help="the results tree: results/<profile>/tables/... (default results)")
    p.add_argument("--measurements", default="docs/measurements.yaml",
                   help="the measured figures quoted in the docs (default docs/measurements.yaml)")
    p.add_argument("--doc", nargs="+", help="these markdown files only (default README.md and docs/*.md)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs from its source")
    p.set_defaults(func=cmd_docs)

    from qbslt.plan.targets import layout_tables, span

    tables = span(layout_tables())
    p = sub.add_parser("tables", help=f"render Tables {tables} (with --reliance the input-reliance table) and the DVC "
                                      f"metrics/plots files from results/; Tables 9 and 10: sigma-table9, slslr-table")
    p.add_argument("--results", default="results")
    p.add_argument("--metrics", nargs="+", metavar="FILE",
                   help="the runs to report, as their metrics files RESULTS/metrics/<dataset>/<variant>/seed<k>.json "
                        "(the Snakemake rule passes the experiment matrix); only these runs' metrics and predictions "
                        "are read. Without it (ad hoc), every metrics file under RESULTS is read, leftovers included")
    p.add_argument("--out", default="results/embedded/tables")
    p.add_argument("--profile", choices=list(PROFILE_NAMES), default="embedded")
    p.add_argument("--bootstrap-samples", type=int, default=1000)
    p.add_argument("--tables", type=int, nargs="+", help=f"table numbers to render (default: {tables})")
    p.add_argument("--datasets", nargs="+", help="datasets of Table 8 (default: the layout's)")
    p.add_argument("--summary", help="metrics summary JSON (default: OUT/summary.json)")
    p.add_argument("--runs", help="per-run BLEU-4 CSV for plots (default: OUT/bleu4_by_variant.csv)")
    p.add_argument("--scores", help="folder of the DVC metrics: one <dataset>/<variant>.json each, other files there "
                                    "are deleted (default: OUT/scores)")
    p.add_argument("--curves", help="tidy training-curves CSV for plots (default: OUT/training_curves.csv)")
    p.add_argument("--figure4-ssaw", help="SSAW weights file of Figure 4: also write its data as CSV")
    p.add_argument("--figure4-data", help="Figure 4's data CSV (default: OUT/figure4_weights.csv)")
    p.add_argument("--reliance", action="store_true",
                   help="also write the input-reliance table OUT/reliance.{md,csv,html} (shuffled video / question)")
    p.add_argument("--claims", action="store_true",
                   help="also write the paper's claims judged from the runs: OUT/claims.{md,csv,html} and "
                        "OUT/claims_summary.md (pairs: layout.yaml's claims; the SSAW-weights claim: the run of "
                        "--figure4-ssaw, 'not run' without it), and, as the page's second table, BLEU-4 per tercile "
                        "of question-translation overlap from the runs' dev and test predictions "
                        "(OUT/claims_overlap.csv)")
    p.add_argument("--figure4-stats", metavar="FILE",
                   help="Figure 4's test-wide SSAW statistic per seed (CSV: seed, difference, ...), read by --claims "
                        "when the file exists ('not measured' otherwise)")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("figure4", help="render Figure 4 (SSAW weight maps) and its test-wide statistic")
    p.add_argument("--ssaw", required=True, nargs="+", metavar="FILE",
                   help="SSAW weights files of the figure's variant, one per seed: the first is drawn, all of "
                        "them give the statistic")
    p.add_argument("--png", required=True)
    p.add_argument("--pdf", required=True)
    p.add_argument("--stats", help="write the statistic here (CSV: per seed and all, mean weight on question "
                                   "tokens and on video positions, their difference, bootstrap interval)")
    p.add_argument("--bootstrap-samples", type=int, default=1000, help="resamples of the statistic's interval")
    p.set_defaults(func=cmd_figure4)

    p = sub.add_parser("plots", help="render the dev curves (per variant, mean ± std over seeds) and ours-vs-paper "
                                     "(test BLEU-4 per table row) as PNGs")
    p.add_argument("--curves", required=True, help="plots/training_curves.csv (qbslt tables)")
    p.add_argument("--tables", required=True, nargs="+", metavar="CSV", help="tables/table<n>.csv")
    p.add_argument("--dev-curves", required=True, metavar="PNG")
    p.add_argument("--paper-vs-ours", required=True, metavar="PNG")
    p.add_argument("--profile", required=True, help="named in the figure (only the paper profile's numbers are "
                                                    "comparable with the paper's)")
    p.set_defaults(func=cmd_plots)
