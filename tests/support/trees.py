"""Inline file trees for tests (after copier's ``build_file_tree``)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import yaml

from compiler.api import CheckResult, check
from compiler.diagnostics import Diagnostic

Files = Mapping[str, str | bytes | Mapping[str, object] | list[object]]

VPN = {"domain": "vpn.example.net", "regions": ["fra", "iad", "sjc"]}

INSTANCE = {
    "hostname": "acme-eu",
    "region": "fra",
    "wireguard": {"port": 51820, "network": "10.255.0.0/24"},
    "openvpn": {"port": 1194, "transport": "udp", "network": "10.254.0.0/24"},
    "routing": {"pushed_routes": ["10.0.0.0/16"], "egress": "nat"},
}


def build_file_tree(root: Path, files: Files) -> Path:
    """Write ``files`` (path → text, bytes, or a mapping dumped as YAML) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return root


def site(name: str, address: str, subnets: list[str], **extra: object) -> dict[str, object]:
    """A site peer document."""
    return {"type": "site", "site": name, "protocol": "wireguard", "subnets": subnets,
            "address": address, **extra}


def client(user: str, address: str, **extra: object) -> dict[str, object]:
    """A client peer document."""
    return {"type": "client", "user": user, "address": address, **extra}


def estate(**overrides: object) -> dict[str, object]:
    """A small valid estate; keys are file paths, ``None`` values delete a default file."""
    files: dict[str, object] = {
        "vpn.yaml": VPN,
        "acme-eu/instance.yaml": INSTANCE,
        "acme-eu/peers/berlin.yaml": site("berlin", "10.255.0.10", ["10.20.0.0/24"]),
        "acme-eu/peers/alice.yaml": client("alice@example.com", "10.255.0.11"),
    }
    for key, value in overrides.items():
        path = key.replace("__", "/").replace("_DOT_", ".")
        if value is None:
            files.pop(path, None)
        else:
            files[path] = value
    return files


def run(root: Path, files: Mapping[str, object]) -> CheckResult:
    """Build the tree under ``root`` and check it."""
    build_file_tree(root, files)  # type: ignore[arg-type]
    return check(root)


def brief(result: CheckResult, root: Path) -> list[tuple[str, str, str, int, int]]:
    """(code, severity, file relative to root, line, column) of every diagnostic."""
    return [_brief(d, root) for d in result.diagnostics.sorted()]


def _brief(d: Diagnostic, root: Path) -> tuple[str, str, str, int, int]:
    return (d.code, d.severity.value, d.file.relative_to(root.resolve()).as_posix(), d.line,
            d.column)
