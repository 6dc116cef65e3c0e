"""The jobs of a Snakemake target from scratch, with their rules and wildcards: ``snakemake -n
--forceall TARGET --config profile=P`` in an empty working directory.

Snakemake 9 has no machine-readable listing of the jobs it would run with their wildcards
(``--summary`` lists output files, ``--d3dag`` rule names only, the API prints): the dry run's
``rule NAME:`` blocks and their ``wildcards:`` lines are read, and checked against the run's own
job-count table, so that a change of that format fails loudly instead of planning the wrong jobs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from qbslt.errors import QbsltError


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)


def parse_dry_run(text: str) -> list[Job]:
    """The jobs of ``snakemake -n`` output: each ``rule NAME:`` block and its ``wildcards:`` line.
    Checked against the run's own job-count table."""
    jobs: list[Job] = []
    stats: dict[str, int] = {}
    in_stats = False
    for line in text.splitlines():
        if m := re.match(r"^(?:local)?rule (\S+):$", line):
            jobs.append(Job(m[1]))
        elif (m := re.match(r"^\s+wildcards: (.*)$", line)) and jobs:
            jobs[-1].wildcards = dict(part.split("=", 1) for part in m[1].split(", "))
        elif line.startswith("Job stats:"):
            in_stats, stats = True, {}
        elif in_stats:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    in_stats = False
                else:
                    stats[parts[0]] = int(parts[1])
    counted = job_counts(jobs)
    if stats and counted != stats:
        raise QbsltError(f"snakemake dry run: {sum(counted.values())} job blocks parsed, but its job table "
                         f"says {stats}: output format not understood")
    return jobs


def job_counts(jobs: list[Job]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
    return counts


def dry_run(target: str, profile: str, params: Path, snakefile: Path) -> list[Job]:
    """Every job of ``target`` from scratch: a dry run in an empty folder holding only ``params``."""
    if not snakefile.is_file():
        raise QbsltError(f"{snakefile}: Snakefile not found (run `qbslt plan` in the repository, or pass --snakefile)")
    with tempfile.TemporaryDirectory(prefix="qbslt-plan-") as tmp:
        shutil.copyfile(params, Path(tmp) / "params.yaml")
        cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile.resolve()), "-d", tmp, "--cores", "1",
               "-n", "--forceall", target, "--config", f"profile={profile}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
        error = next((ln for ln in lines if "Error" in ln or "error" in ln), lines[-1] if lines else "")
        detail = [ln for ln in lines if ln.startswith(("target ", "Table ", "MissingRule", "No rule"))]
        raise QbsltError(f"snakemake dry run of {target!r} (profile {profile}) failed: "
                         f"{'; '.join(detail) or error}")
    return parse_dry_run(result.stdout + result.stderr)
