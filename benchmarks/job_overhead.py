"""What a training job pays before it computes, and what a coarser job grain could save at most.

    python benchmarks/job_overhead.py [--profile embedded] [--repeats 7] [--record]

Times, median of ``--repeats``:

* a job through the preloaded launcher: ``python -m qbslt --version`` with the launcher's server
  already running (the fork, the socket round trip and Python's own start: what every
  ``python -m qbslt`` job of the DAG pays before its command runs);
* a job run directly: a fresh interpreter importing what the launcher preloads (torch,
  transformers and the package's training modules): what each job would pay without the launcher.

A coarser grain (one job per variant or stage-1 run for all its seeds, instead of one per seed)
saves at most one job's start per job it merges. With ``--profile``'s plan (``qbslt.experiment``) the
bound is printed: (training-level jobs - jobs at the coarser grain) x the per-job start, through
the launcher and directly. Snakemake ``group`` s do not apply here: a local run ignores them (they
batch cluster submissions). ``--record`` writes ``jobs.grain`` into ``docs/measurements.yaml``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from qbslt.experiment import Experiment
from qbslt.launcher import PRELOAD
from qbslt.reports import measurements as m

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = REPO / "docs" / "measurements.yaml"
KEY = "jobs.grain"


def seconds(command: list[str], env: dict[str, str], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="embedded")
    parser.add_argument("--repeats", type=int, default=7)
    m.add_record_options(parser, KEY)
    args = parser.parse_args()

    launcher = [sys.executable, "-m", "qbslt", "--version"]
    subprocess.run(launcher, cwd=REPO, check=True, stdout=subprocess.DEVNULL)  # start the server
    through = seconds(launcher, {}, args.repeats)
    direct = seconds([sys.executable, "-c", "import " + ", ".join(PRELOAD)], {}, args.repeats)

    jobs = Experiment.load(REPO / "params.yaml", args.profile).jobs()
    per_seed = [j for j in jobs if j.kind in ("pretrain", "train")]
    coarser = {(j.kind, j.dataset, j.name) for j in per_seed}
    merged = len(per_seed) - len(coarser)
    print(f"per-job start: launcher {through:.2f} s, direct {direct:.2f} s (median of {args.repeats})")
    print(f"{args.profile}: {len(jobs)} training-level jobs; {len(per_seed)} per-seed training runs in "
          f"{len(coarser)} (variant or stage-1 run) groups: a coarser grain merges {merged} jobs")
    print(f"at most saved: {merged * through:.0f} s through the launcher, {merged * direct:.0f} s direct")
    value = (f"per-job start: launcher {through:.2f} s, direct {direct:.2f} s; {args.profile}: one job per "
             f"variant for all seeds would merge {merged} of {len(per_seed)} training jobs, saving at most "
             f"{merged * through:.0f} s through the launcher")
    m.record_if_asked(args, MEASUREMENTS, KEY, value, f"python benchmarks/job_overhead.py --repeats {args.repeats}")


if __name__ == "__main__":
    main()
