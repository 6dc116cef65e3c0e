"""The package's layers: the import-linter contracts of pyproject.toml hold, no module imports
itself back through others, and the modules the workflow reads at DAG time stay cheap."""

import os
import subprocess
import sys

import grimp

from conftest import REPO

SRC = REPO / "src"


def _python(code: str) -> subprocess.CompletedProcess:
    """``code`` run in a fresh interpreter that imports this checkout's package."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)


def test_lint_imports_keeps_every_contract():
    result = _python("import sys; from importlinter.cli import lint_imports; "
                     "sys.exit(lint_imports(no_cache=True, show_timings=False, verbose=False))")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(SRC))
    try:
        return grimp.build_graph("qbslt", cache_dir=None)
    finally:
        sys.path.remove(str(SRC))


def test_no_module_imports_itself_back():
    graph = _graph()
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append(" -> ".join((module, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_frame_decoding_imports_nothing_but_the_error_types():
    assert _graph().find_modules_directly_imported_by("qbslt.data.frames") <= {"qbslt.errors"}


def _imports_heavy(statements: str) -> dict[str, bool]:
    result = _python(statements + "\nimport sys; print(' '.join(str(m in sys.modules) for m in ('pandas', 'torch')))")
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(zip(("pandas", "torch"), (w == "True" for w in result.stdout.split()[-2:])))


def test_report_layout_imports_neither_pandas_nor_torch():
    assert _imports_heavy("import qbslt.reports.layout") == {"pandas": False, "torch": False}
    assert _imports_heavy("import qbslt.reports.tables")["pandas"]  # the check can tell


def test_the_workflow_reads_only_cheap_modules_while_it_builds_the_dag():
    """Every ``from qbslt... import`` line of the rule files runs at each `snakemake` call."""
    lines = sorted({line.strip() for smk in (REPO / "workflow" / "rules").glob("*.smk")
                    for line in smk.read_text().splitlines() if line.startswith("from qbslt")})
    assert any("reports" in line for line in lines)
    assert _imports_heavy("\n".join(lines)) == {"pandas": False, "torch": False}
