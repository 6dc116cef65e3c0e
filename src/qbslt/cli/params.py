"""params.yaml: ``validate-params``."""

from __future__ import annotations

import argparse

from qbslt.profiles import PROFILE_NAMES

EXAMPLE = """example:
  qbslt validate-params                              # params.yaml, its own profile
  qbslt validate-params --params my.yaml --profile paper"""


def cmd_validate_params(args) -> int:
    from qbslt.experiment import Experiment

    # The plan the DAG builds, with every check it makes: what `snakemake -n` rejects, this rejects.
    experiment = Experiment.load(args.params, args.profile)
    print(f"{args.params}: valid (profile {experiment.profile}, {len(experiment.jobs())} training-level jobs)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("validate-params", help="validate params.yaml: its schema, every variant and method, the experiment plan",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", choices=list(PROFILE_NAMES))
    p.set_defaults(func=cmd_validate_params)
