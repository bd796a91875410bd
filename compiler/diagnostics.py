"""Diagnostics are data: one type, collected everywhere, reported once.

Every stage (loader, model, checks) appends :class:`Diagnostic` values to a
:class:`Diagnostics` collector instead of raising, so a user sees every problem
of a tree in one run (SPEC §3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal


class Severity(StrEnum):
    """How bad a diagnostic is; errors fail the run, warnings only under ``--strict``."""

    ERROR = "error"
    WARNING = "warning"


@dataclasses.dataclass(frozen=True, slots=True)
class Example:
    """A config tree that gives a code.

    ``files`` are laid over the small valid estate of :mod:`compiler.docs` (``None`` removes
    a file); ``symlink`` is (path, target); ``command`` is what is run on the tree.
    """

    files: dict[str, str | None]
    symlink: tuple[str, str] | None = None
    command: Literal["check", "allocate"] = "check"


@dataclasses.dataclass(frozen=True, slots=True)
class Code:
    """What a diagnostic code means (the one table's row).

    Its severity, a one-line summary (the SARIF rule text), how to fix it, and an example
    tree that gives it. docs/diagnostics.md shows each example with the diagnostic it really
    gives (``make docs`` runs it; an example that does not give its code is an error).
    """

    severity: Severity
    summary: str
    fix: str
    example: Example


_E, _W = Severity.ERROR, Severity.WARNING

#: instance.yaml of the examples' estate (compiler.docs lays out the rest of it).
EXAMPLE_INSTANCE: Final = (
    "hostname: acme-eu\n"
    "region: fra\n"
    "wireguard: {port: 51820, network: 10.255.0.0/24}\n"
    "openvpn: {port: 1194, transport: udp, network: 10.254.0.0/24}\n"
    "routing: {egress: nat}\n"
)
_INSTANCE = EXAMPLE_INSTANCE
_INST, _ALICE, _BERLIN = ("acme-eu/instance.yaml", "acme-eu/peers/alice.yaml",
                          "acme-eu/peers/berlin.yaml")
_CLIENT = "type: client\nuser: alice@example.com\n"


def _site(name: str, address: str, subnet: str) -> str:
    return f"type: site\nsite: {name}\naddress: {address}\nsubnets: [{subnet}]\n"


_OPENVPN = "openvpn: {port: 1194, transport: udp, network: 10.254.0.0/24}\n"

#: Every diagnostic code: the one table (SPEC §3 plus the workflow codes). docs/diagnostics.md
#: is generated from it (``make docs``); a test fails when the two drift.
CODES: Final[dict[str, Code]] = {
    "yaml-syntax": Code(
        _E, "File is not acceptable YAML (syntax, duplicate keys, encoding, anchors, aliases or "
        "custom tags)",
        "Fix the YAML at the position shown. mvpn accepts plain UTF-8 YAML without anchors, "
        "aliases, custom tags or repeated keys, so every value is visible where it is used.",
        Example({_ALICE: _CLIENT + "address: 10.255.0.11\naddress: 10.255.0.12\n"})),
    "file-unsafe": Code(
        _E, "File refused without reading (symlink leaving the tree, special file or larger than 1 "
        "MiB)",
        "Replace the symlink with the file itself, or remove the device, pipe or oversized "
        "file from the tree.",
        Example({_ALICE: None}, symlink=(_ALICE, "/etc/passwd"))),
    "schema": Code(
        _E, "Missing field, wrong type, unknown key or bad enum value",
        "Use the key, type and values the configuration reference lists for that file "
        "(docs/configuration.md); the message names the key and, for typos, the likely one.",
        Example({_ALICE: _CLIENT + "adress: 10.255.0.11\n"})),
    "name-invalid": Code(
        _E, "Instance folder or peer file name is not a safe identifier",
        "Rename the folder or file to lower-case letters, digits and inner hyphens, 1-32 "
        "characters (alice-smith.yaml); keep one of name.yaml and name.yml.",
        Example({_ALICE: None,
                 "acme-eu/peers/Alice Smith.yaml": _CLIENT + "address: 10.255.0.11\n"})),
    "file-unexpected": Code(
        _W, "YAML file where the tree layout has none",
        "Move the file where it belongs (a peer goes under peers/) or remove it; it was "
        "ignored.",
        Example({"acme-eu/notes.yaml": "todo: [order the router]\n"})),
    "hostname-invalid": Code(
        _E, "Hostname is not a valid DNS label of 3-20 characters",
        "Use 3 to 20 lower-case letters, digits and inner hyphens.",
        Example({_INST: _INSTANCE.replace("hostname: acme-eu", "hostname: vpn_eu")})),
    "hostname-reserved": Code(
        _E, "Hostname is reserved",
        "Pick another hostname; vpn.yaml's reserved_hostnames lists the names kept back.",
        Example({_INST: _INSTANCE.replace("hostname: acme-eu", "hostname: admin")})),
    "hostname-duplicate": Code(
        _E, "Two instances share a hostname",
        "Give each instance its own hostname: it is the hub's DNS name.",
        Example({"acme-us/instance.yaml": _INSTANCE.replace("region: fra", "region: iad")})),
    "region-unknown": Code(
        _E, "Region is not in the list of allowed regions",
        "Use one of the regions vpn.yaml lists (the message suggests the closest), or add the "
        "region there.",
        Example({_INST: _INSTANCE.replace("region: fra", "region: eu-west-9")})),
    "prefix-invalid": Code(
        _E, "Malformed prefix, or host bits set",
        "Write the network address with its length (10.20.0.0/24), in the address family the "
        "key expects.",
        Example({_BERLIN: _site("berlin", "10.255.0.10", "10.20.0.1/24")})),
    "route-overlap": Code(
        _E, "Prefixes advertised by two peers of one instance overlap",
        "Advertise each LAN from one site only, or split the prefixes so they do not overlap; "
        "the hub cannot route one address to two sites.",
        Example({_BERLIN: _site("berlin", "10.255.0.10", "10.20.0.0/16"),
                 "acme-eu/peers/hamburg.yaml": _site("hamburg", "10.255.0.12", "10.20.5.0/24")})),
    "route-conflict": Code(
        _E, "Advertised subnet overlaps a tunnel network, a pushed route or a reserved prefix",
        "Change the site's subnet (or the instance's networks or pushed_routes) so that they "
        "are disjoint.",
        Example({_BERLIN: _site("berlin", "10.255.0.10", "10.255.0.0/24")})),
    "route-broad": Code(
        _E, "Route broader than the policy minimum without allow_broad",
        "Advertise the LANs the site really has, or set allow_broad: true on the peer when the "
        "wide route is intended.",
        Example({_BERLIN: _site("berlin", "10.255.0.10", "10.0.0.0/8")})),
    "route-cross-instance": Code(
        _W, "Overlapping prefixes advertised by sites on different instances",
        "Usually a copy-paste slip: give the sites disjoint subnets. Clients of both instances "
        "would otherwise reach two different LANs under one address.",
        Example({"acme-us/instance.yaml":
                 _INSTANCE.replace("acme-eu", "acme-us").replace("region: fra", "region: iad"),
                 "acme-us/peers/paris.yaml": _site("paris", "10.255.0.10", "10.20.0.0/24")})),
    "address-invalid": Code(
        _E, "Tunnel address outside the instance network, or a reserved address",
        "Use a free address inside the pool of the peer's protocol, or remove the key and run "
        "mvpn allocate.",
        Example({_ALICE: _CLIENT + "address: 10.255.1.5\n"})),
    "address-duplicate": Code(
        _E, "Two peers of one instance share a tunnel address",
        "Give one of them another address, or remove its address and run mvpn allocate.",
        Example({"acme-eu/peers/bob.yaml":
                 "type: client\nuser: bob@example.com\naddress: 10.255.0.11\n"})),
    "address-missing": Code(
        _E, "Peer has no tunnel address (run mvpn allocate)",
        "Run mvpn allocate: it writes the lowest free address into every peer that has none.",
        Example({_ALICE: _CLIENT})),
    "peer-duplicate": Code(
        _E, "One site connected twice to the same instance",
        "Keep one peer file per site and instance.",
        Example({"acme-eu/peers/berlin-backup.yaml":
                 _site("berlin", "10.255.0.12", "10.20.0.0/24")})),
    "protocol-unavailable": Code(
        _E, "Peer uses a protocol its instance does not enable",
        "Add the protocol's section to instance.yaml or switch the peer to one the instance "
        "has.",
        Example({_INST: _INSTANCE.replace(_OPENVPN, ""),
                 _ALICE: _CLIENT + "address: 10.254.0.11\nprotocol: openvpn\n"})),
    "egress-unavailable": Code(
        _E, "Route-all client on an instance without internet egress",
        "Set egress: nat on the instance, or make the client split-tunnel (route_all: false).",
        Example({_INST: _INSTANCE.replace("egress: nat", "egress: none"),
                 _ALICE: _CLIENT + "address: 10.255.0.11\nroute_all: true\n"})),
    "ipv6-untunnelled": Code(
        _E, "IPv6 subnet on an OpenVPN site whose instance's OpenVPN tunnel has no IPv6",
        "Give the instance's openvpn an IPv6 tunnel network (openvpn.network6, then `mvpn "
        "allocate`), or connect the site over WireGuard; until then no tunnel carries the "
        "subnet.",
        Example({_INST: _INSTANCE,
                 _BERLIN: _site("berlin", "10.254.0.10", "2001:db8:20::/64")
                 + "protocol: openvpn\n"})),
    "ipv6-routeros-openvpn": Code(
        _W, "IPv6 subnet on an OpenVPN site: RouterOS's OpenVPN client carries no IPv6",
        "Connect the site over WireGuard to carry its IPv6 subnets on RouterOS; the hub routes "
        "them to the site, but only its Linux profile (sites/<peer>.ovpn) brings them up.",
        Example({_INST: _INSTANCE.replace(
            "network: 10.254.0.0/24}", "network: 10.254.0.0/24, network6: 'fd00:254::/64'}"),
                 _BERLIN: _site("berlin", "10.254.0.10", "2001:db8:20::/64")
                 + "protocol: openvpn\naddress6: 'fd00:254::10'\n"})),
    "secret-in-repo": Code(
        _E, "Private key material in the config tree",
        "Delete the key from the file and from git history, and rotate it (bump key_epoch): "
        "every key is derived from the organisation secret, which lives outside the repo.",
        Example({_ALICE: _CLIENT + "address: 10.255.0.11\n"
                 "# private: EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEA=\n"})),
    "pool-exhausted": Code(
        _E, "No free tunnel address left in the instance network",
        "Widen the instance's network (a shorter prefix) or move peers to another instance; "
        "nothing was written.",
        Example({_INST: _INSTANCE.replace("10.255.0.0/24", "10.255.0.0/30"),
                 _ALICE: _CLIENT, _BERLIN: None,
                 "acme-eu/peers/bob.yaml": "type: client\nuser: bob@example.com\n"},
                command="allocate")),
    "port-conflict": Code(
        _E, "Two services of one hub listen on the same port and transport",
        "Give each service of the hub its own port (WireGuard is UDP; OpenVPN uses its "
        "transport; the hub resolver takes port 53 when dns.records is set).",
        Example({_INST: _INSTANCE.replace("port: 51820", "port: 1194")})),
    "key-rotation-invalid": Code(
        _E, "A hub key rotation field names an epoch or port the rotation cannot use",
        "In step 1 of a two-step hub key rotation, retiring_key_epoch names the epoch the hub "
        "used before key_epoch was bumped (key_epoch: 2, retiring_key_epoch: 1); remove it to "
        "take step 2. wireguard.next_port is for step 1 only (at step 2, make it "
        "wireguard.port); a WireGuard peer's hub_key_epoch is key_epoch (moved to the new key "
        "on next_port) or retiring_key_epoch, and after step 2 only key_epoch.",
        Example({_INST: _INSTANCE + "key_epoch: 2\nretiring_key_epoch: 2\n"})),
    # SPEC §8: access control and reachability assertions.
    "test-failed": Code(
        _E, "Reachability assertion does not hold",
        "Change the firewall rules or access lists so the assertion holds, or change the "
        "assertion in tests.yaml if the policy is right; mvpn check --explain shows why.",
        Example({_INST: _INSTANCE + "firewall:\n  rules:\n"
                 "    - {action: deny, protocol: tcp, ports: '22', source: clients}\n",
                 "tests.yaml":
                 "- {from: acme-eu/alice, to: 10.20.0.5, port: 22/tcp, expect: allow}\n"})),
    "rule-shadowed": Code(
        _W, "Firewall rule can never match: an earlier rule matches everything it does",
        "Remove the dead rule or move it above the rule that shadows it.",
        Example({_INST: _INSTANCE + "firewall:\n  rules:\n"
                 "    - {action: deny, source: clients}\n"
                 "    - {action: allow, protocol: tcp, source: clients}\n"})),
    "reference-unknown": Code(
        _E, "Rule, access list or assertion names a peer, instance or group that does not exist",
        "Fix the name (the message suggests the closest one) or add the peer.",
        Example({"tests.yaml":
                 "- {from: acme-eu/alcie, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"})),
    "reference-broken": Code(
        _W, "Assertion about a peer whose own file has errors: not evaluated",
        "Fix the errors reported in that peer's file; the assertion is evaluated again then.",
        Example({_ALICE: _CLIENT + "adress: 10.255.0.11\n",
                 "tests.yaml":
                 "- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"})),
    # SPEC §11: a site's RouterOS version lacks a command or argument its script needs.
    "routeros-unsupported": Code(
        _E, "The site's RouterOS version lacks a command or argument its script needs",
        "Upgrade the router and pin the version the message names (routeros: on the peer, or "
        "defaults.routeros in vpn.yaml).",
        Example({_BERLIN: _site("berlin", "10.255.0.10", "10.20.0.0/24") + 'routeros: "7.8"\n'})),
    "tree-empty": Code(
        _W, "The config tree has no instance",
        "Check the path (mvpn check finds the tree from a folder inside it), or start one with "
        "mvpn init DIR; an instance is a folder with an instance.yaml.",
        Example({"vpn.yaml": "domain: vpn.example.net\n", _INST: None, _ALICE: None,
                 _BERLIN: None})),
    # SPEC §10: routing at scale.
    "route-unaggregated": Code(
        _W, "Site subnet outside every aggregate of its instance",
        "Number the site's LAN from one of the instance's routing.aggregates, or add an "
        "aggregate that covers it; until then its route is given to every other site and "
        "split-tunnel profile.",
        Example({_INST: _INSTANCE.replace("routing: {egress: nat}",
                                          "routing: {egress: nat, aggregates: [10.30.0.0/16]}"),
                 _BERLIN: _site("berlin", "10.255.0.10", "10.20.0.0/24")})),
    "qr-too-large": Code(
        _W, "WireGuard profile too large for a QR code (no .svg written)",
        "Declare routing.aggregates on the instance (or fewer pushed_routes) so the profile's "
        "AllowedIPs get shorter; the .conf itself is still written.",
        Example({_INST: _INSTANCE.replace(
            "routing: {egress: nat}",
            "routing:\n  egress: nat\n  pushed_routes: ["
            + ", ".join(f"10.{64 + i // 128}.{(i % 128) * 2}.0/24" for i in range(200)) + "]"),
                 _ALICE: _CLIENT + "address: 10.255.0.11\n"})),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding, pinned to a 1-based line and column of a file."""

    code: str
    severity: Severity
    message: str
    file: Path
    line: int
    column: int

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order by place first so output is stable and grouped by file."""
        return (str(self.file), self.line, self.column, self.code, self.message)


class Diagnostics:
    """An ordered collection of diagnostics with error/warning counts."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []
        self._seen: set[Diagnostic] = set()

    def add(self, code: str, message: str, file: Path, line: int = 1, column: int = 1) -> None:
        """Record a diagnostic; the severity comes from the code table."""
        diag = Diagnostic(code, CODES[code].severity, message, file, max(line, 1), max(column, 1))
        if diag not in self._seen:
            self._seen.add(diag)
            self._items.append(diag)

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        """Add already-built diagnostics (from a worker or a cache)."""
        for diag in diags:
            if diag not in self._seen:
                self._seen.add(diag)
                self._items.append(diag)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def sorted(self) -> list[Diagnostic]:
        """All diagnostics in a stable order: by file, line, column, code."""
        return sorted(self._items, key=Diagnostic.sort_key)

    @property
    def errors(self) -> int:
        """How many diagnostics are errors."""
        return sum(1 for d in self._items if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        """How many diagnostics are warnings."""
        return sum(1 for d in self._items if d.severity is Severity.WARNING)


class UsageError(Exception):
    """A usage or environment problem: exit code 2, no diagnostics."""


class EnvironmentFailureError(UsageError):
    """The machine refused an operation: not a bug of ours, not the tree's fault.

    Disk full, read-only target, permissions, a path too long: printed as
    ``error: <what> (<path>)``, exit 2 (SPEC §6: usage or environment error).
    """

    def __init__(self, what: str, path: Path | str | None) -> None:
        """``what`` failed on ``path`` (as the OS named it; None when it did not)."""
        self.what = what
        self.path = Path(path) if path is not None else None
        super().__init__(what if path is None else f"{what} ({path})")
