"""Wall time of the tiny `.test/` DAG with the jobs run through the preloaded launcher and run directly.

    python benchmarks/job_launch.py [--ref HEAD] [--repeats 2] [--record]

Clones ``--ref`` of this repository into a temporary folder and runs
``snakemake --cores 2 --configfile .test/config/params.yaml`` there from scratch, alternately with
``python -m qbslt`` through the launcher (the default: each job a fork of a server that has torch
and transformers imported) and with ``QBSLT_LAUNCHER=direct`` (each job imports them itself),
``--repeats`` times each; every run starts from an empty tree. The `.test/` DAG has many short
jobs, where what a job pays before it computes weighs most. Prints the seconds of each run.
``--record`` writes ``jobs.launch`` into ``docs/measurements.yaml``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qbslt.reports import measurements as m

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = REPO / "docs" / "measurements.yaml"
KEY = "jobs.launch"
MODES = {"launcher": {}, "direct": {"QBSLT_LAUNCHER": "direct"}}


def run_dag(work: Path, env: dict[str, str]) -> float:
    for name in ("data", "results", "models", "checkpoints", "logs", ".snakemake"):
        shutil.rmtree(work / name, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", ".test/config/params.yaml"],
                   cwd=work, env={**os.environ, "PYTHONPATH": str(work / "src"), **env}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--repeats", type=int, default=2)
    m.add_record_options(parser, KEY)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="qbslt-launch-") as tmp:
        work = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(work)], check=True)
        subprocess.run(["git", "checkout", "-q", args.ref], cwd=work, check=True)
        for _ in range(args.repeats):
            for mode, env in MODES.items():
                seconds[mode].append(run_dag(work, env))
                print(f"{mode}: {seconds[mode][-1]:.1f} s", flush=True)
    value = ("`.test/` DAG from scratch, --cores 2: "
             + "; ".join(f"{mode} {', '.join(f'{s:.0f}' for s in runs)} s" for mode, runs in seconds.items()))
    print(value)
    m.record_if_asked(args, MEASUREMENTS, KEY, value, f"python benchmarks/job_launch.py --repeats {args.repeats}")


if __name__ == "__main__":
    main()
