"""Wall time of the test suite as the README runs it, in a fresh clone: its tests, skips and seconds.

    python benchmarks/test_suite.py [--ref HEAD] [--record]

Clones ``--ref`` of this repository into a temporary folder (so, as on a fresh checkout, there is no
``../shared`` beside it and the real-data tests skip) and runs the README's test command there,
``pytest`` (``-n auto --dist worksteal -ra`` from pyproject.toml), with the clone's ``src`` first on
the path; the packages must already be installed (``pip install -e ".[test]"``, not part of the
figure). Prints pytest's summary: the tests passed and skipped, and its seconds. ``--record`` writes
``tests.suite_time`` into this repository's ``docs/measurements.yaml`` (refused when a test failed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from qbslt.reports import measurements as m

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = REPO / "docs" / "measurements.yaml"
KEY = "tests.suite_time"
PYTEST = [sys.executable, "-m", "pytest"]  # the README's `pytest`, with this interpreter


def run_suite(work: Path) -> str:
    """Run the suite in ``work``; its output (stdout and stderr), also echoed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(work / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]))
    done = subprocess.run(PYTEST, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(done.stdout[-4000:])
    return done.stdout


def command_line() -> str:
    """The command as run, for the measurements file (the docs name no commit: the code is the file's own)."""
    args = sys.argv[1:]
    if "--hardware" in args:  # the machine's description goes in its own field
        i = args.index("--hardware")
        args = args[:i] + args[i + 2:]
    args = [a for a in args if not a.startswith("--hardware=")]
    argv = " ".join(shlex.quote(a) for a in ["python", os.path.relpath(sys.argv[0], REPO), *args])
    return f"{argv}  (`pytest` in a fresh clone in a temporary folder, packages already installed)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="commit of this repository to clone (default HEAD)")
    parser.add_argument("--record", action="store_true", help=f"write {KEY} into docs/measurements.yaml")
    parser.add_argument("--hardware", help="with --record: the machine, in words (default: this machine's, and "
                                           "say in it what else ran)")
    args = parser.parse_args()

    ref = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix=f"qbslt-tests-{ref}-")) / "clone"
    try:
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(work)], check=True)
        subprocess.run(["git", "checkout", "--quiet", ref], cwd=work, check=True)
        summary = m.parse_pytest_summary(run_suite(work))
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
    print(f"commit {ref}: {summary.count('passed')} passed, {summary.count('skipped')} skipped, "
          f"{summary.count('failed')} failed, {summary.count('errors')} errors in {summary.seconds:.1f} s")
    print(f"{KEY}: {m.format_test_suite(summary)}")
    if args.record:
        if not summary.ok:
            sys.exit(f"not recorded: the suite did not pass ({summary.count('failed')} failed, "
                     f"{summary.count('errors')} errors)")
        hardware = args.hardware or m.hardware_description()
        m.record_measurement(MEASUREMENTS, KEY, m.format_test_suite(summary), command_line(), hardware)
        print(f"recorded in {MEASUREMENTS} ({hardware}); `qbslt docs` copies it into README.md")


if __name__ == "__main__":
    main()
