"""Numbers in the user docs are generated, not typed: ``qbslt docs``.

README.md and docs/*.md quote three kinds of source between markers:

* a results file, as a block::

      <!-- results/embedded/tables/table4.md -->
      ...the file's text...
      <!-- end -->

  The path starts with ``results/``, which stands for the results tree given with ``--results``
  (``results/`` by default): the block holds the file's text, exactly.
* a measurement of ``docs/measurements.yaml`` (a time, a size, a GPU figure), inline::

      the run takes <!-- measurement: realtext.wall_time -->29.2 min<!-- end --> on ...

  or, for a value of several lines (a table), as a block like a results file's. Each entry there holds its ``value`` (the text quoted), the ``command`` that measures it, the
  ``date`` and the ``hardware`` in words. Every entry is quoted exactly once in the docs: a figure
  appears in one place, and an entry nobody quotes is a stale one.
* one cell of a results table (a Markdown table file), inline, where prose cites a number of it::

      SL-SLR reaches <!-- results/realtext/tables/table10.md#Method=sl_slr&col=linear top-1&mean -->89.73<!-- end -->

  After ``#``, ``&``-separated: ``HEADER=VALUE`` pairs pick the one row whose cell under ``HEADER``
  is ``VALUE`` or starts with it followed by a character that is not a letter, digit or ``_``
  (``sl_slr`` matches ``sl_slr (free-negative, ...)``, not ``sl_slr_generic_aug``); ``section=VALUE``
  keeps the rows under a bold group row whose title matches ``VALUE`` alike; ``col=HEADER`` names
  the column; ``mean`` quotes the text before the cell's `` ± `` (the mean of a ``mean ± std`` cell).
  Exactly one row must match. The prose then cites what the table shows, generated from the same
  file, so it cannot go stale beside it.

* a figure of the results, as a block around the Markdown image that shows it::

      <!-- results/embedded/figures/figure4.png -->![Figure 4](figures/figure4-embedded.png)<!-- end -->

  The image file (relative to the doc) holds the results file's bytes: filling copies it there.

:func:`fill` rewrites the blocks from their sources; ``check=True`` compares instead and reports
each block that differs. A results block whose file does not exist (a profile not run, or a tree
without that table) is skipped and named as skipped, never failed and never emptied.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qbslt.atomic import atomic_paths, atomic_write_text
from qbslt.errors import QbsltError

MEASUREMENT_FIELDS = ("value", "command", "date", "hardware")
MEASUREMENT_PREFIX = "measurement: "
RESULTS_PREFIX = "results/"

# `<!-- SOURCE -->TEXT<!-- end -->`; SOURCE is a results path (a table's cell: `#` and a selector, which may hold
# spaces) or `measurement: KEY`. Blocks do not nest.
MARKER = re.compile(r"<!-- (?P<source>results/[^\s>#]+(?:#[^>\n]*?)?|measurement: [^\s>]+) -->(?P<body>.*?)<!-- end -->",
                    re.S)
CELL_SEPARATOR = "#"
OPENING = re.compile(r"<!-- (?:results/|measurement: )")


@dataclass
class Block:
    doc: Path
    line: int
    source: str
    body: str
    start: int  # character offsets of the body in the document
    end: int

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass
class Report:
    """What :func:`fill` did: blocks changed (or, under ``check``, differing), skipped, unchanged."""
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    first_difference: dict[str, str] = field(default_factory=dict)  # changed block -> its first differing line

    @property
    def results_differ(self) -> bool:
        """A results block differs: the results tree is not the one the docs were filled from."""
        return any(f": {RESULTS_PREFIX}" in label for label in self.changed)


# Printed by `qbslt docs --check` when a user's results differ from the committed numbers.
RESULTS_DIFFER_NOTE = """Your results differ from the numbers in the docs. With the same code and params.yaml, runs give
the same bytes on every x86-64 machine with AVX2 (docs/performance.md, "The same numbers on every
machine"), so a difference means one of: other code or another params.yaml (a --config override
included), QBSLT_NUMERICS=native, a CPU without AVX2 or another architecture, a GPU, or a run not
yet complete. `qbslt docs --results DIR` writes your numbers into the docs instead."""


def first_difference(committed: str, current: str, width: int = 100) -> str:
    """The first line where two block texts differ, both versions shortened to ``width``."""
    old, new = committed.splitlines(), current.splitlines()
    for number, (a, b) in enumerate(zip(old + [""] * len(new), new + [""] * len(old)), start=1):
        if a != b:
            return f"line {number}: docs {a[:width]!r}, now {b[:width]!r}"
    return "whitespace only"


def load_measurements(path: Path) -> dict[str, dict]:
    """``docs/measurements.yaml``: ``{key: {value, command, date, hardware}}``, every field present."""
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise QbsltError(f"{path}: {exc}") from exc
    if not isinstance(entries, dict):
        raise QbsltError(f"{path}: expected a mapping of measurement keys to entries")
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise QbsltError(f"{path}: {key}: expected a mapping with {', '.join(MEASUREMENT_FIELDS)}")
        missing = [name for name in MEASUREMENT_FIELDS if not entry.get(name)]
        unknown = sorted(set(entry) - set(MEASUREMENT_FIELDS))
        if missing or unknown:
            raise QbsltError(f"{path}: {key}: " + "; ".join(
                part for part in (missing and f"missing {', '.join(missing)}",
                                  unknown and f"unknown key {', '.join(unknown)}") if part))
        if not isinstance(entry["date"], datetime.date):
            raise QbsltError(f"{path}: {key}: date {entry['date']!r} is not YYYY-MM-DD")
    return entries


def find_blocks(doc: Path, text: str) -> list[Block]:
    """Every marked block of ``text``; an opening marker without its ``<!-- end -->`` is an error."""
    blocks = []
    for match in MARKER.finditer(text):
        blocks.append(Block(doc, text.count("\n", 0, match.start()) + 1, match["source"], match["body"],
                            match.start("body"), match.end("body")))
    closed = {text.count("\n", 0, m.start()) + 1 for m in MARKER.finditer(text)}
    for opening in OPENING.finditer(text):
        line = text.count("\n", 0, opening.start()) + 1
        if line not in closed:
            raise QbsltError(f"{doc}:{line}: marker without its <!-- end -->")
    return blocks


def block_text(block: Block, results: Path, measurements: dict[str, dict]) -> str | None:
    """The text a block should hold, or None when its results file does not exist."""
    if block.source.startswith(MEASUREMENT_PREFIX):
        key = block.source[len(MEASUREMENT_PREFIX):]
        if key not in measurements:
            raise QbsltError(f"{block.where}: unknown measurement {key!r} (not in docs/measurements.yaml)")
        value = str(measurements[key]["value"])
        return f"\n{value.strip()}\n" if "\n" in value.strip() else value  # a table: a block of lines
    source, _, selector = block.source.partition(CELL_SEPARATOR)
    cell = parse_cell(block, selector) if CELL_SEPARATOR in block.source else None  # malformed: fails, file or not
    path = results / source[len(RESULTS_PREFIX):]
    if not path.is_file():
        return None
    if cell is not None:
        return cell_text(block, cell, path.read_text(encoding="utf-8"))
    return "\n" + path.read_text(encoding="utf-8").strip("\n") + "\n"


@dataclass(frozen=True)
class Cell:
    """A cell quote's selector: ``rows`` ((header or ``section``, value) pairs), ``column``, ``mean``."""
    rows: tuple[tuple[str, str], ...]
    column: str
    mean: bool


def parse_cell(block: Block, selector: str) -> Cell:
    """``HEADER=VALUE&...&col=HEADER[&mean]`` of a cell quote; a malformed one fails naming doc:line."""
    def bad(why: str) -> QbsltError:
        return QbsltError(f"{block.where}: {block.source}: {why} (expected "
                          f"{CELL_SEPARATOR}HEADER=VALUE&...&col=HEADER[&mean])")
    if not block.source.partition(CELL_SEPARATOR)[0].endswith(".md"):
        raise bad("a cell is quoted from a Markdown table (.md) only")
    rows, column, mean = [], None, False
    for part in selector.split("&"):
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq:
            if key != "mean" or mean:
                raise bad(f"{part.strip()!r} is neither HEADER=VALUE nor mean, once")
            mean = True
        elif not key or not value:
            raise bad(f"{part.strip()!r}: empty header or value")
        elif key == "col":
            if column is not None:
                raise bad("col given twice")
            column = value
        else:
            rows.append((key, value))
    if column is None or not rows:
        raise bad("a cell needs col=HEADER and at least one HEADER=VALUE picking its row")
    return Cell(tuple(rows), column, mean)


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table line (``\\|`` is a ``|`` inside a cell)."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _matches(cell: str, value: str) -> bool:
    return cell == value or (cell.startswith(value) and not (cell[len(value)].isalnum() or cell[len(value)] == "_"))


def cell_text(block: Block, cell: Cell, text: str) -> str:
    """The text of ``cell`` in the first Markdown table of ``text``."""
    def bad(why: str) -> QbsltError:
        return QbsltError(f"{block.where}: {block.source}: {why}")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None or start + 1 >= len(lines):
        raise bad("no Markdown table in the file")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    header, section, rows = _cells(lines[start]), "", []
    for line in lines[start + 2:end]:
        cells = _cells(line)
        if cells and cells[0].startswith("**") and cells[0].endswith("**") and not any(cells[1:]):
            section = cells[0].strip("*")  # a group row: the rows under it
            continue
        if len(cells) == len(header):
            rows.append((section, cells))
    for name in [cell.column] + [key for key, _ in cell.rows if key != "section"]:
        if name not in header:
            raise bad(f"no column {name!r} (columns: {', '.join(header)})")
    column = {name: i for i, name in enumerate(header)}
    hits = [cells for section, cells in rows
            if all(_matches(section if key == "section" else cells[column[key]], value) for key, value in cell.rows)]
    if len(hits) != 1:
        raise bad(f"{len(hits)} rows match {' & '.join(f'{k}={v}' for k, v in cell.rows)}, expected one")
    value = hits[0][column[cell.column]]
    if cell.mean:
        if " ± " not in value:
            raise bad(f"mean: the cell {value!r} is not 'mean ± std'")
        value = value.split(" ± ")[0]
    return value


IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
IMAGE_LINK = re.compile(r"^!\[[^\]]*\]\(([^)\s]+)\)$")


def sync_image(block: Block, results: Path, write: bool) -> bool | None:
    """A figure block: whether the image the block shows differed from its results file (and, with
    ``write``, was replaced by a copy of it); None when the results file does not exist."""
    link = IMAGE_LINK.match(block.body.strip())
    if link is None:
        raise QbsltError(f"{block.where}: a figure block holds one Markdown image, ![caption](path)")
    source = results / block.source[len(RESULTS_PREFIX):]
    if not source.is_file():
        return None
    target = block.doc.parent / link[1]
    want = source.read_bytes()
    if target.is_file() and target.read_bytes() == want:
        return False
    if write:
        with atomic_paths(target) as (tmp,):
            tmp.write_bytes(want)
    return True


def fill(docs: list[Path], results: Path, measurements_path: Path, check: bool = False) -> Report:
    """Fill (or, with ``check``, compare) every marked block of ``docs`` from ``results`` and the measurements."""
    measurements = load_measurements(measurements_path)
    report, quoted = Report(), {}
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        pieces, last = [], 0
        for block in find_blocks(doc, text):
            if block.source.startswith(MEASUREMENT_PREFIX):
                quoted.setdefault(block.source[len(MEASUREMENT_PREFIX):], []).append(block.where)
            label = f"{block.where}: {block.source}"
            if block.source.endswith(IMAGE_SUFFIXES):
                differed = sync_image(block, results, write=not check)
                (report.skipped if differed is None else report.changed if differed else report.unchanged).append(label)
                if differed:
                    report.first_difference[label] = "the image's bytes differ from the results file"
                continue
            want = block_text(block, results, measurements)
            if want is None:
                report.skipped.append(label)
                want = block.body
            elif want != block.body:
                report.changed.append(label)
                report.first_difference[label] = first_difference(block.body, want)
            else:
                report.unchanged.append(label)
            pieces += [text[last:block.start], want]
            last = block.end
        new = "".join(pieces) + text[last:]
        if new != text and not check:
            atomic_write_text(doc, new)
    problems = [f"{key}: quoted {len(where)} times ({', '.join(where)})" for key, where in quoted.items()
                if len(where) > 1]
    problems += [f"{key}: never quoted" for key in measurements if key not in quoted]
    if problems:
        raise QbsltError(f"{measurements_path}: each measurement is quoted exactly once in the docs: "
                         + "; ".join(problems))
    return report


def default_docs(root: Path) -> list[Path]:
    """README.md and docs/*.md under ``root``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]
