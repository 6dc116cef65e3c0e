"""How long the CLI takes: ``qbslt --help``, ``--version``, ``python -m qbslt --version`` and ``qbslt plan``.

    python benchmarks/cli_startup.py [--repeats 9] [--record]

Runs each command ``--repeats`` times and prints the median wall time. ``qbslt`` is the console
script installed beside this interpreter (not a version manager's shim, which adds its own start);
``python -m qbslt`` goes through the preloaded launcher, started once before timing. ``qbslt plan``
(the embedded profile's ``all``) is mostly Snakemake's own dry run of the DAG, timed with
``--repeats`` // 3 runs (at least one).
``--record`` writes ``cli.startup`` into ``docs/measurements.yaml``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from qbslt.reports import measurements as m

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = REPO / "docs" / "measurements.yaml"
KEY = "cli.startup"


def median_seconds(command: list[str], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    m.add_record_options(parser, KEY)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "qbslt"
    if not script.exists():
        raise SystemExit(f"{script}: no qbslt console script beside this interpreter (pip install -e .)")
    subprocess.run([sys.executable, "-m", "qbslt", "--version"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    commands = {"qbslt --help": [str(script), "--help"], "qbslt --version": [str(script), "--version"],
                "python -m qbslt --version": [sys.executable, "-m", "qbslt", "--version"]}
    times = {name: median_seconds(command, args.repeats) for name, command in commands.items()}
    times["qbslt plan"] = median_seconds([str(script), "plan"], max(1, args.repeats // 3))
    value = "; ".join(f"`{name}` {seconds:.2f} s" for name, seconds in times.items()) + \
        f" (medians of {args.repeats} runs, `qbslt plan` of {max(1, args.repeats // 3)})"
    print(value)
    m.record_if_asked(args, MEASUREMENTS, KEY, value, f"python benchmarks/cli_startup.py --repeats {args.repeats}")


if __name__ == "__main__":
    main()
