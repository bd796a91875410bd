"""Validate a raw tree into the estate: typed models of every file that passed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from compiler.diagnostics import Diagnostics
from compiler.loader.source import SourceFile
from compiler.loader.walk import RawTree
from compiler.model import errors
from compiler.model.access import Assertion
from compiler.model.instance import Instance
from compiler.model.org import OrgConfig
from compiler.model.peer import PEER_ADAPTER, ClientPeer, SitePeer

_M = TypeVar("_M", bound=BaseModel)


@dataclasses.dataclass(eq=False)
class PeerNode:
    """A peer file that passed schema validation."""

    name: str
    instance: str
    source: SourceFile
    config: SitePeer | ClientPeer

    @property
    def key(self) -> str:
        """``instance/peer``, unique across the tree."""
        return f"{self.instance}/{self.name}"


@dataclasses.dataclass(eq=False)
class InstanceNode:
    """An instance folder; ``config`` is ``None`` when its instance.yaml failed."""

    name: str
    dir: Path
    name_ok: bool
    source: SourceFile | None
    config: Instance | None
    peers: dict[str, PeerNode] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(eq=False)
class Estate:
    """The validated tree."""

    root: Path
    org: OrgConfig
    org_source: SourceFile | None
    instances: dict[str, InstanceNode]
    raw: RawTree
    #: The assertions of ``tests.yaml`` that passed validation, with their index in the file.
    tests: list[tuple[int, Assertion]] = dataclasses.field(default_factory=list)


def _mapping(source: SourceFile, diags: Diagnostics, allow_empty: bool) -> dict[str, Any] | None:
    data = source.data
    if data is None and allow_empty:
        return {}
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        source.report(diags, "schema", f"the file must be a mapping of keys, but it is {what}")
        return None
    return data


def _validate(
    model: type[_M], source: SourceFile, diags: Diagnostics, allow_empty: bool = False
) -> _M | None:
    if not source.ok:
        return None
    data = _mapping(source, diags, allow_empty)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors.report(exc, source, diags, model)
        return None


#: One set object per combination of keys written in peer files (see _shared_fields_set).
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def _shared_fields_set(peer: SitePeer | ClientPeer) -> SitePeer | ClientPeer:
    """``peer`` with the set of its written keys shared with every peer that wrote the same.

    pydantic keeps that set on each model (``model_fields_set``): with five keys or more it
    is a 728-byte object, half of a peer's model (70 MiB at 100k peers). The models are
    frozen, so nothing adds to it (pydantic copies it for ``model_copy``).
    """
    own = peer.__pydantic_fields_set__
    shared = _FIELDS_SETS.setdefault(frozenset(own), own)
    if shared is not own:
        object.__setattr__(peer, "__pydantic_fields_set__", shared)
    return peer


def _validate_peer(source: SourceFile, diags: Diagnostics) -> SitePeer | ClientPeer | None:
    if not source.ok:
        return None
    data = _mapping(source, diags, allow_empty=False)
    if data is None:
        return None
    try:
        return _shared_fields_set(PEER_ADAPTER.validate_python(data))
    except ValidationError as exc:
        kind = data.get("type")
        model: type[BaseModel] = ClientPeer if kind == "client" else SitePeer
        errors.report(exc, source, diags, model, strip=1)
        return None


def build_estate(raw: RawTree, diags: Diagnostics) -> Estate:
    """Validate every file; files that fail are left out, the rest still get checked."""
    org: OrgConfig | None = None
    if raw.vpn is not None:
        org = _validate(OrgConfig, raw.vpn, diags, allow_empty=True)
    instances: dict[str, InstanceNode] = {}
    for name, rinst in raw.instances.items():
        config = (
            _validate(Instance, rinst.source, diags) if rinst.source is not None else None
        )
        inode = InstanceNode(name, rinst.dir, rinst.name_ok, rinst.source, config)
        for pname, psrc in rinst.peers.items():
            peer = _validate_peer(psrc, diags)
            if peer is not None:
                inode.peers[pname] = PeerNode(pname, name, psrc, peer)
                psrc.release()  # the model holds it now (and its memory holds the next model)
        instances[name] = inode
    tests = _validate_tests(raw.tests, diags) if raw.tests is not None else []
    return Estate(raw.root, org or OrgConfig(), raw.vpn, instances, raw, tests)


def _validate_tests(source: SourceFile, diags: Diagnostics) -> list[tuple[int, Assertion]]:
    """``tests.yaml``: a list of assertions; a bad one is reported, the others still run."""
    if not source.ok or source.data is None:
        return []
    if not isinstance(source.data, list):
        source.report(diags, "schema", "tests.yaml must be a list of assertions "
                      "like {from: INSTANCE/PEER, to: ADDRESS, port: 443/tcp, expect: allow}")
        return []
    out: list[tuple[int, Assertion]] = []
    for index, item in enumerate(source.data):
        if not isinstance(item, dict):
            source.report(diags, "schema", "an assertion must be a mapping with keys from, to, "
                          "port and expect", (index,))
            continue
        try:
            out.append((index, Assertion.model_validate(item)))
        except ValidationError as exc:
            errors.report(exc, source, diags, Assertion, prefix=(index,))
    return out
