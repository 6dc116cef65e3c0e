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
    inputs: list[str] = field(default_factory=list)  # as the dry run prints them
    outputs: list[str] = field(default_factory=list)


def parse_dry_run(text: str) -> list[Job]:
    """The jobs of ``snakemake -n`` output: each ``rule NAME:`` block and its ``wildcards:``, ``input:``
    and ``output:`` lines.
    Checked against the run's own job-count table."""
    jobs: list[Job] = []
    stats: dict[str, int] = {}
    in_stats = False
    for line in text.splitlines():
        if m := re.match(r"^(?:local)?rule (\S+):$", line):
            jobs.append(Job(m[1]))
        elif (m := re.match(r"^\s+wildcards: (.*)$", line)) and jobs:
            jobs[-1].wildcards = dict(part.split("=", 1) for part in m[1].split(", "))
        elif (m := re.match(r"^\s+(input|output): (.*)$", line)) and jobs:
            setattr(jobs[-1], m[1] + "s", m[2].split(", "))
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


class DryRun:
    """A dry run of ``target`` started now, in the background (:meth:`jobs` waits for it): every job
    from scratch, in an empty folder holding only ``params``. The caller may do other work (load
    the config) while Snakemake imports itself and builds the DAG, which takes most of `qbslt plan`'s time."""

    def __init__(self, target: str, profile: str, params: Path, snakefile: Path):
        if not snakefile.is_file():
            raise QbsltError(f"{snakefile}: Snakefile not found (run `qbslt plan` in the repository, or pass "
                             f"--snakefile)")
        self.target, self.profile = target, profile
        self._tmp = tempfile.TemporaryDirectory(prefix="qbslt-plan-")
        try:
            shutil.copyfile(params, Path(self._tmp.name) / "params.yaml")
            cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile.resolve()), "-d", self._tmp.name,
                   "--cores", "1", "-n", "--forceall", target, "--config", f"profile={profile}"]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
        except BaseException:
            self._tmp.cleanup()
            raise

    def jobs(self) -> list[Job]:
        """The run's jobs, once it has finished; a failed run raises QbsltError naming what it says."""
        try:
            stdout, stderr = self._proc.communicate()
        finally:
            self.cancel()
        if self._proc.returncode != 0:
            lines = [ln.strip() for ln in (stdout + stderr).splitlines() if ln.strip()]
            error = next((ln for ln in lines if "Error" in ln or "error" in ln), lines[-1] if lines else "")
            detail = [ln for ln in lines if ln.startswith(("target ", "Table ", "MissingRule", "No rule"))]
            raise QbsltError(f"snakemake dry run of {self.target!r} (profile {self.profile}) failed: "
                             f"{'; '.join(detail) or error}")
        return parse_dry_run(stdout + stderr)

    def cancel(self) -> None:
        """Stop the run if it still runs, and remove its folder."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        self._tmp.cleanup()


def dry_run(target: str, profile: str, params: Path, snakefile: Path) -> list[Job]:
    """Every job of ``target`` from scratch: a dry run in an empty folder holding only ``params``."""
    return DryRun(target, profile, params, snakefile).jobs()
