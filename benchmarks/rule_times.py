"""Per-rule wall times of the last full run, from Snakemake's `benchmark:` files, the share of
each stage, and the no-op rerun time as a share of the full run.

    python benchmarks/rule_times.py [--full-run-seconds S] [--noop] [--results results/realtext] [--record]

--full-run-seconds: the measured wall time of `snakemake --cores all` (e.g. from /usr/bin/time);
--noop: also time `snakemake --cores all` once more (nothing to do) and report its share;
--record (realtext results): write ``realtext.job_times`` into docs/measurements.yaml, the job time
per part of a run that was not timed in one piece (stopped and resumed: each job's own time is
still measured), and ``realtext.wall_time`` as that total over the cores (jobs run one a core);
``benchmarks/full_run.py --profile realtext --record`` records a wall time measured in one piece.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from qbslt.reports import measurements as m
from qbslt.reports.measurements import jobs_from_benchmarks

MEASUREMENTS = Path(__file__).resolve().parents[1] / "docs" / "measurements.yaml"

STAGES = {"generate_embedded": "data", "realtext_data": "data", "fetch_real": "data", "extract_frames": "data",
          "keypoints": "data", "join_questions": "data",
          "features": "features", "tokenizer": "features", "pretrain": "stage 1", "train": "stage 2",
          "reference": "stage 2", "tables": "report", "figure4": "report"}


def rule_times(root: Path = Path("results/embedded/benchmarks")) -> pd.DataFrame:
    """One row per job (rule, job, seconds), read by the measurements module's reader."""
    return pd.DataFrame([{"rule": job.rule, "job": job.name, "seconds": job.seconds}
                         for job in jobs_from_benchmarks(root)], columns=["rule", "job", "seconds"])


def print_rule_times(root: Path = Path("results/embedded/benchmarks")) -> float:
    """Print job seconds per rule and per stage of the benchmark files under ``root``; return the total."""
    times = rule_times(root)
    if times.empty:
        sys.exit(f"no benchmark files under {root}: run `snakemake --cores all` first")
    per_rule = times.groupby("rule")["seconds"].agg(["count", "sum", "mean", "max"]).sort_values("sum", ascending=False)
    total = per_rule["sum"].sum()
    print("job seconds per rule (sum over jobs; jobs run 2 at a time on 2 cores):")
    print(per_rule.round(1).to_string())
    stages = times.assign(stage=times["rule"].map(STAGES).fillna("other")).groupby("stage")["seconds"].sum()
    print("\nshare of job time per stage:")
    for stage, seconds in stages.sort_values(ascending=False).items():
        print(f"  {stage:10s} {seconds:8.1f} s  {100 * seconds / total:5.1f} %")
    print(f"  {'total':10s} {total:8.1f} s of job time")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full-run-seconds", type=float)
    parser.add_argument("--noop", action="store_true")
    parser.add_argument("--results", type=Path, default=Path("results/embedded"),
                        help="results folder of the profile (results/<profile>/)")
    m.add_record_options(parser, "realtext.job_times")
    args = parser.parse_args()
    if args.record and args.results.name != "realtext":
        parser.error(f"--record: only realtext job times are recorded from a results folder (got {args.results})")

    total = print_rule_times(args.results / "benchmarks")
    if args.noop:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", "--cores", "all", "--quiet", "all"], check=True,
                       capture_output=True)
        noop = time.perf_counter() - start
        reference = args.full_run_seconds or total
        print(f"\nno-op rerun: {noop:.1f} s = {100 * noop / reference:.1f} % of the full run ({reference:.0f} s)")
    if args.record:
        # results/realtext -> the run's folder, where data/realtext/examples lies
        work = args.results.resolve().parents[1]
        value = m.realtext_job_times(
            jobs_from_benchmarks(args.results / "benchmarks"),
            videos=m.count_examples(work / "data" / "realtext" / "examples") or None,
            sigma_variants=m.count_sigma_variants(args.results / "sigma" / "metrics") or None)
        command = f"python benchmarks/rule_times.py --results {args.results} --record  (job seconds per rule from Snakemake's benchmark files)"
        cores = os.cpu_count() or 1
        wall = (f"not timed in one piece (the run was stopped and resumed): its jobs took {total:,.0f} s, "
                f"about {total / cores / 3600:.1f} hours {m.number_words(cores)} jobs at a time")
        m.record_if_asked(args, MEASUREMENTS, "realtext.job_times", value, command)
        m.record_if_asked(args, MEASUREMENTS, "realtext.wall_time", wall, command)
        print(f"\nrecorded realtext.job_times and realtext.wall_time in {MEASUREMENTS}")


if __name__ == "__main__":
    main()
