"""Arguments the sweeps share: which params file, profile, prepared data and dataset to read,
one seed, and the JSON-lines file that collects their results."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_prepared_data_args(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", default="realtext")
    parser.add_argument("--data", type=Path, help="prepared data folder (default: data/<profile>)")
    parser.add_argument("--dataset", default="phoenix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(out))
