"""The RouterOS script tokenizer now lives in the package (:mod:`compiler.routeros.tokenize`)."""

from compiler.routeros.tokenize import (
    Arg,
    Command,
    Interpolation,
    IsDir,
    RscSyntaxError,
    is_literal,
    parse,
    where_properties,
)

__all__ = [
    "Arg", "Command", "Interpolation", "IsDir", "RscSyntaxError", "is_literal", "parse",
    "where_properties",
]
