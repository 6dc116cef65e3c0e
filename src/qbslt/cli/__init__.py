"""The ``qbslt`` command line. Each subcommand is a thin wrapper over one package function;
Snakemake rules call these, and so can a user.

Config: rules pass exactly the config subtree a step needs as JSON (``--cfg``), so Snakemake's
params rerun-trigger reruns only the steps whose settings changed. By hand, ``--params
params.yaml [--profile P]`` loads and validates the file instead.

Each domain registers its own subcommands (``register(sub)`` of :mod:`qbslt.cli.params`,
``.data``, ``.training``, ``.slr``, ``.sigma``, ``.reports``, ``.plan``, ``.translate``), beside
the functions they call.
"""

from __future__ import annotations

import argparse
import logging
import sys

from qbslt.cli import data, params, plan, reports, sigma, slr, training, translate
from qbslt.errors import QbsltError

# In the order of `qbslt --help`.
DOMAINS = (params, data, training, slr, sigma, reports, plan, translate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbslt", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for domain in DOMAINS:
        domain.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except QbsltError as exc:
        print(f"qbslt {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
