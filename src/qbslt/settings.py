"""How a job's settings travel from the DAG to its command, and the typed form a command reads them in.

One JSON string (``--cfg``): :func:`encode_settings` writes it (the rules, through
:mod:`qbslt.experiment`); :func:`decode_settings` is the one reader of it in the package.
:class:`Settings` is the base of the typed blocks (``qbslt.training.settings.TrainSettings``,
``qbslt.eval.settings.EvalSettings``, ...): one strict reader, one writer. A leaf module, so that a
command pays for no import to read its settings.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
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


# --- typed settings -----------------------------------------------------------------------------------

# Field metadata of a key that a settings block may leave out (e.g. stage 1 has no ``eval_every``):
# read as None when absent, and left out again by ``to_dict``, so a block survives the round trip.
ABSENT_OK = {"absent_ok": True}


def absent_ok(default: Any = None) -> Any:
    """A dataclass field whose key may be missing from the block (see ``ABSENT_OK``)."""
    return dataclasses.field(default=default, metadata=ABSENT_OK)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Base of the typed settings blocks (``@dataclass(frozen=True, kw_only=True)`` subclasses).

    ``from_dict`` reads one block of params.yaml (as a job's ``--cfg`` carries it) strictly: an
    unknown key, a missing key without a default, a value of the wrong type or a non-finite number
    is a ConfigError naming the key's full path (``where``). ``to_dict`` gives the block back, with
    the keys it was read with (``from_dict(d).to_dict() == d`` for every block the experiment plans;
    test); a block built in code gives every field but the absent ones (``ABSENT_OK``)."""

    # the keys a block read by from_dict had (None: built in code); not a setting, not compared
    _given: frozenset[str] | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, block: Mapping[str, Any], where: str):
        if not isinstance(block, Mapping):
            raise ConfigError(f"{where}: a mapping of settings expected, got {type(block).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "_given"}
        unknown = sorted(set(block) - set(fields))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(fields)})")
        hints = typing.get_type_hints(cls)
        values = {}
        for name, spec in fields.items():
            if name in block:
                values[name] = _read_value(hints[name], block[name], f"{where}.{name}")
            elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}.{name}: missing")
        return cls(**values, _given=frozenset(block))

    @classmethod
    def of(cls, value: "Settings | Mapping[str, Any]", where: str):
        """``value`` if it already is one, else read from its dict (for callers holding a plain block)."""
        return value if isinstance(value, cls) else cls.from_dict(value, where)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for spec in dataclasses.fields(self):
            if spec.name == "_given" or (self._given is not None and spec.name not in self._given):
                continue
            value = getattr(self, spec.name)
            if value is None and spec.metadata.get("absent_ok") and self._given is None:
                continue
            out[spec.name] = _plain(value)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Settings):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _read_value(hint: Any, value: Any, where: str) -> Any:
    """``value`` checked against the field type ``hint`` (the types settings use: bool, int, float, str,
    a Settings block, X | None, list[...], dict[...], Any). Numbers are kept as written (an int where a
    float is expected stays an int), so the block's serialised form does not change."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _read_value(option, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(options) == 1 else
                          f"{where}: {value!r} is none of {' | '.join(_type_name(a) for a in args)}")
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, Settings):
        return hint.from_dict(value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: a list expected, got {value!r}")
        item = args[0] if args else Any
        return [_read_value(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: a mapping expected, got {value!r}")
        item = args[1] if len(args) == 2 else Any
        return {k: _read_value(item, v, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: true or false expected, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: an integer expected, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: a number expected, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: a finite number expected, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: a string expected, got {value!r}")
        return value
    raise TypeError(f"{where}: settings field type {hint!r} is not supported")


def _type_name(hint: Any) -> str:
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
