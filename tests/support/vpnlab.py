"""The VPN estate of the end-to-end tests, brought up from a compiled build in a :class:`Lab`.

Topology (all addresses exist only inside the lab's namespaces)::

    inet 198.51.100.10 ── wan (internet router; bridge 192.0.2.254/24)
                            ├── hub  192.0.2.1  ── hublan 10.0.0.5 (behind the hub, pushed)
                            ├── site routers 192.0.2.1x ── their LAN host (x.x.x.5)
                            └── clients 192.0.2.2x

and the same in IPv6: public hosts 2001:db8:ff::N (N as in 192.0.2.N), the internet host
2001:db8:100::10.  The wan router knows no private network, so tunnels are the only way there.

The hub runs its generated ``sysctl.conf``, ``nftables.conf``, ``wg0.conf`` (wg-quick with
wireguard-go) and ``server.conf`` (OpenVPN with ``ccd/`` and ``pki/``); sites and clients run
their generated profiles.  Artifacts are used byte for byte: only WireGuard configs are copied
to a file whose name (the interface name, for wg-quick) is unique on the machine.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netlab import BOUND, Daemon, Lab, Node

HUB_PUBLIC = "192.0.2.1"
WAN_GATEWAY = "192.0.2.254"
INTERNET_HOST = "198.51.100.10"
# The same segments in IPv6: a public host 192.0.2.N is also 2001:db8:ff::N.
PUBLIC6 = "2001:db8:ff::"
WAN_GATEWAY6 = "2001:db8:ff::fe"
INTERNET_HOST6 = "2001:db8:100::10"
HUB_PUBLIC6 = "2001:db8:ff::1"
ECHO_PORT = 7000
#: Every echo server also listens here, so firewall rules on a port can be tested.
SSH_PORT = 22
OVPN_READY = "Initialization Sequence Completed"

# A TCP server that answers every connection with the address it came from.
_ECHO = """
import socket, sys
srv = socket.create_server(("::", int(sys.argv[1])), family=socket.AF_INET6,
                           dualstack_ipv6=True)
while True:
    conn, peer = srv.accept()
    conn.sendall(peer[0].removeprefix("::ffff:").encode())
    conn.close()
"""
_ASK = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as conn:
    print(conn.recv(100).decode())
"""
_WG_ENV = {"WG_QUICK_USERSPACE_IMPLEMENTATION": "wireguard-go", "LOG_LEVEL": "verbose"}


@dataclass
class Tunnel:
    """A running tunnel endpoint: a wg-quick interface or an OpenVPN process."""

    node: Node
    profile: Path
    iface: str | None = None
    daemon: Daemon | None = None

    def down(self) -> None:
        """Take the tunnel down (wg-quick down, or stop OpenVPN)."""
        if self.iface is not None:
            self.node.run_logged("wg-quick-down", "wg-quick", "down",
                                 str(self.node.lab.workdir / "wg" / f"{self.iface}.conf"),
                                 env=_WG_ENV)
            self.iface = None
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None


@dataclass
class VpnLab:
    """An instance's hub, its sites and clients, plus an internet host, in one lab."""

    lab: Lab
    build: Path
    instance: str
    fqdn: str
    wan: Node = field(init=False)
    inet: Node = field(init=False)
    hub: Node = field(init=False)
    hub_lan: Node = field(init=False)
    hub_tunnels: list[Tunnel] = field(default_factory=list)
    _ports: int = 0

    def __post_init__(self) -> None:
        self.wan = self.lab.node("wan")
        self.wan.run("ip", "link", "add", "br0", "type", "bridge")
        self.wan.run("ip", "link", "set", "br0", "up")
        self.lab.address(self.wan, "br0", f"{WAN_GATEWAY}/24", f"{WAN_GATEWAY6}/64")
        self.wan.sysctl(ipv4__ip_forward=1, ipv6__conf__all__forwarding=1)
        self.inet = self.lab.node("inet")
        self.lab.link(self.inet, "eth0", self.wan, "inet0")
        self.lab.address(self.wan, "inet0", "198.51.100.1/24", "2001:db8:100::1/64")
        self.lab.address(self.inet, "eth0", f"{INTERNET_HOST}/24", f"{INTERNET_HOST6}/64")
        self.inet.route("default", "via", "198.51.100.1")
        self.inet.route("-6", "default", "via", "2001:db8:100::1")
        self.echo(self.inet)
        self.hub = self.public("hub", HUB_PUBLIC)
        self.lab.resolve(self.fqdn, HUB_PUBLIC)

    # ------------------------------------------------------------------ hosts

    def public(self, role: str, address: str) -> Node:
        """A host on the internet segment (v4 and v6), its default route via the wan router."""
        node = self.lab.node(role)
        self._ports += 1
        port = f"p{self._ports}"
        self.lab.link(node, "eth0", self.wan, port)
        self.wan.run("ip", "link", "set", port, "master", "br0")
        v6 = PUBLIC6 + address.rsplit(".", 1)[1]
        self.lab.address(node, "eth0", f"{address}/24", f"{v6}/64")
        node.route("default", "via", WAN_GATEWAY)
        node.route("-6", "default", "via", WAN_GATEWAY6)
        return node

    def lan(self, router: Node, *nets: str) -> Node:
        """A host on a LAN behind ``router``: in each of ``nets`` the router is .1, the host .5."""
        host = self.lab.node(f"{router.role}-lan")
        self.lab.link(router, "lan0", host, "eth0")
        for cidr in nets:
            net = ipaddress.ip_network(cidr)
            self.lab.address(router, "lan0", f"{net[1]}/{net.prefixlen}")
            self.lab.address(host, "eth0", f"{net[5]}/{net.prefixlen}")
            host.route(*(["-6"] if net.version == 6 else []), "default", "via", str(net[1]))
        self.echo(host)
        return host

    def echo(self, node: Node) -> None:
        """Run the address-echo server on ``node`` (on the echo and the ssh port)."""
        for port in (ECHO_PORT, SSH_PORT):
            daemon = node.spawn(f"echo{port}", sys.executable, "-c", _ECHO, str(port))
            deadline = time.monotonic() + BOUND
            while not node.run("ss", "-Htln", f"sport = :{port}", check=False).stdout.strip():
                if time.monotonic() > deadline or daemon.proc.poll() is not None:
                    self.lab.fail(f"{node.role}: the echo server on port {port} did not start")
                time.sleep(0.05)

    # ------------------------------------------------------------------ artifacts

    def artifact(self, rel: str) -> Path:
        """Path of an artifact of this instance in the current build."""
        path = self.build / self.instance / rel
        if not path.is_file():
            self.lab.fail(f"the build has no {self.instance}/{rel}")
        return path

    def profile(self, folder: str, peer: str) -> Path:
        """A peer's Linux artifact: its WireGuard ``.conf`` or its OpenVPN ``.ovpn``."""
        for suffix in (".conf", ".ovpn"):
            path = self.build / self.instance / folder / f"{peer}{suffix}"
            if path.is_file():
                return path
        self.lab.fail(f"the build has no profile for {self.instance}/{folder}/{peer}")

    def start_hub(self, lan: str = "10.0.0.0/24") -> Node:
        """Bring up the hub from its bundle; its LAN host (in ``pushed_routes``) is behind it."""
        self.hub_lan = self.lan(self.hub, lan)
        self.hub.run("sysctl", "-q", "-p", str(self.artifact("hub/sysctl.conf")))
        self.hub.run("nft", "-f", str(self.artifact("hub/nftables.conf")))
        self._start_hub_tunnels()
        return self.hub_lan

    def _start_hub_tunnels(self, wireguard: bool = True) -> None:
        bundle = self.build / self.instance / "hub"
        if wireguard and (bundle / "wireguard" / "wg0.conf").is_file():
            self.hub_tunnels.append(self.wg_up(self.hub, bundle / "wireguard" / "wg0.conf"))
        if (bundle / "openvpn" / "server.conf").is_file():
            server = bundle / "openvpn" / "server.conf"
            daemon = self.hub.spawn("openvpn-server", "openvpn", "--cd", str(server.parent),
                                    "--config", server.name)
            if not daemon.wait_for(OVPN_READY):
                self.lab.fail("the OpenVPN hub did not start")
            self.hub_tunnels.append(Tunnel(self.hub, server, daemon=daemon))
        # The resolver starts last, as the bundle's units order it (After= the tunnels): its
        # bind-dynamic follows addresses that come and go later, but one that appears while
        # dnsmasq is still starting up can be missed (seen once: "connection refused" on the
        # OpenVPN hub address, whose tunnel came up just after dnsmasq said "started").
        if (bundle / "dns" / "dnsmasq.conf").is_file():
            daemon = self.hub.spawn(
                "dnsmasq", "dnsmasq", f"--conf-file={bundle / 'dns' / 'dnsmasq.conf'}",
                "--keep-in-foreground", "--log-facility=-", "--log-queries",
                f"--pid-file={self.lab.workdir / 'dnsmasq.pid'}")
            if not daemon.wait_for("started, version"):
                self.lab.fail("the hub's resolver (dnsmasq) did not start")
            self.hub_tunnels.append(Tunnel(self.hub, bundle / "dns", daemon=daemon))

    def reload_hub(self, build: Path, keep_unchanged_wireguard: bool = False) -> None:
        """Switch to another build and restart the hub's tunnels and firewall from it.

        ``keep_unchanged_wireguard``: as the hub's ``apply.sh`` does, leave WireGuard running
        when ``wg0.conf`` is byte for byte the same in ``build`` (its sessions survive).
        """
        new_wg = build / self.instance / "hub" / "wireguard" / "wg0.conf"
        kept = [t for t in self.hub_tunnels
                if keep_unchanged_wireguard and t.iface is not None and new_wg.is_file()
                and t.profile.read_bytes() == new_wg.read_bytes()]
        for tunnel in self.hub_tunnels:
            if not any(tunnel is k for k in kept):
                tunnel.down()
        self.hub_tunnels[:] = kept
        self.build = build
        self.hub.run("nft", "-f", str(self.artifact("hub/nftables.conf")))
        self._start_hub_tunnels(wireguard=not kept)

    def wg_up(self, node: Node, conf: Path) -> Tunnel:
        """``wg-quick up`` an unmodified copy of ``conf`` under a machine-unique name."""
        iface = self.lab.wg_name(node)
        copy = self.lab.workdir / "wg" / f"{iface}.conf"
        copy.parent.mkdir(exist_ok=True)
        copy.touch(mode=0o600)
        copy.write_bytes(conf.read_bytes())
        node.run_logged(f"wg-quick-{iface}", "wg-quick", "up", str(copy), env=_WG_ENV)
        return Tunnel(node, conf, iface=iface)

    def connect(self, node: Node, profile: Path, bound: float = BOUND) -> Tunnel:
        """Start a site's or client's tunnel from its profile (``.conf`` or ``.ovpn``).

        An OpenVPN connection must complete within ``bound`` seconds.
        """
        if profile.suffix == ".conf":
            return self.wg_up(node, profile)
        daemon = node.spawn(f"openvpn-{profile.stem}", "openvpn", "--config", str(profile))
        if not daemon.wait_for(OVPN_READY, bound):
            self.lab.fail(f"{node.role}: {profile.name} did not connect to the hub")
        return Tunnel(node, profile, daemon=daemon)

    def site(self, peer: str, public: str, *lan: str) -> Node:
        """A site router running its Linux artifact, with a host on its LAN (``lan`` nets)."""
        router = self.public(peer, public)
        host = self.lan(router, *lan)
        profile = self.profile("sites", peer)
        if profile.suffix == ".ovpn":
            # The .ovpn says so in its header: a Linux router must forward (wg-quick's
            # PostUp does it for the WireGuard site).
            router.sysctl(ipv4__ip_forward=1)
        self.connect(router, profile)
        return host

    def client(self, peer: str, public: str) -> tuple[Node, Tunnel]:
        """A client device running its profile."""
        node = self.public(peer, public)
        profile = self.profile("clients", peer)
        return node, self.connect(node, profile)

    # ------------------------------------------------------------------ probes

    def ping(self, node: Node, address: str, bound: float = 6.0) -> bool:
        """True once ``address`` answers a ping from ``node`` within ``bound`` seconds."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if node.run("ping", "-c", "1", "-W", "1", address, check=False).returncode == 0:
                return True
        return False

    def seen_as(self, node: Node, address: str, bound: float = 6.0,
                port: int = ECHO_PORT) -> str | None:
        """The source address the echo server at ``address`` sees for ``node``, or None."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            proc = node.run(sys.executable, "-c", _ASK, address, str(port), check=False)
            if proc.returncode == 0 and proc.stdout.strip():
                return proc.stdout.strip()
            time.sleep(0.2)
        return None

    def observe(self, node: Node, address: str, probe: str, own: str) -> bool:
        """Does ``node`` reach ``address`` with ``probe`` (``icmp`` or ``PORT/tcp``) via the VPN?

        A TCP connection that arrives with ``node``'s own public address ``own`` went around
        the VPN, so it does not count.
        """
        if probe == "icmp":
            return self.ping(node, address, bound=3.0)
        port, _, proto = probe.partition("/")
        assert proto == "tcp", probe
        seen = self.seen_as(node, address, bound=3.0, port=int(port))
        return seen is not None and seen != own

    def route_dev(self, node: Node, address: str) -> str:
        """The interface ``node`` would send a packet for ``address`` through."""
        out = node.run("ip", "route", "get", address).stdout
        match = re.search(r"\bdev (\S+)", out)
        return match.group(1) if match else ""

    def expect_reach(self, node: Node, address: str, seen_as: str | None = None) -> None:
        """``node`` reaches the echo server at ``address`` (seen with source ``seen_as``).

        A path that should work gets 15 s, not the 6 s of a probe: the first packets through
        a freshly started hub are sometimes lost for a few seconds on a busy machine, and a
        reachability test is about the path, not how fast it comes up.
        """
        seen = self.seen_as(node, address, bound=15.0)
        if seen is None:
            self.lab.fail(f"{node.role} cannot reach {address}")
        if seen_as is not None and seen != seen_as:
            self.lab.fail(f"{node.role} reaches {address} as {seen}, expected {seen_as}")
