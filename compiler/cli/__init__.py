"""The command line interface (``mvpn``)."""

from compiler.cli.main import main, run

__all__ = ["main", "run"]
