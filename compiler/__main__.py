"""Allow ``python -m compiler``."""

from compiler.entry import run

run()
