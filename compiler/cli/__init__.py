"""The command line interface (``mvpn``)."""

from compiler.cli.main import main

__all__ = ["main"]
