"""params.yaml: ``validate-params``."""

from __future__ import annotations

import argparse

from qbslt.config import PROFILES

EXAMPLE = """example:
  qbslt validate-params                              # params.yaml, its own profile
  qbslt validate-params --params my.yaml --profile paper"""


def cmd_validate_params(args) -> int:
    from qbslt import config

    tree = config.load(args.params, args.profile)
    print(f"{args.params}: valid (profile {tree['profile']})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("validate-params", help="validate params.yaml against its schema",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", choices=list(PROFILES))
    p.set_defaults(func=cmd_validate_params)
