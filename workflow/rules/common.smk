# Shared settings: validated config, paths, how rules call the package.
import json
import os
import shlex
import sys

# Rules run `python -m qbslt` from this checkout, also inside --use-conda environments
# (whose env files install the dependencies, not the package itself).
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(SRC)}; ")

from qbslt import config as qbslt_config
from qbslt.errors import ConfigError
from snakemake.exceptions import WorkflowError

try:
    CFG = qbslt_config.resolve(dict(config))
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

PROFILE = CFG["profile"]
DATA = f"data/{PROFILE}"
DATASETS = CFG["data"]["datasets"]
SPLITS = ["train", "dev", "test"]


def as_json(tree):
    """A config subtree as one JSON string: passed to the CLI and compared by the params trigger."""
    return json.dumps(tree, sort_keys=True, ensure_ascii=False)
