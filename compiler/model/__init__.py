"""The config model: pydantic models of ``vpn.yaml``, ``instance.yaml`` and peer files."""

from compiler.model.instance import Instance
from compiler.model.org import OrgConfig
from compiler.model.peer import PEER_ADAPTER, ClientPeer, Peer, SitePeer

__all__ = ["PEER_ADAPTER", "ClientPeer", "Instance", "OrgConfig", "Peer", "SitePeer"]
