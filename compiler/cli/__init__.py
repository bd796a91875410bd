"""The command line (``mvpn``): ``main(argv)`` runs one command, ``run()`` is the whole process."""

from compiler.cli.main import main, run

__all__ = ["main", "run"]
