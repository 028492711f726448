"""The base of every params section: strict validation, and a trace of the keys a process reads.

With STOCKCAST_PARAMS_TRACE=<folder> set, every key a process reads from a params file is appended
to <folder>/<script>.keys at exit, so a test can check that each stage lists in dvc.yaml exactly the
params it reads. A leaf like stockcast.params: it imports nothing of the domain.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

TRACE_ENV = "STOCKCAST_PARAMS_TRACE"
_read_keys: set[str] | None = None
"""Dotted keys read by this process while tracing (None: not tracing)."""


class Section(BaseModel):
    """Base for a params section: unknown keys are errors, values are never coerced silently.

    Each loaded section knows its dotted key (`train.lightgbm`), so reading a field can be traced.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    _key: str = PrivateAttr("")  # "" for sections not read from a params file (validators, config.json)
    _replaced: frozenset[str] = PrivateAttr(frozenset())  # fields set by model_copy(update=...), not the file

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if _read_keys is not None and name in type(self).model_fields and not _is_section(value):
            private = object.__getattribute__(self, "__pydantic_private__")
            if private["_key"] and name not in private["_replaced"]:
                _read_keys.add(f"{private['_key']}.{name}")
        return value

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """A dump reads every field it includes (config.json records them): traced as such."""
        data = super().model_dump(**kwargs)
        if _read_keys is not None and self._key:
            _read_keys.update(f"{self._key}.{key}" for key in _leaf_keys(data) if key not in self._replaced)
        return data

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy whose `update`d fields are not traced as read from the params file."""
        copy = super().model_copy(update=update, deep=deep)
        copy._replaced = self._replaced | set(update or ())
        return copy


def _is_section(value: Any) -> bool:
    return isinstance(value, Section) or (isinstance(value, list) and any(isinstance(v, Section) for v in value))


def _leaf_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        if isinstance(value, dict):
            keys.extend(_leaf_keys(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            keys.extend(dict.fromkeys(k for v in value for k in _leaf_keys(v, f"{prefix}{key}.")))
        else:
            keys.append(prefix + key)
    return keys


def label(section: Section, key: str) -> Section:
    """Give `section` and every section inside it its dotted key (list items share the list's key).
    Nested sections are copied first: a default instance is shared by every model that uses it."""
    section._key = key
    for name in type(section).model_fields:
        value = object.__getattribute__(section, name)
        if isinstance(value, Section):
            section.__dict__[name] = label(value.model_copy(), f"{key}.{name}")
        elif isinstance(value, list) and any(isinstance(v, Section) for v in value):
            section.__dict__[name] = [label(v.model_copy(), f"{key}.{name}") if isinstance(v, Section) else v
                                      for v in value]
    return section


def start_tracing() -> None:
    """Record the keys read from now on; write them at exit to $STOCKCAST_PARAMS_TRACE/<script>.keys."""
    global _read_keys
    folder = os.environ.get(TRACE_ENV)
    if not folder or _read_keys is not None:
        return
    _read_keys = set()

    def _write() -> None:
        path = Path(folder) / f"{Path(sys.argv[0]).stem}.keys"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.writelines(f"{key}\n" for key in sorted(_read_keys or ()))

    atexit.register(_write)
