"""RouterOS: the command trees of 7.9-7.24 shipped with mvpn, and a script validator.

``validate(script, version)`` lists what a RouterOS version lacks of a script (and what is
wrong with it on every version); ``mvpn check`` turns the ``unsupported`` problems of site
scripts into ``routeros-unsupported`` diagnostics. This package depends on nothing else of
mvpn: the model, the checks and the tests use it.
"""

from compiler.routeros.tokenize import Command, RscSyntaxError
from compiler.routeros.tree import EnumSpec, RouterOSTree, command_tree, versions
from compiler.routeros.validate import Problem, check_commands, compact, tokenize, validate

__all__ = [
    "Command", "EnumSpec", "Problem", "RouterOSTree", "RscSyntaxError", "check_commands",
    "command_tree", "compact", "tokenize", "validate", "versions",
]
