"""Allow ``python -m compiler``."""

from compiler.cli import run

run()
