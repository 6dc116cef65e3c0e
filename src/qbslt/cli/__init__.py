"""qbslt: question-based sign language translation (SSL-SSAW, arXiv 2509.14036), reproduced.

Each subcommand is a thin wrapper over one package function. The user's commands come first in
``qbslt --help``; the workflow's steps (the Snakemake rules run them as ``python -m qbslt STEP``)
follow, each summary prefixed "step:"; they can be run by hand too.

Config: rules pass exactly the config subtree a step needs as JSON (``--cfg``), so Snakemake's
params rerun-trigger reruns only the steps whose settings changed. By hand, ``--params
params.yaml [--profile P]`` loads and validates the file instead.

Each domain registers its own subcommands (``register(sub)`` of :mod:`qbslt.cli.params`,
``.data``, ``.training``, ``.slr``, ``.sigma``, ``.reports``, ``.plan``, ``.translate``,
``.score``), beside the functions they call.
"""

from __future__ import annotations

import argparse
import logging
import sys

from qbslt import __version__
from qbslt.cli import data, params, plan, reports, score, sigma, slr, training, translate
from qbslt.errors import QbsltError

# What a user runs, in the order of `qbslt --help`; every other subcommand is a workflow step.
USER_COMMANDS = ("translate", "score", "plan", "validate-params", "data-stats", "docs")
STEP_PREFIX = "step: "
DOMAINS = (translate, score, plan, params, data, reports, training, slr, sigma)

EPILOG = """examples:
  snakemake --cores all                                  # the whole pipeline (default profile: embedded)
  qbslt plan --profile paper --target table5             # jobs, disk and GPU-hours of one table
  qbslt score --hypotheses hyp.txt --references ref.txt  # your system, scored as the tables score
  qbslt COMMAND --help                                   # a command's options and an example

"step:" commands are the workflow's internal steps: the Snakemake rules run them."""


class _Commands:
    """The subparsers action as the domains see it: a workflow step's summary gets the "step:" prefix."""

    def __init__(self, sub):
        self.sub = sub

    def add_parser(self, name: str, **kwargs):
        if name not in USER_COMMANDS:
            kwargs.setdefault("description", kwargs["help"])
            kwargs["help"] = STEP_PREFIX + kwargs["help"]
        return self.sub.add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbslt", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for domain in DOMAINS:
        domain.register(_Commands(sub))
    # The help lists subcommands in the order of the action's (private) _choices_actions: the user's
    # commands first, in USER_COMMANDS order, then the steps as registered (tests/test_cli.py checks it).
    rank = {name: i for i, name in enumerate(USER_COMMANDS)}
    sub._choices_actions.sort(key=lambda action: rank.get(action.dest, len(rank)))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except QbsltError as exc:  # 2, or the error's own status (a training run stopped on a signal: 75, retryable)
        code = getattr(exc, "exit_code", 2)
        print(f"qbslt {args.command}: {'error: ' if code == 2 else ''}{exc}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
