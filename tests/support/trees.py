"""Inline file trees for tests (after copier's ``build_file_tree``)."""

from __future__ import annotations

import base64
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


Row = tuple[str, str, str, int, int, str]


def rows(tmp_path: Path, files: Mapping[str, object]) -> list[Row]:
    """Build and check a tree: (code, severity, file, line, column, message) of each finding."""
    result = run(tmp_path, files)
    root = tmp_path.resolve()
    return [
        (d.code, d.severity.value, d.file.relative_to(root).as_posix(), d.line, d.column, d.message)
        for d in result.diagnostics.sorted()
    ]


def brief(result: CheckResult, root: Path) -> list[tuple[str, str, str, int, int]]:
    """(code, severity, file relative to root, line, column) of every diagnostic."""
    return [_brief(d, root) for d in result.diagnostics.sorted()]


def _brief(d: Diagnostic, root: Path) -> tuple[str, str, str, int, int]:
    return (d.code, d.severity.value, d.file.relative_to(root.resolve()).as_posix(), d.line,
            d.column)


#: The fixed organisation secret of the compile tests (a test value, never a real one).
TEST_SECRET = b"mvpn-test-secret-0123456789abcdef"
#: The same secret as ``MVPN_SECRET`` / ``--secret-file`` hold it (base64).
TEST_SECRET_B64 = base64.b64encode(TEST_SECRET).decode("ascii")

#: A user's own WireGuard public key (a BYO-key client; any 32 bytes in base64).
BYO_PUBLIC_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def compile_estate() -> dict[str, dict[str, object]]:
    """A small estate that produces every artifact family (golden and compile tests).

    ``acme-eu``: WireGuard (with IPv6) and OpenVPN over UDP; a WireGuard site with v4+v6
    subnets and a description, an OpenVPN site, a split, a route-all, a BYO-key WireGuard
    client and an OpenVPN client with an access list; DNS records (a hub resolver), firewall
    rules and aggregates holding both sites.  ``acme-us``: OpenVPN over TCP only, ``egress:
    none``, split DNS, a default-deny firewall, no aggregates.
    """
    return {
        "vpn.yaml": {
            "domain": "vpn.example.net",
            "regions": ["fra", "iad", "sjc"],
            "defaults": {"routeros": "7.16", "keepalive": 25},
        },
        "acme-eu/instance.yaml": {
            "hostname": "acme-eu",
            "region": "fra",
            "description": "Frankfurt hub",
            "wireguard": {"port": 51820, "network": "10.255.0.0/24",
                          "network6": "fd00:255::/64"},
            "openvpn": {"port": 1194, "transport": "udp", "network": "10.254.0.0/24"},
            "routing": {"pushed_routes": ["10.0.0.0/16"], "egress": "nat",
                        "aggregates": ["10.16.0.0/12", "2001:db8:20::/48"], "allow_broad": True},
            "dns": {"servers": ["10.0.0.53"], "domains": ["corp.example"],
                    "records": {"intranet.corp.example": "10.0.0.80"}},
            "firewall": {"default": "allow", "rules": [
                {"action": "deny", "protocol": "tcp", "ports": "22,3389", "source": "clients",
                 "destination": "10.20.0.0/16"},
                {"action": "allow", "protocol": "any", "source": "sites", "destination": "sites"},
            ]},
            "key_epoch": 1,
        },
        "acme-eu/peers/berlin.yaml": site(
            "berlin-office", "10.255.0.10", ["10.20.0.0/24", "2001:db8:20::/64"],
            address6="fd00:255::10", routeros="7.18",
            description='Berlin "HQ" office, budget $5 [rack 2]',
        ),
        "acme-eu/peers/hamburg.yaml": site(
            "hamburg-office", "10.254.0.10", ["10.21.0.0/24"], protocol="openvpn",
        ),
        "acme-eu/peers/alice.yaml": client(
            "alice@example.com", "10.255.0.11", address6="fd00:255::11",
            description="Alice's laptop (split tunnel)",
        ),
        "acme-eu/peers/bob.yaml": client(
            "bob@example.com", "10.255.0.12", address6="fd00:255::12", route_all=True,
        ),
        "acme-eu/peers/carol.yaml": client("carol@example.com", "10.254.0.11",
                                           protocol="openvpn", access=["berlin-office"]),
        "acme-eu/peers/dave.yaml": client("dave@example.com", "10.255.0.13",
                                          address6="fd00:255::13", public_key=BYO_PUBLIC_KEY),
        "acme-us/instance.yaml": {
            "hostname": "acme-us",
            "region": "iad",
            "openvpn": {"port": 443, "transport": "tcp", "network": "10.253.0.0/24"},
            "routing": {"pushed_routes": ["10.1.0.0/16"], "egress": "none"},
            "dns": {"servers": ["10.1.0.53"], "domains": ["us.corp.example"], "split": True},
            "firewall": {"default": "deny", "rules": [
                {"action": "allow", "protocol": "tcp", "ports": [443, "8000-8100"],
                 "source": "clients", "destination": "10.1.0.0/16"},
                {"action": "allow", "source": "chicago-office", "destination": "any"},
                {"action": "allow", "protocol": "icmp"},
            ]},
        },
        "acme-us/peers/chicago.yaml": site(
            "chicago-office", "10.253.0.10", ["10.30.0.0/24"], protocol="openvpn",
        ),
        "acme-us/peers/erin.yaml": client("erin@example.com", "10.253.0.11",
                                          protocol="openvpn"),
    }
