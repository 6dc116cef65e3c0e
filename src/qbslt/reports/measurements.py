"""Recording measured figures into ``docs/measurements.yaml``, and the formats the docs quote them in.

``qbslt.reports.docs`` reads the file (:func:`~qbslt.reports.docs.load_measurements`) and copies each
value into the docs; this module writes one entry at a time, for the benchmark scripts that measure
them (``benchmarks/full_run.py --record``, ``benchmarks/test_suite.py --record``).
:func:`record_measurement` rewrites only that entry's lines: the header comment, the other entries and
their order stay byte for byte, and the file is replaced atomically after the new text has been read
back with the project's reader.

The formatters turn raw figures (seconds, bytes, per-job benchmark times, pytest's summary) into the
wording the docs already use, so a re-measured entry reads like the hand-typed one it replaces.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qbslt.atomic import atomic_write_text
from qbslt.errors import QbsltError
from qbslt.reports.docs import load_measurements

INDENT = "  "
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
                9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}


def number_words(n: int) -> str:
    """``two`` for 2 (one to twelve in words, as the docs write them), digits above."""
    return NUMBER_WORDS.get(n, f"{n:,}")


# ---------------------------------------------------------------------------------------------
# Writing one entry


def _entry_text(key: str, value: str, command: str, date: datetime.date, hardware: str) -> str:
    """The YAML lines of one entry in the file's style: a one-line value double-quoted, a multi-line
    one as a ``|`` block scalar."""
    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar

    value = value.strip("\n")
    lines = [f"{key}:"]
    if "\n" in value:
        body = value.split("\n")
        if body[0][:1] in (" ", "\t") or any(line != line.rstrip() for line in body):
            raise QbsltError(f"{key}: a multi-line value may not start with a space or end a line with one")
        lines.append(f"{INDENT}value: |")
        lines += [f"{INDENT * 2}{line}" if line else "" for line in body]
    else:
        lines.append(f"{INDENT}value: {quoted(value)}")
    lines += [f"{INDENT}command: {quoted(command)}", f"{INDENT}date: {date.isoformat()}",
              f"{INDENT}hardware: {quoted(hardware)}"]
    return "\n".join(lines) + "\n"


def _entry_span(lines: list[str], key: str) -> tuple[int, int] | None:
    """Line range ``[start, end)`` of ``key``'s entry: its ``KEY:`` line and the indented lines after
    it, without the blank or comment lines that separate it from the next entry."""
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n").rstrip() == f"{key}:"), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (lines[end][:1] in (" ", "\t") or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # the blank lines belong to the gap
        end -= 1
    return start, end


def add_record_options(parser, key: str) -> None:
    """A benchmark's ``--record`` (write ``key`` into docs/measurements.yaml) and ``--hardware`` options."""
    parser.add_argument("--record", action="store_true", help=f"write {key} into docs/measurements.yaml")
    parser.add_argument("--hardware", help="with --record: the machine, in words (default: this machine's; "
                                           "say in it what else ran)")


def record_if_asked(args, path: str | os.PathLike, key: str, value: str, command: str) -> None:
    """:func:`record_measurement` when the benchmark ran with ``--record`` (:func:`add_record_options`)."""
    if args.record:
        record_measurement(path, key, value, command, args.hardware or hardware_description())


def record_measurement(path: str | os.PathLike, key: str, value: str, command: str, hardware: str,
                       date: datetime.date | None = None) -> None:
    """Write ``key``'s entry of the measurements file at ``path``: replace it in place, or append it
    when it is new. Every other line stays as it was; the new text must read back (with
    :func:`~qbslt.reports.docs.load_measurements`) as the old entries plus this one, or nothing is written."""
    path = Path(path)
    date = date or datetime.date.today()
    for name, text in (("value", value), ("command", command), ("hardware", hardware)):
        if not str(text).strip():
            raise QbsltError(f"{path}: {key}: empty {name}")
    before = load_measurements(path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    entry = _entry_text(key, value, command, date, hardware)
    span = _entry_span(lines, key)
    if span is None:
        if key in before:
            raise QbsltError(f"{path}: {key}: entry not written as a plain `{key}:` line, cannot rewrite it")
        separator = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        new = text + separator + entry
    else:
        new = "".join(lines[:span[0]]) + entry + "".join(lines[span[1]:])
    try:
        after = yaml.safe_load(new)
    except yaml.YAMLError as exc:
        raise QbsltError(f"{path}: {key}: the rewritten file does not parse: {exc}") from exc
    written = {"value": value.strip("\n"), "command": command, "date": date, "hardware": hardware}
    others = {k: entry for k, entry in before.items() if k != key}
    if (not isinstance(after, dict) or [k for k in after if k != key] != list(others)
            or any(after[k] != entry for k, entry in others.items())
            or {**after.get(key, {}), "value": str(after.get(key, {}).get("value", "")).strip("\n")} != written):
        raise QbsltError(f"{path}: {key}: the rewritten file does not read back as written")
    atomic_write_text(path, new)


# ---------------------------------------------------------------------------------------------
# This machine, in words


def _cpu_name(cpuinfo: str) -> str:
    """``Intel Xeon`` of ``Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz``: vendor and brand."""
    model = next((line.split(":", 1)[1] for line in cpuinfo.splitlines()
                  if line.startswith("model name")), "")
    words = [w for w in re.sub(r"\((?:R|TM|tm|r)\)", "", model).split()
             if not re.fullmatch(r"\d+-Core|Processor|CPU|@|[\d.]+GHz", w)]
    return " ".join(words[:2]) or "unknown CPU"


def _isa(cpuinfo: str) -> str:
    flags = set(next((line.split(":", 1)[1] for line in cpuinfo.splitlines()
                      if line.startswith(("flags", "Features"))), "").split())
    return " (AVX-512)" if "avx512f" in flags else " (AVX2)" if "avx2" in flags else ""


def _gpus() -> list[tuple[str, int]]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory)
            for i in range(torch.cuda.device_count())]


def hardware_description(cpuinfo: str | None = None, cores: int | None = None, memory_bytes: int | None = None,
                         gpus: list[tuple[str, int]] | None = None) -> str:
    """This machine as the measurements file writes it: ``2-core Intel Xeon (AVX-512), 24 GiB, no GPU``.

    From ``/proc/cpuinfo`` (model name, AVX-512 / AVX2 flags), ``os.cpu_count()``, ``MemTotal`` of
    ``/proc/meminfo`` and ``torch.cuda``; each can be given instead (tests)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    if memory_bytes is None:
        try:
            meminfo = Path("/proc/meminfo").read_text(encoding="utf-8")
            memory_bytes = int(re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)[1]) * 1024
        except (OSError, TypeError):
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gpus = _gpus() if gpus is None else gpus
    if gpus:
        names = sorted({name for name, _ in gpus})
        gpu = ", ".join(f"{number_words(sum(n == name for n, _ in gpus))} {name} "
                        f"({max(m for n, m in gpus if n == name) / 2**30:.0f} GiB)" for name in names)
    else:
        gpu = "no GPU"
    return f"{cores}-core {_cpu_name(cpuinfo)}{_isa(cpuinfo)}, {memory_bytes / 2**30:.0f} GiB, {gpu}"


# ---------------------------------------------------------------------------------------------
# Formats of the entries


def format_seconds(seconds: float) -> str:
    """``1,665 s``."""
    return f"{seconds:,.0f} s"


def format_each(seconds: float) -> str:
    """A per-job mean: ``8.0 s`` below 100 s, ``320 s`` above."""
    return f"{seconds:.1f} s" if seconds < 100 else format_seconds(seconds)


def format_wall_time(seconds: float, jobs_at_a_time: int) -> str:
    """``18.1 min (1,087 s, two jobs at a time)``; from an hour on, whole minutes: ``68 min (4,075 s, ...)``."""
    minutes = seconds / 60
    shown = f"{minutes:.1f}" if round(minutes, 1) < 60 else f"{minutes:,.0f}"
    return f"{shown} min ({seconds:,.0f} s, {number_words(jobs_at_a_time)} jobs at a time)"


def format_noop(seconds: float) -> str:
    """``3.1 s``."""
    return f"{seconds:.1f} s"


def format_dvc(lock_seconds: float, noop_seconds: float) -> str:
    """``25.9 s (it records dvc.lock), then 3.1 s for a no-op `dvc repro```."""
    return f"{lock_seconds:.1f} s (it records dvc.lock), then {noop_seconds:.1f} s for a no-op `dvc repro`"


MIB = 2**20


def format_disk(data: int, models: int, checkpoints: int) -> str:
    """``about 1.1 GB: data 453 MB, models 144 MB, resumable checkpoints 491 MB`` from bytes on disk.

    Units as ``du -sh`` counts them (powers of 1024), written MB and GB as the docs do; the total
    is the sum of the three."""
    def mb(size: int) -> str:
        return f"{size / MIB:,.0f} MB"
    total = data + models + checkpoints
    about = f"{total / 2**30:.1f} GB" if total >= 1000 * MIB else mb(total)
    return f"about {about}: data {mb(data)}, models {mb(models)}, resumable checkpoints {mb(checkpoints)}"


def disk_usage(path: str | os.PathLike) -> int:
    """Bytes on disk under ``path`` (allocated blocks, each hard-linked file once), as ``du`` counts; 0 when absent."""
    path = Path(path)
    if not path.exists():
        return 0
    seen, total = set(), 0
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total + os.lstat(path).st_blocks * 512


@dataclass(frozen=True)
class Job:
    """One Snakemake job's benchmark: its rule, its file's stem (the wildcards) and its seconds."""
    rule: str
    name: str
    seconds: float


# Rules by part of the job-time tables; a rule not named here is counted under "other".
DATA_RULES = ("generate_embedded", "realtext_data", "fetch_real", "extract_frames", "keypoints", "join_questions",
              "slslr_clips", "slslr_isolated")
TABLE_RULES = ("tables", "table10")  # tables/tableN files are rule `tables`' folder too


def _rule_part(rule: str) -> str:
    return "table" if rule in TABLE_RULES or re.fullmatch(r"table\d+", rule) else rule


def _sum(jobs: Iterable[Job]) -> float:
    return sum(job.seconds for job in jobs)


def _table(header: list[str], rows: list[list[str]], total: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "|".join("--:" for _ in header[1:]) + "|"]
    lines += ["|" + "|".join(f" {cell} " if cell else " " for cell in row) + "|" for row in rows + [total]]
    return "\n".join(lines) + "\n"


def embedded_job_times(jobs: list[Job]) -> str:
    """The ``embedded.job_times`` table: part, jobs, job time (and the mean of the training parts)."""
    parts = [
        ("data: generate, extract frames, keypoints, clips", lambda r: r in DATA_RULES, False),
        ("frozen-backbone features", lambda r: r in ("features", "tokenizer"), True),
        ("stage 1 (shared)", lambda r: r == "pretrain", True),
        ("stage 2 + evaluation (dev passes while training, the input-reliance decodes)",
         lambda r: r in ("train", "reference"), True),
        ("Sigma (Table 9)", lambda r: r == "sigma", False),
        ("SL-SLR (Table 10)", lambda r: r == "slslr_run", False),
        ("tables", lambda r: _rule_part(r) == "table", False),
    ]
    rows, counted = [], set()
    for label, member, each in parts:
        picked = [job for job in jobs if member(job.rule)]
        counted.update(id(job) for job in picked)
        if not picked:
            continue
        seconds = _sum(picked)
        text = format_seconds(seconds) + (f" ({format_each(seconds / len(picked))} each)" if each else "")
        rows.append([label, f"{len(picked):,}", text])
    other = [job for job in jobs if id(job) not in counted]
    if other:
        rows.append([f"other ({', '.join(sorted({job.rule for job in other}))})", f"{len(other):,}",
                     format_seconds(_sum(other))])
    return _table(["part", "jobs", "job time"], rows,
                  ["**total job time**", "", f"**{format_seconds(_sum(jobs))}**"])


BACKBONES = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50"}


def realtext_job_times(jobs: list[Job], videos: int | None = None, sigma_variants: int | None = None) -> str:
    """The ``realtext.job_times`` table: part, job time. ``videos`` (the samples rendered) and
    ``sigma_variants`` name the size of their parts when known."""
    def rule(*names: str) -> list[Job]:
        return [job for job in jobs if job.rule in names]

    def seeds(picked: list[Job]) -> int:
        return len({m[1] for job in picked if (m := re.search(r"seed(\d+)$", job.name))}) or len(picked)

    rows = []
    render = rule("realtext_data", "fetch_real", "generate_embedded", "join_questions")
    if render:
        rows.append([f"rendering the {videos:,} videos" if videos else "rendering the videos",
                     format_seconds(_sum(render))])
    for label, names in (("frame extraction", ("extract_frames",)), ("keypoints", ("keypoints",))):
        if picked := rule(*names):
            rows.append([label, format_seconds(_sum(picked))])
    if features := rule("features", "tokenizer"):
        backbones = sorted({BACKBONES.get(parts[1], parts[1]) for job in features
                            if job.rule == "features" and len(parts := job.name.split("_")) >= 3})
        rows.append([f"frozen {' and '.join(backbones) + ' ' if backbones else ''}features",
                     format_seconds(_sum(features))])
    if stage1 := rule("pretrain"):
        rows.append([f"stage 1, {number_words(seeds(stage1))} seeds", format_seconds(_sum(stage1))])
    if stage2 := rule("train", "reference"):
        rows.append([f"the {len(stage2)} stage-2 runs (with their input-reliance decodes)",
                     f"{format_seconds(_sum(stage2))} ({format_each(_sum(stage2) / len(stage2))} each)"])
    if sigma := rule("sigma"):
        rows.append([f"Sigma, {sigma_variants} variants" if sigma_variants else "Sigma",
                     format_seconds(_sum(sigma))])
    clips, runs = rule("slslr_clips", "slslr_isolated"), rule("slslr_run")
    if clips or runs:
        label = "SL-SLR: " + ", ".join(part for part, picked in
                                       (("clips", clips), (f"{number_words(len(runs))} seeds", runs)) if picked)
        rows.append([label, ", ".join(format_seconds(_sum(p)) for p in (clips, runs) if p)])
    if tables := [job for job in jobs if _rule_part(job.rule) == "table"]:
        rows.append(["tables", format_seconds(_sum(tables))])
    known = {"realtext_data", "fetch_real", "generate_embedded", "join_questions", "extract_frames", "keypoints",
             "features", "tokenizer", "pretrain", "train", "reference", "sigma", "slslr_clips", "slslr_isolated",
             "slslr_run"}
    if other := [job for job in jobs if job.rule not in known and _rule_part(job.rule) != "table"]:
        rows.append([f"other ({', '.join(sorted({job.rule for job in other}))})", format_seconds(_sum(other))])
    return _table(["part", "job time"], rows, ["**total**", f"**{format_seconds(_sum(jobs))}**"])


# ---------------------------------------------------------------------------------------------
# pytest's summary


SUMMARY = re.compile(r"^=*\s*(?P<counts>(?:\d+ \w+(?:, )?)+) in (?P<seconds>[\d.]+)s(?: \([\d:]+\))?\s*=*$", re.M)
SKIP_LINE = re.compile(r"^SKIPPED \[(?P<count>\d+)\] (?P<where>\S+?): (?P<reason>.*)$", re.M)
REAL_DATA_SKIP = "../shared"  # the real-data tests' skip reasons name the folder beside the checkout


@dataclass
class SuiteSummary:
    """pytest's outcome counts (``passed``, ``skipped``, ``failed``, ...), its seconds, and the
    skip reasons of ``-ra`` with their counts."""
    counts: dict[str, int]
    seconds: float
    skips: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)

    @property
    def tests(self) -> int:
        """The tests run or skipped (deselected ones and collection errors not counted)."""
        return sum(self.count(o) for o in ("passed", "failed", "skipped", "xfailed", "xpassed"))

    @property
    def ok(self) -> bool:
        return not (self.count("failed") or self.count("errors"))


def parse_pytest_summary(output: str) -> SuiteSummary:
    """The last summary line of pytest's output (``=== 656 passed, 24 skipped, 3 warnings in 153.21s
    (0:02:33) ===``) and the ``SKIPPED [N] where: reason`` lines of ``-ra``."""
    matches = list(SUMMARY.finditer(output))
    if not matches:
        raise QbsltError("no pytest summary line (`N passed ... in S s`) in the output")
    last = matches[-1]
    counts: dict[str, int] = {}
    for number, outcome in re.findall(r"(\d+) (\w+)", last["counts"]):
        outcome = {"error": "errors", "warning": "warnings"}.get(outcome, outcome)
        counts[outcome] = counts.get(outcome, 0) + int(number)
    skips: dict[str, int] = {}
    for skip in SKIP_LINE.finditer(output):
        skips[skip["reason"].strip()] = skips.get(skip["reason"].strip(), 0) + int(skip["count"])
    return SuiteSummary(counts, float(last["seconds"]), skips)


def format_test_suite(summary: SuiteSummary) -> str:
    """``153 s for 548 tests (24 real-data tests skipped: no ../shared beside the clone)``: the
    ``tests.suite_time`` wording."""
    skipped = summary.count("skipped")
    real = min(skipped, sum(n for reason, n in summary.skips.items() if REAL_DATA_SKIP in reason))
    notes = []
    if real:
        notes.append(f"{real} real-data tests skipped: no ../shared beside the clone")
    if skipped - real:
        notes.append(f"{skipped - real} {'other ' if real else ''}tests skipped")
    text = f"{summary.seconds:,.0f} s for {summary.tests:,} tests"
    return text + (f" ({'; '.join(notes)})" if notes else "")


def jobs_from_benchmarks(root: str | os.PathLike) -> list[Job]:
    """Every ``RULE/JOB.tsv`` benchmark file under ``root`` (Snakemake's ``benchmark:``), its last ``s``."""
    jobs = []
    for path in sorted(Path(root).glob("*/*.tsv")):
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(rows) < 2 or "s" not in rows[0]:
            raise QbsltError(f"{path}: not a Snakemake benchmark file (a header with `s`, then rows)")
        jobs.append(Job(path.parent.name, path.stem, float(rows[-1][rows[0].index("s")])))
    return jobs


def count_examples(examples: str | os.PathLike) -> int:
    """Samples of every ``DATASET/SPLIT.tsv`` under ``examples`` (one header line each)."""
    return sum(max(0, len(path.read_text(encoding="utf-8").splitlines()) - 1)
               for path in sorted(Path(examples).glob("*/*.tsv")))


def count_sigma_variants(sigma_metrics: str | os.PathLike) -> int:
    """Distinct Sigma variants under ``results/<profile>/sigma/metrics/DATASET/VARIANT/``."""
    return len({path.name for path in Path(sigma_metrics).glob("*/*") if path.is_dir()})


def record_all(path: str | os.PathLike, values: Mapping[str, str], command: str, hardware: str,
               date: datetime.date | None = None) -> None:
    """:func:`record_measurement` of each ``key: value``, with one command, hardware and date."""
    for key, value in values.items():
        record_measurement(path, key, value, command, hardware, date)
