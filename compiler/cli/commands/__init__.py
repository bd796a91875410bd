"""One module per ``mvpn`` subcommand; each adds its parser and run function in ``register``.

A subcommand module imports :mod:`compiler.cli.report` and the shared helpers beside it,
never another subcommand module nor :mod:`compiler.cli.main` (the contracts in
``pyproject.toml`` hold it); :mod:`compiler.cli.main` lists the modules, in help order.
"""
