"""Wall time of the whole DAG from a fresh clone, its per-rule breakdown, and the no-op reruns.

    python benchmarks/full_run.py [--profile embedded|realtext|paper] [--ref HEAD] [--dvc]

Clones ``--ref`` of this repository into a folder beside it (so ``../shared`` resolves as in the
checkout), runs ``snakemake --cores all`` there (the README's command 1, or
``--config profile=<profile>``), then times a second ``snakemake --cores all`` (nothing to do)
and, with ``--dvc``, ``dvc repro`` twice (the first records DVC's lock; the second is the no-op).
Prints the full-run wall time, the job seconds per rule (Snakemake's ``benchmark:`` files) and
each no-op's share of the full run. The packages must already be installed (install time is
not part of the figure). Run two refs one after the other on the same machine to compare them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rule_times import print_rule_times  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="embedded")
    parser.add_argument("--ref", default="HEAD", help="commit of this repository to clone (default HEAD)")
    parser.add_argument("--dvc", action="store_true", help="also time `dvc repro` (lock, then no-op)")
    parser.add_argument("--keep", action="store_true", help="keep the clone afterwards")
    args = parser.parse_args()

    ref = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout.strip()
    work = REPO.parent / f"fullrun-{args.profile}-{ref}"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(work)], check=True)
    subprocess.run(["git", "checkout", "--quiet", ref], cwd=work, check=True)
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "all"]
    if args.profile != "embedded":
        snakemake += ["--config", f"profile={args.profile}"]
    try:
        full = timed(snakemake, work)
        noop = timed(snakemake, work)
        results = work / "results" / args.profile
        print(f"commit {ref}, profile {args.profile}, fresh clone in {work}")
        print(f"full run (`{' '.join(snakemake[2:])}`): {full:.0f} s = {full / 60:.1f} min")
        print_rule_times(results / "benchmarks")
        print(f"\nno-op `snakemake` rerun: {noop:.1f} s = {100 * noop / full:.1f} % of the full run")
        if args.dvc:
            lock = timed(["dvc", "repro"], work)
            again = timed(["dvc", "repro"], work)
            print(f"`dvc repro` after the run (records dvc.lock; Snakemake has nothing to do): {lock:.1f} s")
            print(f"no-op `dvc repro`: {again:.1f} s = {100 * again / full:.1f} % of the full run")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
