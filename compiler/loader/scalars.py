"""The typed values of YAML scalars, shared by both readers (libyaml's nodes and flat files).

One table (:data:`SCALARS`) turns a resolved tag and its text into a value, so a file read
by :mod:`compiler.loader.flatyaml` holds exactly what libyaml's path would have made of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import yaml
from yaml.nodes import ScalarNode

_T = "tag:yaml.org,2002:"
STR_TAG: Final = _T + "str"


class YamlFloat(float):
    """A YAML float that remembers its source text (``routeros: 7.20`` is not 7.2)."""

    raw: str

    def __new__(cls, value: float, raw: str) -> YamlFloat:  # noqa: D102
        obj = super().__new__(cls, value)
        obj.raw = raw
        return obj


_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


def _scalar_int(node: ScalarNode) -> Any:
    return _constructor.construct_yaml_int(node)


def _scalar_float(node: ScalarNode) -> Any:
    return YamlFloat(_constructor.construct_yaml_float(node), node.value)


#: Resolved tag → the value of a scalar node; a tag not here is refused (a custom tag).
SCALARS: Final[dict[str, Callable[[ScalarNode], Any]]] = {
    STR_TAG: lambda n: n.value,
    _T + "int": _scalar_int,
    _T + "float": _scalar_float,
    _T + "bool": _constructor.construct_yaml_bool,
    _T + "null": lambda n: None,
    # Dates stay text: no field of ours is a date, and pydantic then says "expected a string".
    _T + "timestamp": lambda n: n.value,
}
