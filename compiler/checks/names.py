"""Instance names: ``hostname-reserved``, ``hostname-duplicate`` and ``region-unknown``."""

from __future__ import annotations

from collections import defaultdict

from compiler.checks.graph import Graph
from compiler.diagnostics import Diagnostics
from compiler.model.errors import did_you_mean
from compiler.model.estate import Estate, InstanceNode


def check_regions(estate: Estate, diags: Diagnostics) -> None:
    """A region listed twice in vpn.yaml is a typo or a merge leftover: ``schema`` on the second."""
    source = estate.org_source
    if source is None:
        return
    first: dict[str, int] = {}
    for i, region in enumerate(estate.org.regions):
        if region in first:
            source.report(diags, "schema",
                          f"regions[{i}]: region '{region}' is already listed as "
                          f"regions[{first[region]}]; remove one", ("regions", i))
        else:
            first[region] = i


def check_names(estate: Estate, graph: Graph, diags: Diagnostics) -> None:
    """hostname-reserved, hostname-duplicate, region-unknown and regions listed twice."""
    check_regions(estate, diags)
    reserved = estate.org.reserved()
    regions = estate.org.regions
    by_host: dict[str, list[InstanceNode]] = defaultdict(list)
    for node, kind in graph.nodes(data="kind"):
        if kind != "instance":
            continue
        inst: InstanceNode = graph.nodes[node]["obj"]
        if inst.config is None or inst.source is None:
            continue
        host = inst.config.hostname.lower()
        if host in reserved:
            inst.source.report(
                diags, "hostname-reserved",
                f"hostname '{inst.config.hostname}' is reserved; choose another name",
                ("hostname",),
            )
        by_host[host].append(inst)
        if inst.config.region not in regions:
            inst.source.report(
                diags, "region-unknown",
                f"region '{inst.config.region}' is not one of the regions in vpn.yaml"
                + did_you_mean(inst.config.region, regions),
                ("region",),
            )
    for insts in by_host.values():
        if len(insts) < 2:
            continue
        for inst in insts:
            assert inst.config is not None and inst.source is not None
            others = ", ".join(f"'{o.name}'" for o in insts if o is not inst)
            inst.source.report(
                diags, "hostname-duplicate",
                f"hostname '{inst.config.hostname}' is also used by instance {others}; "
                "hostnames must be unique (case-insensitive)",
                ("hostname",),
            )
