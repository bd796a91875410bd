"""Render a checked estate into an in-memory build: files, versions and the manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from compiler import COMPILER_ID
from compiler.build.versions import combine, stamp
from compiler.keys import KeyRing
from compiler.model.estate import Estate
from compiler.render import FAMILIES, InstanceView, instance_views
from compiler.render.clients import render_clients


@dataclasses.dataclass(frozen=True, slots=True)
class OutFile:
    """A file of the build, with its bytes and whether it holds a secret (0600)."""

    data: bytes
    secret: bool


@dataclasses.dataclass
class Build:
    """A whole build in memory: ``files`` keyed by path relative to the output folder."""

    files: dict[str, OutFile]
    manifest: dict[str, Any]


#: Told (peers done, peers in all) as rendering goes, for a progress bar.
Progress = Callable[[int, int], None]


def _done_with_peer(path: str) -> bool:
    """The last artifact rendered for a peer: a router script or a client profile."""
    return path.endswith(".rsc") or (path.startswith("clients/") and not path.endswith(".svg"))


class _Counter:
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def tick(self, path: str) -> None:
        if self.progress is not None and _done_with_peer(path):
            self.done += 1
            self.progress(self.done, self.total)


def _instance(
    inst: InstanceView, qr: bool, files: dict[str, OutFile], counter: _Counter
) -> dict[str, Any]:
    artifacts: dict[str, dict[str, Any]] = {}
    hub_parts: list[tuple[str, str]] = []
    for family, renderer in FAMILIES.items():
        produced = render_clients(inst, qr=qr) if family == "clients" else renderer(inst)
        for art in produced:
            version, data = stamp(art.text)
            files[f"{inst.name}/{art.path}"] = OutFile(data, art.secret)
            artifacts[art.path] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "secret": art.secret,
                "version": version,
            }
            if family == "hub":
                hub_parts.append((art.path, version))
            counter.tick(art.path)
    hub_version = combine(hub_parts)
    version = combine((path, a["version"]) for path, a in artifacts.items())
    files[f"{inst.name}/VERSION"] = OutFile(f"{version}\n".encode(), False)
    files[f"{inst.name}/hub/VERSION"] = OutFile(f"{hub_version}\n".encode(), False)
    return {"version": version, "hub_version": hub_version,
            "artifacts": dict(sorted(artifacts.items()))}


def assemble(
    estate: Estate, ring: KeyRing, qr: bool = True, progress: Progress | None = None
) -> Build:
    """Render every instance; nothing touches the disk. ``progress`` hears of each peer."""
    files: dict[str, OutFile] = {}
    counter = _Counter(sum(len(i.peers) for i in estate.instances.values()), progress)
    instances = {inst.name: _instance(inst, qr, files, counter)
                 for inst in instance_views(estate, ring)}
    manifest = {
        "format": 1,
        "compiler": COMPILER_ID,
        "secrets": "redacted" if ring.redacted else "derived",
        "instances": instances,
    }
    text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    files["manifest.json"] = OutFile(text.encode(), False)
    return Build(files, manifest)
