"""The checks over the validated estate (SPEC §3); the topology graph is built only on demand."""

from __future__ import annotations

from compiler.checks.graph import Graph, LazyGraph, build_graph
from compiler.checks.hub import check_hubs
from compiler.checks.names import check_names
from compiler.checks.peers import check_peers
from compiler.checks.qr import check_qr
from compiler.checks.reach import check_assertions, check_shadowed, policies
from compiler.checks.rotation import check_rotation
from compiler.checks.routes import check_routes
from compiler.checks.secrets import check_secrets
from compiler.diagnostics import Diagnostics
from compiler.model.estate import Estate


def run_checks(estate: Estate, diags: Diagnostics) -> Graph:
    """Run every check; returns the graph model for later stages (built when first used)."""
    check_names(estate, diags)
    check_peers(estate, diags)
    check_hubs(estate, diags)
    check_rotation(estate, diags)
    check_routes(estate, diags)
    check_secrets(estate, diags)
    found = policies(estate, diags)
    for policy in found.values():
        _ = policy.rules, policy.access  # resolving reports unknown names
    check_shadowed(found, diags)
    check_assertions(estate, diags, found)
    check_qr(found, estate.org, diags)
    return LazyGraph(estate)


def check_not_empty(estate: Estate, diags: Diagnostics) -> None:
    """``tree-empty`` for a whole tree without instances.

    Not part of :func:`run_checks`: an incremental compile checks partial estates that
    hold only the instances that changed, often none.

    It compiles to nothing, which is rarely meant (a wrong path, a typo in a folder name),
    so it is said rather than passed silently; only when nothing else was found.
    """
    raw = estate.raw
    if raw.instances or len(diags):  # a refused folder already says why it is no instance
        return
    where = raw.vpn.path if raw.vpn is not None else raw.root
    diags.add("tree-empty", "no instance in this tree: a folder per hub with an "
              "instance.yaml (mvpn init DIR writes an example tree)", where)


__all__ = ["Graph", "LazyGraph", "build_graph", "check_not_empty", "run_checks"]
