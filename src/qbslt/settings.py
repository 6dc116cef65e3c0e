"""How a job's settings travel from the DAG to its command: one JSON string (``--cfg``).

:func:`encode_settings` writes it (the rules, through :mod:`qbslt.experiment`); :func:`decode_settings`
is the one reader of it in the package. A leaf module, so that a command pays for no import to read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qbslt.errors import ConfigError


def encode_settings(settings: Mapping[str, Any]) -> str:
    """A job's settings as one JSON string: what a rule passes to the command (``--cfg``) and what
    Snakemake's params trigger compares, so equal settings give equal strings."""
    return json.dumps(settings, sort_keys=True, ensure_ascii=False)


def decode_settings(text: str, option: str = "--cfg") -> dict:
    """The settings :func:`encode_settings` wrote; ConfigError naming ``option`` when ``text`` is not
    a JSON object."""
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{option}: not JSON ({exc})") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"{option}: a JSON object of settings expected, got {type(settings).__name__}")
    return settings
