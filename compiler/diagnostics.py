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
from typing import Final


class Severity(StrEnum):
    """How bad a diagnostic is; errors fail the run, warnings only under ``--strict``."""

    ERROR = "error"
    WARNING = "warning"


@dataclasses.dataclass(frozen=True, slots=True)
class Code:
    """What a diagnostic code means (the one table's row).

    Its severity, a one-line summary (the SARIF rule text), an example of input, the message
    that input gives and how to fix it (shown in docs/diagnostics.md;
    tests/test_diagnostic_examples.py proves each example gives its message).
    """

    severity: Severity
    summary: str
    example: str
    message: str
    fix: str


_E, _W = Severity.ERROR, Severity.WARNING

#: Every diagnostic code: the one table (SPEC §3 plus the workflow codes). docs/diagnostics.md
#: is generated from it (``make docs``); a test fails when the two drift.
CODES: Final[dict[str, Code]] = {
    "yaml-syntax": Code(
        _E, "File is not acceptable YAML (syntax, duplicate keys, encoding, anchors, "
        "aliases or custom tags)",
        "subnets: [10.20.0.0/24]\nsubnets: [10.21.0.0/24]   # the same key twice",
        "duplicate key 'subnets'; each key may appear once",
        "Fix the YAML at the position shown. mvpn accepts plain UTF-8 YAML without anchors, "
        "aliases, custom tags or repeated keys, so every value is visible where it is used."),
    "file-unsafe": Code(
        _E, "File refused without reading (symlink leaving the tree, special file or larger "
        "than 1 MiB)",
        "peers/alice.yaml -> /etc/passwd   (a symlink leaving the config tree)",
        "'alice.yaml' is a symlink that leaves the config tree (or dangles); replace it "
        "with the file itself",
        "Replace the symlink with the file itself, or remove the device, pipe or oversized "
        "file from the tree."),
    "schema": Code(
        _E, "Missing field, wrong type, unknown key or bad enum value",
        "adress: 10.255.0.11",
        "unknown key 'adress'; did you mean 'address'?",
        "Use the key, type and values the configuration reference lists for that file "
        "(docs/configuration.md); the message names the key and, for typos, the likely one."),
    "name-invalid": Code(
        _E, "Instance folder or peer file name is not a safe identifier",
        "sites/acme-eu/peers/Alice Smith.yaml",
        "peer file name 'Alice Smith' is not a safe identifier (lower-case letters, "
        "digits and inner hyphens, 1-32 characters)",
        "Rename the folder or file to lower-case letters, digits and inner hyphens, 1-32 "
        "characters (alice-smith.yaml); keep one of name.yaml and name.yml."),
    "file-unexpected": Code(
        _W, "YAML file where the tree layout has none",
        "sites/acme-eu/notes.yaml   (beside instance.yaml)",
        "'notes.yaml' is not part of the tree layout (expected instance.yaml and peers/); "
        "it was ignored",
        "Move the file where it belongs (a peer goes under peers/) or remove it; it was "
        "ignored."),
    "hostname-invalid": Code(
        _E, "Hostname is not a valid DNS label of 3-20 characters",
        "hostname: vpn_eu   # '_' is not allowed in a DNS label",
        "hostname: 'vpn_eu' is not a DNS label: use letters, digits and inner hyphens",
        "Use 3 to 20 lower-case letters, digits and inner hyphens."),
    "hostname-reserved": Code(
        _E, "Hostname is reserved",
        "hostname: admin   # listed under reserved_hostnames in vpn.yaml",
        "hostname 'admin' is reserved; choose another name",
        "Pick another hostname; vpn.yaml's reserved_hostnames lists the names kept back."),
    "hostname-duplicate": Code(
        _E, "Two instances share a hostname",
        "hostname: acme   # in both acme-eu/instance.yaml and acme-us/instance.yaml",
        "hostname 'acme' is also used by instance 'acme-us'; hostnames must be unique "
        "(case-insensitive)",
        "Give each instance its own hostname: it is the hub's DNS name."),
    "region-unknown": Code(
        _E, "Region is not in the list of allowed regions",
        "region: eu-west-9",
        "region 'eu-west-9' is not one of the regions in vpn.yaml",
        "Use one of the regions vpn.yaml lists (the message suggests the closest), or add "
        "the region there."),
    "prefix-invalid": Code(
        _E, "Malformed prefix, or host bits set",
        "subnets: [10.20.0.1/24]",
        "subnets[0]: '10.20.0.1/24' has host bits set; did you mean 10.20.0.0/24?",
        "Write the network address with its length (10.20.0.0/24), in the address family "
        "the key expects."),
    "route-overlap": Code(
        _E, "Prefixes advertised by two peers of one instance overlap",
        "berlin: subnets: [10.20.0.0/16]\nhamburg: subnets: [10.20.5.0/24]",
        "10.20.0.0/16 overlaps 10.20.5.0/24 advertised by peer 'acme-eu/hamburg' "
        "(acme-eu/peers/hamburg.yaml); each network must be advertised by one peer",
        "Advertise each LAN from one site only, or split the prefixes so they do not "
        "overlap; the hub cannot route one address to two sites."),
    "route-conflict": Code(
        _E, "Advertised subnet overlaps a tunnel network, a pushed route or a reserved prefix",
        "subnets: [10.255.0.0/24]   # the instance's WireGuard network",
        "10.255.0.0/24 overlaps the WireGuard tunnel network (10.255.0.0/24); choose "
        "another subnet",
        "Change the site's subnet (or the instance's networks or pushed_routes) so that "
        "they are disjoint."),
    "route-broad": Code(
        _E, "Route broader than the policy minimum without allow_broad",
        "subnets: [10.0.0.0/8]",
        "10.0.0.0/8 is a broad route (shorter than /16); set 'allow_broad: true' on this "
        "peer if it is intended",
        "Advertise the LANs the site really has, or set allow_broad: true on the peer when "
        "the wide route is intended."),
    "route-cross-instance": Code(
        _W, "Overlapping prefixes advertised by sites on different instances",
        "acme-eu/peers/berlin.yaml and acme-us/peers/paris.yaml: subnets: [10.20.0.0/24]",
        "10.20.0.0/24 overlaps 10.20.0.0/24 advertised by peer 'acme-us/paris' "
        "(acme-us/peers/paris.yaml) on another instance; traffic between them would be "
        "ambiguous",
        "Usually a copy-paste slip: give the sites disjoint subnets. Clients of both "
        "instances would otherwise reach two different LANs under one address."),
    "address-invalid": Code(
        _E, "Tunnel address outside the instance network, or a reserved address",
        "address: 10.255.1.5   # the instance's WireGuard network is 10.255.0.0/24",
        "10.255.1.5 is outside the instance's WireGuard network 10.255.0.0/24",
        "Use a free address inside the pool of the peer's protocol, or remove the key and "
        "run mvpn allocate."),
    "address-duplicate": Code(
        _E, "Two peers of one instance share a tunnel address",
        "alice.yaml and bob.yaml: address: 10.255.0.11",
        "10.255.0.11 is also the tunnel address of peer 'bob'; give each peer its own "
        "(`mvpn allocate` picks free ones)",
        "Give one of them another address, or remove its address and run mvpn allocate."),
    "address-missing": Code(
        _E, "Peer has no tunnel address (run mvpn allocate)",
        "a peer file without address:",
        "peer has no 'address'; run `mvpn allocate` to assign the lowest free one",
        "Run mvpn allocate: it writes the lowest free address into every peer that has "
        "none."),
    "peer-duplicate": Code(
        _E, "One site connected twice to the same instance",
        "berlin.yaml and berlin-backup.yaml, both with site: berlin",
        "site 'berlin' is connected to instance 'acme-eu' twice (also as peer 'berlin'); "
        "keep one peer per site and instance",
        "Keep one peer file per site and instance."),
    "protocol-unavailable": Code(
        _E, "Peer uses a protocol its instance does not enable",
        "protocol: openvpn   # on an instance whose instance.yaml has no openvpn: section",
        "instance 'acme-eu' does not enable OpenVPN; use the other protocol or add "
        "'openvpn:' to its instance.yaml",
        "Add the protocol's section to instance.yaml or switch the peer to one the "
        "instance has."),
    "egress-unavailable": Code(
        _E, "Route-all client on an instance without internet egress",
        "route_all: true   # on an instance with routing: {egress: none}",
        "route_all needs internet egress, but instance 'acme-eu' has 'egress: none'; set "
        "'route_all: false' or 'egress: nat'",
        "Set egress: nat on the instance, or make the client split-tunnel "
        "(route_all: false)."),
    "secret-in-repo": Code(
        _E, "Private key material in the config tree",
        "private_key: yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
        "this looks like a WireGuard private key; never commit private keys: mvpn derives "
        "every key from MVPN_SECRET. Remove it from the tree (and its git history) and "
        "rotate it",
        "Delete the key from the file and from git history, and rotate it (bump key_epoch): "
        "every key is derived from the organisation secret, which lives outside the repo."),
    "pool-exhausted": Code(
        _E, "No free tunnel address left in the instance network",
        "mvpn allocate on an instance whose /29 WireGuard network is full",
        "no free IPv4 address left for 'address' in 10.255.0.0/30, the WireGuard network "
        "of instance 'acme-eu'; enlarge it in acme-eu/instance.yaml or remove peers that "
        "are gone",
        "Widen the instance's network (a shorter prefix) or move peers to another "
        "instance; nothing was written."),
    # SPEC §8: access control and reachability assertions.
    "test-failed": Code(
        _E, "Reachability assertion does not hold",
        "- {from: acme-eu/alice, to: 10.20.0.5, port: 22/tcp, expect: allow}   "
        "# denied by firewall rule 1",
        "expected allow, but acme-eu/alice -> 10.20.0.5 22/tcp is deny: firewall rule 1 "
        "(deny tcp ports 22 from clients to any) (path: acme-eu/alice (10.255.0.11) -> "
        "hub acme-eu -> site berlin (berlin) LAN (10.20.0.5))",
        "Change the firewall rules or access lists so the assertion holds, or change the "
        "assertion in tests.yaml if the policy is right; mvpn check --explain shows why."),
    "rule-shadowed": Code(
        _W, "Firewall rule can never match: an earlier rule matches everything it does",
        "rules: [{action: deny, source: clients}, {action: allow, source: clients, "
        "protocol: tcp}]",
        "firewall rule 2 can never match: rule 1 (line 7) matches everything it does; "
        "remove it or move it up",
        "Remove the dead rule or move it above the rule that shadows it."),
    "reference-unknown": Code(
        _E, "Rule, access list or assertion names a peer, instance or group that does not "
        "exist",
        "- {from: acme-eu/alcie, to: 10.20.0.5, port: 443/tcp, expect: allow}",
        "instance 'acme-eu' has no peer or site 'alcie'",
        "Fix the name (the message suggests the closest one) or add the peer."),
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
