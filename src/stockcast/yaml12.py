"""params.yaml read as YAML 1.2, the schema DVC writes it in; a bad file is a one-line error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from stockcast.errors import StockcastError


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's core schema for plain scalars, the schema DVC writes params.yaml in.

    PyYAML follows YAML 1.1: `1e-4` stays a string, `2:1` is the base-60 integer 121 and `yes`/`on`
    are booleans. DVC (`dvc exp run -S`) reads and rewrites params.yaml as YAML 1.2, where `1e-4` is
    a float and `2:1` and `yes` are strings; reading it the same way keeps the two in agreement.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (
        "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$",
     "-+0123456789."),
):
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The params file as a mapping; a missing or malformed file is a one-line error."""
    path = Path(path)
    try:
        loader = _Yaml12Loader(path.read_text())
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except FileNotFoundError:
        raise StockcastError(f"{path}: params file not found") from None
    except yaml.YAMLError as err:
        raise StockcastError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise StockcastError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data
