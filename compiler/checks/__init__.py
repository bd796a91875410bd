"""Graph checks over the validated estate (SPEC §3)."""

from __future__ import annotations

from compiler.checks.graph import Graph, build_graph
from compiler.checks.hub import check_hubs
from compiler.checks.names import check_names
from compiler.checks.peers import check_peers
from compiler.checks.reach import check_assertions, check_shadowed, policies
from compiler.checks.routes import check_routes
from compiler.checks.secrets import check_secrets
from compiler.diagnostics import Diagnostics
from compiler.model.estate import Estate


def run_checks(estate: Estate, diags: Diagnostics) -> Graph:
    """Run every check; returns the graph model for later stages (graph, explain)."""
    graph = build_graph(estate)
    check_names(estate, graph, diags)
    check_peers(estate, graph, diags)
    check_hubs(estate, diags)
    check_routes(estate, graph, diags)
    check_secrets(estate, diags)
    found = policies(estate, diags)
    for policy in found.values():
        _ = policy.rules, policy.access  # resolving reports unknown names
    check_shadowed(found, diags)
    check_assertions(estate, diags, found)
    return graph


__all__ = ["Graph", "build_graph", "run_checks"]
