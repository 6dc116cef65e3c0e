"""`qbslt --help` starts at once: the CLI imports no heavy library until a command needs it (a module
list, not a timing: the times are measured by hand, see the report of the change); and every list of
the tables' targets (qbslt plan's help, the per-table DVC stages) knows Tables 1-10."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from qbslt.reports.layout import table_numbers as reports_layout_tables
from qbslt.plan.targets import OWN_RULE_TABLES, layout_tables, table_numbers, table_targets

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "transformers", "pandas", "nltk", "rouge_score", "sacrebleu", "matplotlib",
         "snakemake", "scipy")


def imported_after(code: str) -> set[str]:
    """Top-level names of the modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_importing_the_cli_imports_no_heavy_library():
    assert not imported_after("import qbslt.cli") & set(HEAVY)


def test_building_the_parser_imports_no_heavy_library():
    """What `qbslt --help` and `--version` run: every domain registers its subcommands."""
    assert not imported_after("from qbslt.cli import build_parser\nbuild_parser()") & set(HEAVY)


def test_building_the_parser_leaves_the_experiment_plan_unloaded():
    """`qbslt plan`'s options read the plan's default figures only; the plan loads when a plan is made."""
    probe = ("from qbslt.cli import build_parser\nbuild_parser()\nimport sys\n"
             "print(sorted(m for m in sys.modules if m.startswith(('qbslt.experiment', 'qbslt.plan.estimate'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_metrics_module_imports_its_scorers_when_scoring():
    assert not imported_after("import qbslt.eval.metrics") & {"nltk", "rouge_score", "sacrebleu", "scipy"}
    assert {"rouge_score", "sacrebleu"} <= imported_after(
        "from qbslt.eval.metrics import corpus_scores\ncorpus_scores(['a b'], ['a b'], 'word')")


def test_help_and_version_exit_cleanly():
    for flag in ("--help", "--version"):
        result = subprocess.run([sys.executable, "-c", "import sys; from qbslt.cli import main; sys.exit(main())",
                                 flag], capture_output=True, text=True, cwd=REPO)
        assert result.returncode == 0 and result.stdout, flag


# ---------------------------------------------------------------------------------------------
# The tables' targets: one list (qbslt.plan.targets)


def snakefile_rules() -> set[str]:
    """Names of the rules the workflow defines: ``rule NAME:`` and the per-table rules of the layout."""
    text = "\n".join(p.read_text() for p in [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))])
    return set(re.findall(r"^rule (\w+):", text, re.M)) | {f"table{n}" for n in layout_tables()}


def test_every_table_has_a_target_and_the_list_reaches_table10():
    assert table_numbers() == list(range(1, 11))
    assert layout_tables() == reports_layout_tables()
    assert table_numbers()[-len(OWN_RULE_TABLES):] == sorted(OWN_RULE_TABLES)
    assert set(table_targets()) <= snakefile_rules()
    assert "tables" in snakefile_rules()  # the input-reliance table's rule
    assert "/tables/reliance.md" in (REPO / "workflow/rules/report.smk").read_text()


def test_the_per_table_dvc_stages_are_every_table():
    stages = yaml.safe_load((REPO / "workflow/dvc.yaml").read_text())["stages"]
    assert stages["table"]["foreach"] == table_numbers()
    assert stages["table"]["do"]["cmd"] == "snakemake --cores all table${item}"
    assert {"sigma", "slslr"} <= set(stages["table"]["do"]["params"])  # Tables 9 and 10's settings


def test_plan_help_lists_every_table_and_the_reliance_table():
    from qbslt.cli import build_parser

    plan = build_parser()._subparsers._group_actions[0].choices["plan"]
    (target,) = [a for a in plan._actions if a.dest == "target"]
    assert "table1 ... table10" in target.help and "input-reliance table" in target.help
    assert "table1 ... table10" in " ".join(plan.format_help().split())
