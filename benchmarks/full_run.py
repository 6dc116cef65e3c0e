"""Wall time of the whole DAG from a fresh clone, its per-rule breakdown, and the no-op reruns.

    python benchmarks/full_run.py [--profile embedded|realtext|paper] [--ref HEAD] [--dvc] [--record]

Clones ``--ref`` of this repository into a folder beside it (so ``../shared`` resolves as in the
checkout), runs ``snakemake --cores all`` there (the README's command 1, or
``--config profile=<profile>``), then times a second ``snakemake --cores all`` (nothing to do)
and, with ``--dvc``, ``dvc repro`` twice (the first records DVC's lock; the second is the no-op).
Prints the full-run wall time, the job seconds per rule (Snakemake's ``benchmark:`` files) and
each no-op's share of the full run. The packages must already be installed (install time is
not part of the figure). Run two refs one after the other on the same machine to compare them.

``--record`` writes what the run measured into this repository's ``docs/measurements.yaml`` (the
exact command line, today's date, this machine in words): for the embedded profile
``embedded.wall_time``, ``embedded.noop``, ``embedded.disk`` (data/embedded, models and checkpoints
of the clone), ``embedded.job_times`` and, with ``--dvc``, ``embedded.dvc``; for realtext
``realtext.wall_time`` and ``realtext.job_times``. ``qbslt docs`` then copies them into the docs.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rule_times import print_rule_times  # noqa: E402

from qbslt.reports import measurements as m  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = REPO / "docs" / "measurements.yaml"
# The profiles whose figures the measurements file holds, and the keys a run records.
RECORDED = {"embedded": ("embedded.wall_time", "embedded.noop", "embedded.disk", "embedded.job_times", "embedded.dvc"),
            "realtext": ("realtext.wall_time", "realtext.job_times")}


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def measured_values(profile: str, work: Path, full: float, noop: float, dvc: tuple[float, float] | None,
                    jobs_at_a_time: int) -> dict[str, str]:
    """The entries of ``profile`` that a run in the clone ``work`` measured, in the docs' wording."""
    jobs = m.jobs_from_benchmarks(work / "results" / profile / "benchmarks")
    if profile == "embedded":
        values = {
            "embedded.wall_time": m.format_wall_time(full, jobs_at_a_time),
            "embedded.noop": m.format_noop(noop),
            "embedded.disk": m.format_disk(m.disk_usage(work / "data" / profile), m.disk_usage(work / "models"),
                                           m.disk_usage(work / "checkpoints")),
            "embedded.job_times": m.embedded_job_times(jobs),
        }
        if dvc is not None:
            values["embedded.dvc"] = m.format_dvc(*dvc)
        return values
    if profile == "realtext":
        return {
            "realtext.wall_time": m.format_wall_time(full, jobs_at_a_time),
            "realtext.job_times": m.realtext_job_times(
                jobs, videos=m.count_examples(work / "data" / profile / "examples") or None,
                sigma_variants=m.count_sigma_variants(work / "results" / profile / "sigma" / "metrics") or None),
        }
    return {}


def command_line() -> str:
    """This run's command line, and what it ran, for the measurements file's ``command``."""
    argv = " ".join(shlex.quote(a) for a in ["python", os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    return (f"{argv}  (README command 1, `snakemake --cores all`, in a fresh clone, packages installed; "
            "du of data/<profile>, models and checkpoints there; job seconds per rule from Snakemake's benchmark files)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="embedded")
    parser.add_argument("--ref", default="HEAD", help="commit of this repository to clone (default HEAD)")
    parser.add_argument("--dvc", action="store_true", help="also time `dvc repro` (lock, then no-op)")
    parser.add_argument("--keep", action="store_true", help="keep the clone afterwards")
    parser.add_argument("--record", action="store_true",
                        help="write the measured entries into docs/measurements.yaml (embedded and realtext)")
    args = parser.parse_args()
    if args.record and args.profile not in RECORDED:
        parser.error(f"--record: docs/measurements.yaml holds no figures of profile {args.profile!r}")

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
        dvc = None
        if args.dvc:
            lock = timed(["dvc", "repro"], work)
            again = timed(["dvc", "repro"], work)
            dvc = (lock, again)
            print(f"`dvc repro` after the run (records dvc.lock; Snakemake has nothing to do): {lock:.1f} s")
            print(f"no-op `dvc repro`: {again:.1f} s = {100 * again / full:.1f} % of the full run")
        if args.record:
            values = measured_values(args.profile, work, full, noop, dvc, os.cpu_count() or 1)
            hardware = m.hardware_description()
            command = command_line()
            m.record_all(MEASUREMENTS, values, command, hardware)
            print(f"\nrecorded in {MEASUREMENTS} ({hardware}): {', '.join(values)}; `qbslt docs` copies them into the docs")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
