"""What a hub runs compared with the build.

The applied version, WireGuard peers, allowed IPs and addresses (``wg show dump``,
``ip addr``), the firewall table and installed files.

The hub's side is gathered by one shell script (:func:`probe`) whose output is split into
``@@section`` blocks. The firewall is compared as ``nft list table inet mvpn`` prints it, on
both sides: the build's ``nftables.conf`` is loaded into a throwaway network namespace on the
hub (``unshare -n``) and listed there by the same nft, so the two listings are canonical and
differ only where the rules do (a text diff names the rule; the JSON form would not).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import shlex
from collections.abc import Mapping
from typing import Any

from compiler.deploy.bundle import HubBundle

#: Where apply.sh installs each file of the bundle (``{i}``: the instance).
INSTALLED: Mapping[str, str] = {
    "wireguard/wg0.conf": "/etc/wireguard/wg0.conf",
    "wireguard/wg1.conf": "/etc/wireguard/wg1.conf",
    "openvpn/server.conf": "/etc/openvpn/server/server.conf",
    "openvpn/pki/ca.crt": "/etc/openvpn/server/pki/ca.crt",
    "openvpn/pki/server.crt": "/etc/openvpn/server/pki/server.crt",
    "openvpn/pki/server.key": "/etc/openvpn/server/pki/server.key",
    "openvpn/pki/crl.pem": "/etc/openvpn/server/pki/crl.pem",
    "nftables.conf": "/etc/nftables.d/mvpn-{i}.nft",
    "sysctl.conf": "/etc/sysctl.d/60-mvpn-{i}.conf",
    "dns/dnsmasq.conf": "/etc/mvpn/dnsmasq-{i}.conf",
}
CCD = "/etc/openvpn/server/ccd"
#: The hub's WireGuard interfaces and their probe sections: wg1 runs only during step 1 of a
#: key rotation with ``next_port``, and must be gone after step 2 (its port is wg0's then).
WG_SECTIONS: Mapping[str, tuple[str, str]] = {"wg0": ("wg", "addr"), "wg1": ("wg1", "addr1")}


def probe(instance: str) -> str:
    """The script run on the hub (as root); the build's nftables.conf comes on stdin."""
    files = " ".join(shlex.quote(p.format(i=instance)) for p in INSTALLED.values())
    return f"""t=$(mktemp); trap 'rm -f "$t"' EXIT; cat >"$t"
echo @@now; date +%s
echo @@version; cat /var/lib/mvpn/{instance}.version 2>/dev/null
echo @@wg; wg show wg0 dump 2>/dev/null
echo @@addr; ip -o addr show dev wg0 scope global 2>/dev/null | awk '{{print $4}}'
echo @@wg1; wg show wg1 dump 2>/dev/null
echo @@addr1; ip -o addr show dev wg1 scope global 2>/dev/null | awk '{{print $4}}'
echo @@nft-live; nft list table inet mvpn 2>/dev/null
echo @@nft-build; unshare -n sh -c 'nft -f "$1" && nft list table inet mvpn' sh "$t" 2>&1
echo @@files; for f in {files} {CCD}/*; do [ -f "$f" ] && sha256sum "$f"; done
echo @@end
"""


def sections(output: str) -> dict[str, list[str]]:
    """The ``@@name`` blocks of the probe's output."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("@@"):
            current = out.setdefault(line[2:].strip(), [])
        elif current is not None:
            current.append(line)
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class WgPeer:
    """A WireGuard peer: its name (from the build's comment), key and allowed IPs."""

    name: str
    public_key: str
    allowed_ips: frozenset[str]


def _net(text: str) -> str:
    return str(ipaddress.ip_network(text.strip(), strict=False))


def build_wireguard(conf: str) -> tuple[list[str], str | None, list[WgPeer]]:
    """Addresses, listen port and peers of one of the build's ``wg0.conf``/``wg1.conf``."""
    addresses: list[str] = []
    port: str | None = None
    peers: list[WgPeer] = []
    name, comment, key, allowed = "", "", "", frozenset[str]()
    section = ""

    def flush() -> None:
        if section == "peer" and key:
            peers.append(WgPeer(name or key, key, allowed))

    for raw in conf.splitlines():
        line = raw.strip()
        if line.startswith("# "):
            # mvpn writes "# <peer name> (site|client ...)" right above each [Peer].
            comment = line[2:].split(" ", 1)[0]
        elif line.startswith("["):
            flush()
            section = line.strip("[]").lower()
            name, comment, key, allowed = comment, "", "", frozenset()
        elif "=" in line and not line.startswith("#"):
            field, _, value = (part.strip() for part in line.partition("="))
            field = field.lower()
            if section == "interface" and field == "address":
                addresses += [str(ipaddress.ip_interface(a.strip())) for a in value.split(",")]
            elif section == "interface" and field == "listenport":
                port = value
            elif section == "peer" and field == "publickey":
                key = value
            elif section == "peer" and field == "allowedips":
                allowed = frozenset(_net(a) for a in value.split(",") if a.strip())
    flush()
    return addresses, port, peers


@dataclasses.dataclass
class Status:
    """A hub's state against the build."""

    instance: str
    host: str
    applied: str | None
    build: str
    drift: list[dict[str, str]] = dataclasses.field(default_factory=list)
    peers: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, kind: str, subject: str, detail: str) -> None:
        """One difference between the hub and the build."""
        self.drift.append({"kind": kind, "subject": subject, "detail": detail})

    def as_json(self) -> dict[str, Any]:
        """The ``--format json`` document."""
        return {"instance": self.instance, "host": self.host, "applied": self.applied,
                "build": self.build, "up_to_date": self.applied == self.build,
                "drift": self.drift, "peers": self.peers}


def compare(bundle: HubBundle, host: str, output: str) -> Status:
    """Compare the probe's ``output`` from ``host`` with ``bundle``."""
    found = sections(output)
    applied = next((v.strip() for v in found.get("version", []) if v.strip()), None)
    status = Status(bundle.instance, host, applied, bundle.version)
    now_lines = found.get("now", [])
    now = int(now_lines[0]) if now_lines and now_lines[0].strip().isdigit() else None
    for iface in WG_SECTIONS:
        _compare_wireguard(bundle, found, status, now, iface)
    _compare_firewall(found, status)
    _compare_files(bundle, found, status)
    return status


def _compare_wireguard(bundle: HubBundle, found: dict[str, list[str]], status: Status,
                       now: int | None, iface: str) -> None:
    wg_section, addr_section = WG_SECTIONS[iface]
    conf = bundle.text(f"wireguard/{iface}.conf")
    dump = [line.split("\t") for line in found.get(wg_section, []) if line.strip()]
    if conf is None:
        if dump and iface != "wg0":
            status.add("wireguard", iface, f"the WireGuard interface {iface} runs on the hub "
                       "but the build has none (a key rotation's step 2 not applied yet)")
        return
    addresses, port, peers = build_wireguard(conf)
    if not dump:
        status.add("wireguard", iface, f"the WireGuard interface {iface} is not running")
        return
    if port is not None and len(dump[0]) >= 3 and dump[0][2] != port:
        status.add("wireguard", iface, f"listens on port {dump[0][2]}; the build says {port}")
    live_addrs = sorted(a.strip() for a in found.get(addr_section, []) if a.strip())
    if live_addrs != sorted(addresses):
        status.add("address", iface, f"addresses on the hub {', '.join(live_addrs) or 'none'}; "
                   f"in the build {', '.join(sorted(addresses))}")
    wanted = {p.public_key: p for p in peers}
    seen: set[str] = set()
    for row in dump[1:]:
        if len(row) < 8:
            continue
        key, endpoint, allowed_text, handshake = row[0], row[2], row[3], row[4]
        allowed = frozenset(_net(a) for a in allowed_text.split(",")
                            if a.strip() and a != "(none)")
        seen.add(key)
        peer = wanted.get(key)
        shown = ", ".join(sorted(allowed)) or "none"
        if peer is None:
            status.add("peer", key, f"peer {key} (allowed IPs {shown}) is on the hub but not "
                       "in the build")
        elif peer.allowed_ips != allowed:
            status.add("allowed-ips", peer.name, f"peer {peer.name}: allowed IPs on the hub "
                       f"{shown}; in the build {', '.join(sorted(peer.allowed_ips))}")
        stamp = int(handshake) if handshake.isdigit() and handshake != "0" else None
        status.peers.append({
            "name": peer.name if peer else None, "public_key": key,
            "endpoint": None if endpoint == "(none)" else endpoint,
            "allowed_ips": sorted(allowed), "latest_handshake": stamp,
            "seconds_ago": (now - stamp) if now is not None and stamp is not None else None,
        })
    for peer in peers:
        if peer.public_key not in seen:
            status.add("peer", peer.name, f"peer {peer.name} ({peer.public_key}) is in the "
                       "build but not on the hub")


def _compare_firewall(found: dict[str, list[str]], status: Status) -> None:
    live = [line.rstrip() for line in found.get("nft-live", []) if line.strip()]
    built = [line.rstrip() for line in found.get("nft-build", []) if line.strip()]
    if not built or not built[0].startswith("table inet mvpn"):
        status.add("firewall", "inet mvpn", "the build's table could not be listed on the hub: "
                   + (" ".join(built)[:200] or "no output"))
        return
    if not live:
        status.add("firewall", "inet mvpn", "the hub has no table inet mvpn")
        return
    for line in difflib.unified_diff(built, live, lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        where = "only on the hub" if line.startswith("+") else "only in the build"
        status.add("firewall", "inet mvpn", f"{where}: {line[1:].strip()}")


def _compare_files(bundle: HubBundle, found: dict[str, list[str]], status: Status) -> None:
    installed: dict[str, str] = {}
    for line in found.get("files", []):
        digest, _, path = line.partition("  ")
        if path:
            installed[path] = digest
    for rel, where in INSTALLED.items():
        path = where.format(i=bundle.instance)
        want = bundle.sha256(rel)
        have = installed.get(path)
        if want is None:
            if have is not None and rel == "wireguard/wg1.conf":
                status.add("file", path, f"{path} is on the hub but not in the build")
            continue
        if have is None:
            status.add("file", path, f"{path} is missing on the hub")
        elif have != want:
            status.add("file", path, f"{path} differs from the build's hub/{rel}")
    ccd = {path.rsplit("/", 1)[1]: digest for path, digest in installed.items()
           if path.startswith(CCD + "/")}
    wanted = {rel.rsplit("/", 1)[1]: str(a["sha256"]) for rel, a in bundle.artifacts.items()
              if rel.startswith("hub/openvpn/ccd/") and isinstance(a, dict)}
    for name in sorted(ccd.keys() | wanted.keys()):
        path = f"{CCD}/{name}"
        if name not in wanted:
            status.add("file", path, f"{path} is on the hub but not in the build")
        elif name not in ccd:
            status.add("file", path, f"{path} is missing on the hub")
        elif ccd[name] != wanted[name]:
            status.add("file", path, f"{path} differs from the build")
