"""params.yaml: ``validate-params``."""

from __future__ import annotations

from qbslt.config import PROFILES


def cmd_validate_params(args) -> int:
    from qbslt import config

    tree = config.load(args.params, args.profile)
    print(f"{args.params}: valid (profile {tree['profile']})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("validate-params", help="validate params.yaml against its schema")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", choices=list(PROFILES))
    p.set_defaults(func=cmd_validate_params)
