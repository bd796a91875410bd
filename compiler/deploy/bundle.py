"""A hub bundle in a build: found by instance name, refused when redacted."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from compiler.diagnostics import UsageError
from compiler.loader.names import NAME_RE


@dataclasses.dataclass(frozen=True, slots=True)
class HubBundle:
    """``BUILD/<instance>/hub`` and what the manifest says of it."""

    build: Path
    instance: str
    version: str
    artifacts: dict[str, Any]

    @property
    def folder(self) -> Path:
        """The bundle's folder (``BUILD/<instance>/hub``)."""
        return self.build / self.instance / "hub"

    def sha256(self, rel: str) -> str | None:
        """The SHA-256 the manifest records for ``hub/<rel>``, if the bundle has that file."""
        art = self.artifacts.get(f"hub/{rel}")
        return str(art["sha256"]) if isinstance(art, dict) and "sha256" in art else None

    def text(self, rel: str) -> str | None:
        """The text of ``hub/<rel>`` when the bundle has it."""
        path = self.folder / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None


def check_instance_name(instance: str) -> str:
    """An instance name as the config allows it (it is put into commands run on the hub)."""
    if not NAME_RE.match(instance):
        raise UsageError(f"'{instance}' is not an instance name (lower-case letters, digits "
                         "and '-')")
    return instance


def open_bundle(build: Path, instance: str) -> HubBundle:
    """The hub bundle of ``instance`` in ``build``; a redacted build is refused."""
    check_instance_name(instance)
    manifest_path = build / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{build} is not a build (no manifest.json): run mvpn compile "
                         f"-o {build} first") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{manifest_path} is not a manifest mvpn wrote") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("instances"), dict):
        raise UsageError(f"{manifest_path} is not a manifest mvpn wrote")
    if manifest.get("secrets") != "derived":
        raise UsageError(
            f"{build} is a redacted build (compiled without the organisation secret): its "
            "hub bundle has placeholders instead of keys; compile with MVPN_SECRET or "
            "--secret-file and deploy that build")
    entry = manifest["instances"].get(instance)
    if not isinstance(entry, dict):
        known = ", ".join(sorted(manifest["instances"])) or "none"
        raise UsageError(f"the build {build} has no instance '{instance}' (instances: {known})")
    bundle = HubBundle(build, instance, str(entry.get("hub_version")),
                       dict(entry.get("artifacts") or {}))
    if not (bundle.folder / "apply.sh").is_file():
        raise UsageError(f"{bundle.folder} has no apply.sh: compile it with this mvpn")
    return bundle
