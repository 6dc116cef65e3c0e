"""Numbers in the user docs are generated (`qbslt docs`), and the Snakemake report shows every table."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from qbslt.cli import main
from qbslt.profiles import PROFILES
from qbslt.errors import QbsltError
from qbslt.reports.docs import IMAGE_LINK, IMAGE_SUFFIXES, MARKER, default_docs, fill, find_blocks

ROOT = Path(__file__).resolve().parents[1]

MEASUREMENTS = {
    "realtext.wall_time": {"value": "29.2 min", "command": "python benchmarks/full_run.py --profile realtext",
                           "date": "2026-12-01", "hardware": "2-core AMD EPYC, 24 GiB, no GPU"},
}


def write_measurements(path: Path, entries=MEASUREMENTS) -> Path:
    path.write_text(yaml.safe_dump(entries, allow_unicode=True).replace("'2026-12-01'", "2026-12-01"))
    return path


@pytest.fixture
def tree(tmp_path):
    """A results tree with one table, a doc quoting it and a measurement, and the measurements file."""
    tables = tmp_path / "results" / "embedded" / "tables"
    tables.mkdir(parents=True)
    (tables / "table4.md").write_text("### Table 4\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    doc = tmp_path / "README.md"
    doc.write_text("# Title\n\nIt takes <!-- measurement: realtext.wall_time -->30 min<!-- end --> here.\n\n"
                   "<!-- results/embedded/tables/table4.md -->\nold table\n<!-- end -->\n\n"
                   "<!-- results/paper/tables/table4.md -->\nthe paper profile's table, not run\n<!-- end -->\n")
    return tmp_path, doc, write_measurements(tmp_path / "measurements.yaml")


def run_docs(tmp_path, doc, measurements, *extra) -> int:
    return main(["docs", "--results", str(tmp_path / "results"), "--doc", str(doc),
                 "--measurements", str(measurements), *extra])


def test_check_fails_on_a_difference_then_fill_makes_it_pass(tree, capsys):
    tmp_path, doc, measurements = tree
    before = doc.read_text()
    assert run_docs(tmp_path, doc, measurements, "--check") == 1
    out = capsys.readouterr()
    assert "README.md:3: measurement: realtext.wall_time" in out.err
    assert "README.md:5: results/embedded/tables/table4.md (line 2: docs 'old table', now '### Table 4')" in out.err
    assert "Your results differ from the numbers in the docs" in out.err  # what a difference means
    assert "skipped (no such results file)" in out.out and "results/paper/tables/table4.md" in out.out
    assert doc.read_text() == before  # --check changes nothing

    assert run_docs(tmp_path, doc, measurements) == 0
    text = doc.read_text()
    assert "It takes <!-- measurement: realtext.wall_time -->29.2 min<!-- end --> here." in text
    assert ("<!-- results/embedded/tables/table4.md -->\n### Table 4\n\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- end -->"
            in text)
    assert "the paper profile's table, not run" in text  # a source not there: block left as it is
    assert run_docs(tmp_path, doc, measurements, "--check") == 0
    assert "0 block(s) differs, 2 unchanged, 1 skipped" in capsys.readouterr().out


def test_an_unclosed_marker_names_its_line(tree):
    tmp_path, doc, measurements = tree
    doc.write_text(doc.read_text() + "\n<!-- results/embedded/tables/table5.md -->\n| x |\n")
    with pytest.raises(QbsltError, match=r"README.md:13: marker without its <!-- end -->"):
        fill([doc], tmp_path / "results", measurements)


@pytest.mark.parametrize("change, message", [
    (lambda text: text.replace("realtext.wall_time", "realtext.wall_tme"), "unknown measurement 'realtext.wall_tme'"),
    (lambda text: text + "\nAgain <!-- measurement: realtext.wall_time -->x<!-- end -->\n", "quoted 2 times"),
    (lambda text: text.replace("<!-- measurement: realtext.wall_time -->30 min<!-- end -->", "30 min"),
     "realtext.wall_time: never quoted"),
])
def test_each_measurement_is_known_and_quoted_exactly_once(tree, change, message):
    tmp_path, doc, measurements = tree
    doc.write_text(change(doc.read_text()))
    with pytest.raises(QbsltError, match=re.escape(message)):
        fill([doc], tmp_path / "results", measurements, check=True)


@pytest.mark.parametrize("entry, message", [
    ({"value": "1 s", "command": "x", "date": "2026-12-01"}, "missing hardware"),
    ({"value": "1 s", "command": "x", "date": "yesterday", "hardware": "h"}, "date 'yesterday' is not YYYY-MM-DD"),
    ({"value": "1 s", "command": "x", "date": "2026-12-01", "hardware": "h", "note": "n"}, "unknown key note"),
])
def test_a_measurement_holds_value_command_date_and_hardware(tree, entry, message):
    tmp_path, doc, _ = tree
    measurements = write_measurements(tmp_path / "bad.yaml", {"realtext.wall_time": entry})
    with pytest.raises(QbsltError, match=re.escape(f"realtext.wall_time: {message}")):
        fill([doc], tmp_path / "results", measurements, check=True)


# --- a cell of a results table, quoted inline -------------------------------------------------------

CELL_TABLE = """Table 9: a caption.

| System | variant | n | BLEU-4 | distinct |
|---|---|---|---:|---:|
| **PHOENIX-2014T-QA: Sigma** |  |  |  |  |
| Sigma (full) | full | 3 | 5.57 ± 1.75 † | 4.6 % |
| w/o pre-training | no_pretraining | 3 | 3.59 ± 2.47 | 5.8 % |
| **CSL-Daily-QA: Sigma** |  |  |  |  |
| Sigma (full) | full | 3 | 3.73 ± 2.79 | 5.4 % |
| w/o pre-training | no_pretraining | 3 | 0.26 ± 0.44 | 2.9 % |
| pipe \\| in a cell | no_pretraining_generic | 3 | 1.00 ± 0.00 | 1.0 % |
"""


@pytest.fixture
def cell_tree(tmp_path):
    """A results tree with a Table 9-like file (group rows, mean ± std cells) and a doc quoting its cells."""
    tables = tmp_path / "results" / "embedded" / "tables"
    tables.mkdir(parents=True)
    (tables / "table9.md").write_text(CELL_TABLE)
    doc = tmp_path / "README.md"
    doc.write_text(
        "# Title\n\n"
        "Full: <!-- results/embedded/tables/table9.md#section=CSL-Daily-QA&variant=full&col=BLEU-4&mean -->3<!-- end -->"
        " BLEU-4,\n"
        "<!-- results/embedded/tables/table9.md#section=PHOENIX-2014T-QA&variant=no_pretraining&col=distinct -->"
        "x<!-- end --> distinct;\n"
        "<!-- results/embedded/tables/table9.md#System=Sigma&section=PHOENIX-2014T-QA&col=BLEU-4 -->y<!-- end -->;\n"
        "<!-- results/embedded/tables/table9.md#variant=no_pretraining_generic&col=System -->z<!-- end -->;\n"
        "<!-- results/realtext/tables/table9.md#variant=full&col=BLEU-4&mean -->14.92<!-- end --> not run here.\n")
    return tmp_path, doc, write_measurements(tmp_path / "measurements.yaml", {})


def test_a_cell_quote_fills_checks_and_skips_a_missing_table(cell_tree, capsys):
    tmp_path, doc, measurements = cell_tree
    before = doc.read_text()
    assert run_docs(tmp_path, doc, measurements, "--check") == 1
    out = capsys.readouterr()
    assert ("README.md:3: results/embedded/tables/table9.md#section=CSL-Daily-QA&variant=full&col=BLEU-4&mean "
            "(line 1: docs '3', now '3.73')") in out.err
    assert "skipped (no such results file): " in out.out and "README.md:7: results/realtext/tables/table9.md#" in out.out
    assert doc.read_text() == before

    assert run_docs(tmp_path, doc, measurements) == 0
    text = doc.read_text()
    assert "&mean -->3.73<!-- end --> BLEU-4," in text  # the mean of the CSL section's full row, † dropped
    assert "&col=distinct -->5.8 %<!-- end --> distinct;" in text  # the whole cell, PHOENIX section
    assert "&col=BLEU-4 -->5.57 ± 1.75 †<!-- end -->;" in text  # `Sigma` matches `Sigma (full)`, not `w/o ...`
    assert "&col=System -->pipe | in a cell<!-- end -->;" in text  # an escaped pipe is the cell's own
    assert "&mean -->14.92<!-- end --> not run here." in text  # no such file: left as it is, never emptied
    assert run_docs(tmp_path, doc, measurements, "--check") == 0
    assert "0 block(s) differs, 4 unchanged, 1 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("selector, message", [
    ("variant=full", "a cell needs col=HEADER and at least one HEADER=VALUE picking its row"),
    ("", "'' is neither HEADER=VALUE nor mean, once"),
    ("col=BLEU-4", "a cell needs col=HEADER and at least one HEADER=VALUE picking its row"),
    ("variant=full&col=BLEU-4&median", "'median' is neither HEADER=VALUE nor mean, once"),
    ("variant=full&col=BLEU-4&mean&mean", "'mean' is neither HEADER=VALUE nor mean, once"),
    ("variant=&col=BLEU-4", "'variant=': empty header or value"),
    ("variant=full&col=BLEU-4&col=n", "col given twice"),
])
@pytest.mark.parametrize("table_there", [True, False])
def test_a_malformed_cell_quote_fails_naming_doc_and_line(cell_tree, selector, message, table_there):
    """A malformed selector fails in one line naming the doc and line, whether or not its table is there."""
    tmp_path, doc, measurements = cell_tree
    profile = "embedded" if table_there else "paper"
    doc.write_text(doc.read_text() + f"\nBad: <!-- results/{profile}/tables/table9.md#{selector} -->1<!-- end -->\n")
    with pytest.raises(QbsltError, match=re.escape(f"README.md:9: results/{profile}/tables/table9.md#{selector}: "
                                                   f"{message}")) as caught:
        fill([doc], tmp_path / "results", measurements, check=True)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("selector, message", [
    ("variant=full&col=BLEU-4", "2 rows match variant=full, expected one"),
    ("variant=fu&col=BLEU-4", "0 rows match variant=fu, expected one"),
    ("variant=no_pretraining&section=Daily&col=BLEU-4", "0 rows match variant=no_pretraining & section=Daily"),
    ("section=CSL-Daily-QA&variant=full&col=BLEU4", "no column 'BLEU4' (columns: System, variant, n, BLEU-4, distinct)"),
    ("method=full&col=BLEU-4", "no column 'method'"),
    ("section=CSL-Daily-QA&variant=full&col=distinct&mean", "mean: the cell '5.4 %' is not 'mean ± std'"),
])
def test_a_cell_quote_that_names_no_single_cell_fails(cell_tree, selector, message):
    tmp_path, doc, measurements = cell_tree
    doc.write_text(doc.read_text() + f"\nBad: <!-- results/embedded/tables/table9.md#{selector} -->1<!-- end -->\n")
    with pytest.raises(QbsltError, match=re.escape(f"README.md:9: results/embedded/tables/table9.md#{selector}: "
                                                   f"{message}")):
        fill([doc], tmp_path / "results", measurements, check=True)


def test_a_cell_is_quoted_from_a_markdown_table_only(cell_tree):
    tmp_path, doc, measurements = cell_tree
    doc.write_text(doc.read_text() + "\n<!-- results/embedded/tables/table9.csv#variant=full&col=bleu4 -->1<!-- end -->\n")
    with pytest.raises(QbsltError, match=r"README.md:9: .*a cell is quoted from a Markdown table \(\.md\) only"):
        fill([doc], tmp_path / "results", measurements, check=True)


# --- the project's own docs -------------------------------------------------------------------------

def test_the_docs_quote_every_measurement_once(tmp_path):
    """`qbslt docs --check` on the repository's README.md and docs/*.md, without a results tree: every
    marker closed, every measurement of docs/measurements.yaml known, valid and quoted exactly once."""
    report = fill(default_docs(ROOT), tmp_path / "no-results", ROOT / "docs" / "measurements.yaml", check=True)
    assert not report.changed, report.changed
    assert report.skipped  # the results blocks: no tree here


def test_the_docs_cell_quotes_agree_with_the_tables_they_show(tmp_path):
    """Every cell quoted in README.md and docs/*.md, filled from the tables the docs themselves quote in
    full (a results tree rebuilt from those blocks), is what the doc holds: prose never cites a number
    its table contradicts, on a machine without a results tree too. The three documents that quote the
    most cells are part of the check."""
    docs = default_docs(ROOT)
    assert {"model-choices.md", "sigma.md", "slslr.md"} <= {doc.name for doc in docs}
    blocks = [block for doc in docs for block in find_blocks(doc, doc.read_text(encoding="utf-8"))]
    for block in blocks:
        if block.source.startswith("results/") and "#" not in block.source:
            path = tmp_path / block.source
            path.parent.mkdir(parents=True, exist_ok=True)
            if block.source.endswith(IMAGE_SUFFIXES):  # a figure block: the image file it shows
                path.write_bytes((block.doc.parent / IMAGE_LINK.match(block.body.strip())[1]).read_bytes())
            else:
                path.write_text(block.body.strip("\n") + "\n", encoding="utf-8")
    cells = [f"{block.where}: {block.source}" for block in blocks if "#" in block.source]
    assert {Path(label.split(":")[0]).name for label in cells} >= {"model-choices.md", "sigma.md", "slslr.md"}
    report = fill(docs, tmp_path / "results", ROOT / "docs" / "measurements.yaml", check=True)
    assert not report.changed, report.first_difference
    assert not set(cells) & set(report.skipped), "a quoted cell whose table no doc shows"


def load_workflow(workdir: Path, profile: str) -> tuple[str, dict[str, bool]]:
    """The Snakemake workflow of this checkout under ``profile``, loaded (DAG-time config built), not
    run: its results folder, and every output path of its rules -> whether it is an entry of the
    Snakemake report."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", workdir / "params.yaml")
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                                config_settings=ConfigSettings(config={"profile": profile}),
                                snakefile=ROOT / "Snakefile", workdir=workdir)._workflow
        return workflow.globals["RESULTS"], {str(f): bool(f.flags.get("report"))
                                             for rule in workflow.rules for f in rule.output}


@pytest.fixture(scope="module")
def workflows(tmp_path_factory):
    return {profile: load_workflow(tmp_path_factory.mktemp(profile), profile) for profile in ("embedded", "realtext")}


def test_readme_markers_name_files_the_dag_writes(workflows):
    """Each results block of README.md and docs/*.md names `results/<profile>/<file>`, a file the
    profile's DAG writes under its results folder."""
    blocks = [block for doc in default_docs(ROOT) for block in find_blocks(doc, doc.read_text(encoding="utf-8"))
              if block.source.startswith("results/")]
    assert any(block.doc.name == "README.md" for block in blocks)
    for block in blocks:
        profile, rest = block.source.partition("#")[0].split("/", 2)[1:]  # a cell quote: its table's path
        assert profile in PROFILES, block.where
        results, outputs = workflows[profile]
        assert f"{results}/{rest}" in outputs, f"{block.where}: {block.source}"
    for doc in default_docs(ROOT):  # no stray opening marker: every one matched MARKER
        text = doc.read_text(encoding="utf-8")
        assert text.count("<!-- end -->") == len(MARKER.findall(text)), doc


def test_the_report_shows_every_table_and_figure4(workflows):
    for profile, tables in (("embedded", range(1, 11)), ("realtext", (1, 4, 7, 8, 9, 10))):
        results, outputs = workflows[profile]
        entries = {path for path, in_report in outputs.items() if in_report}
        expected = {f"{results}/tables/table{n}.html" for n in tables}
        expected |= {f"{results}/tables/reliance.html", f"{results}/figures/figure4.png"}
        assert expected <= entries, expected - entries
    front_page = (ROOT / "workflow" / "report" / "workflow.rst").read_text()
    assert "Table 9" in front_page and "Table 10" in front_page


def test_license_and_citation_agree_with_the_package():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert project["license"]["text"] == citation["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert str(citation["version"]) == project["version"]
    assert citation["references"][0]["url"].endswith("2509.14036")


def test_readme_is_short_and_keeps_the_ci_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && pytest' in ci and 'pip install -e ".[test]" && pytest' in readme
    assert "pip install -e . && snakemake --cores all" in readme
    for doc in default_docs(ROOT):  # user docs speak of hardware and dates, not of development history
        text = doc.read_text(encoding="utf-8")
        assert not re.search(r"\b[Ii]ssue [0-9]|\b[Ss]ession [0-9]", text), doc
        for page in re.findall(r"\]\((docs/[\w-]+\.md|[\w-]+\.md)\)", text):  # links to docs pages resolve
            assert (doc.parent / page).is_file(), f"{doc}: {page}"
