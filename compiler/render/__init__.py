"""Render artifacts in memory: one module per artifact family, registered in one table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from compiler.render.artifact import Artifact
from compiler.render.clients import render_clients
from compiler.render.context import InstanceView, instance_views
from compiler.render.hub import render_hub
from compiler.render.sites import render_sites

#: Every artifact family, in output order.
FAMILIES: Final[dict[str, Callable[[InstanceView], Iterator[Artifact]]]] = {
    "hub": render_hub,
    "sites": render_sites,
    "clients": render_clients,
}

__all__ = ["FAMILIES", "Artifact", "InstanceView", "instance_views"]
