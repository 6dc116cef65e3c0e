"""What the subcommands share: the config subtree a step reads, and its options."""

from __future__ import annotations

import argparse
import logging

from qbslt.profiles import PROFILE_NAMES
from qbslt.settings import decode_settings

log = logging.getLogger("qbslt")


def subtree(args, *keys: str) -> dict:
    """Config subtree for a step: ``--cfg`` JSON if given, else resolved ``--params`` at ``keys``."""
    if getattr(args, "cfg", None):
        return decode_settings(args.cfg)
    from qbslt import config

    tree = config.load(args.params, getattr(args, "profile", None))
    for key in keys:
        tree = tree[key]
    return tree


def add_cfg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", help="config subtree as JSON (what the Snakemake rules pass)")
    parser.add_argument("--params", default="params.yaml", help="params file when --cfg is not given")
    parser.add_argument("--profile", choices=list(PROFILE_NAMES), help="override params.yaml's profile")
