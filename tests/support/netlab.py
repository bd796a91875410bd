"""A network-namespace lab: hosts on veth links running the real VPN daemons.

Every host is a network namespace named ``mvpn-e2e-<pid>-<role>``; nothing leaves the machine.
The lab always tears down what it made (processes, namespaces, ``/etc/netns`` entries,
wireguard-go sockets), also when a test fails, and sweeps leftovers of killed runs whose process
is gone.  Daemons write their output to log files, and every failure raised through
:meth:`Lab.fail` carries the tail of each log plus the tunnel state, so a red test says why.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from tests.support.tools import require, skip_or_fail

PREFIX = "mvpn-e2e-"
NETNS_ETC = Path("/etc/netns")
WG_SOCKETS = Path("/var/run/wireguard")
#: How long a tunnel may take to come up, or a probe to be answered (seconds).
BOUND = 20.0
_LOG_TAIL = 60
# Labs of one test process, and WireGuard interfaces on the machine, are numbered.
_LABS = itertools.count(1)
_WG_IFACES = itertools.count(1)
#: Labs not yet closed: a failing test shows their logs (see tests/conftest.py).
OPEN_LABS: list[Lab] = []


class LabError(AssertionError):
    """A lab expectation failed; the message carries the daemons' logs."""


class Daemon:
    """A long-running process in a namespace whose output goes to a log file."""

    def __init__(self, node: Node, argv: Sequence[str], log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.node, self.log = node, log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", node.ns, *argv], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def wait_for(self, pattern: str, bound: float = BOUND) -> bool:
        """Wait until ``pattern`` (a regex) appears in the log; False if the process dies first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if regex.search(self.log.read_text(errors="replace")):
                return True
            if self.proc.poll() is not None:
                return bool(regex.search(self.log.read_text(errors="replace")))
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Terminate (then kill) the process."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Node:
    """One host of the lab: a network namespace with its own /etc/hosts and resolv.conf."""

    def __init__(self, lab: Lab, role: str) -> None:
        self.lab, self.role = lab, role
        self.ns = f"{lab.prefix}{role}"
        self.etc = NETNS_ETC / self.ns
        self.addresses: list[str] = []

    def run(self, *argv: str, check: bool = True, env: dict[str, str] | None = None,
            bound: float = BOUND) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace; a failure raises :class:`LabError` with the logs."""
        try:
            proc = subprocess.run(
                ["ip", "netns", "exec", self.ns, *argv], capture_output=True, text=True,
                env={**os.environ, **(env or {})}, timeout=bound, check=False,
            )
        except subprocess.TimeoutExpired:
            self.lab.fail(f"{self.role}: `{' '.join(argv)}` did not finish in {bound:.0f} s")
        if check and proc.returncode != 0:
            self.lab.fail(f"{self.role}: `{' '.join(argv)}` exited {proc.returncode}:\n"
                          f"{proc.stdout}{proc.stderr}")
        return proc

    def run_logged(self, name: str, *argv: str, env: dict[str, str] | None = None) -> None:
        """Run a command whose output (and its daemonised children's) goes to a log file.

        wg-quick starts wireguard-go, which keeps wg-quick's stdout open for its log: a pipe
        would never reach EOF, so the output goes to a file.
        """
        log = self.lab.log_path(f"{self.role}-{name}")
        with log.open("ab") as out:
            proc = subprocess.run(
                ["ip", "netns", "exec", self.ns, *argv], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, timeout=BOUND,
                check=False,
            )
        if proc.returncode != 0:
            self.lab.fail(f"{self.role}: `{' '.join(argv)}` exited {proc.returncode}")

    def spawn(self, name: str, *argv: str, env: dict[str, str] | None = None) -> Daemon:
        """Start a daemon in the namespace, its output logged (and shown on failure)."""
        daemon = Daemon(self, argv, self.lab.log_path(f"{self.role}-{name}"), env)
        self.lab.daemons.append(daemon)
        return daemon

    def sysctl(self, **values: int) -> None:
        """Set sysctls in the namespace (``ipv4_ip_forward=1`` → ``net.ipv4.ip_forward``)."""
        for key, value in values.items():
            self.run("sysctl", "-q", "-w", f"net.{key.replace('__', '.')}={value}")

    def route(self, *spec: str) -> None:
        """``ip route replace …`` (``-6`` first for IPv6)."""
        family = [spec[0]] if spec[0] == "-6" else []
        self.run("ip", *family, "route", "replace", *spec[len(family):])


class Lab:
    """Namespaces, links and daemons, torn down in full by :meth:`close`."""

    def __init__(self, workdir: Path) -> None:
        self.prefix = f"{PREFIX}{os.getpid()}-{next(_LABS)}-"
        self.workdir = workdir
        self.logdir = workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.nodes: dict[str, Node] = {}
        self.daemons: list[Daemon] = []
        self.hosts: dict[str, str] = {}
        self.wg_ifaces: dict[str, Node] = {}
        OPEN_LABS.append(self)

    # ------------------------------------------------------------------ building

    def node(self, role: str) -> Node:
        """A new host (namespace) with loopback up."""
        node = Node(self, role)
        proc = subprocess.run(["ip", "netns", "add", node.ns], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            skip_or_fail(f"cannot create a network namespace: {proc.stderr.strip()}")
        self.nodes[role] = node
        node.etc.mkdir(parents=True, exist_ok=True)
        # openresolv (wg-quick's DNS = …) keeps its state per namespace, not in the shared /run.
        state = self.workdir / "resolvconf" / role
        state.mkdir(parents=True, exist_ok=True)
        (node.etc / "resolvconf.conf").write_text(
            f"resolv_conf=/etc/resolv.conf\nstate_dir={state}\n", encoding="ascii")
        (node.etc / "resolv.conf").write_text("", encoding="ascii")
        self._write_hosts(node)
        node.run("ip", "link", "set", "lo", "up")
        return node

    def link(self, a: Node, a_if: str, b: Node, b_if: str) -> None:
        """A veth pair from ``a`` to ``b``, both ends up (no addresses)."""
        subprocess.run(["ip", "link", "add", a_if, "netns", a.ns, "type", "veth", "peer",
                        "name", b_if, "netns", b.ns], check=True)
        a.run("ip", "link", "set", a_if, "up")
        b.run("ip", "link", "set", b_if, "up")

    @staticmethod
    def address(node: Node, iface: str, *cidrs: str) -> None:
        """Add addresses (IPv6 without duplicate address detection, so they work at once)."""
        for cidr in cidrs:
            extra = ["nodad"] if ":" in cidr else []
            node.run("ip", "addr", "add", cidr, "dev", iface, *extra)
            node.addresses.append(cidr.split("/")[0])

    def resolve(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` in every namespace (``/etc/netns/<ns>/hosts``)."""
        self.hosts[name] = address
        for node in self.nodes.values():
            self._write_hosts(node)

    def _write_hosts(self, node: Node) -> None:
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += [f"{addr} {name}" for name, addr in sorted(self.hosts.items())]
        (node.etc / "hosts").write_text("\n".join(lines) + "\n", encoding="ascii")

    def wg_name(self, node: Node) -> str:
        """A WireGuard interface name for ``node``, unique on the machine.

        wireguard-go's control sockets live in the shared ``/var/run/wireguard``, so two
        namespaces must never use the same interface name.
        """
        name = f"wg{os.getpid() % 100000}x{next(_WG_IFACES)}"
        self.wg_ifaces[name] = node
        return name

    def log_path(self, name: str) -> Path:
        """A fresh log file in the lab's log folder."""
        return self.logdir / f"{name}.log"

    # ------------------------------------------------------------------ reporting

    def report(self) -> str:
        """The tail of every log and the tunnel state of every host, for a failing test."""
        parts: list[str] = []
        for log in sorted(self.logdir.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-_LOG_TAIL:]
            if lines:
                parts.append(f"----- {log.stem} (last {len(lines)} lines)\n" + "\n".join(lines))
        for iface, node in self.wg_ifaces.items():
            if (WG_SOCKETS / f"{iface}.sock").exists():
                shown = node.run("wg", "show", iface, check=False).stdout.strip()
                parts.append(f"----- {node.role}: wg show {iface}\n{shown}")
        return "\n".join(parts)

    def fail(self, message: str) -> NoReturn:
        """Raise :class:`LabError` with ``message`` and the daemons' logs."""
        raise LabError(f"{message}\n\n===== daemon logs and tunnel state =====\n{self.report()}")

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        """Stop every process in the lab's namespaces and remove everything it made."""
        for daemon in self.daemons:
            daemon.stop()
        for node in self.nodes.values():
            _kill_namespace(node.ns)
        for iface in self.wg_ifaces:
            (WG_SOCKETS / f"{iface}.sock").unlink(missing_ok=True)
            (WG_SOCKETS / f"{iface}.name").unlink(missing_ok=True)
        self.nodes.clear()
        if self in OPEN_LABS:
            OPEN_LABS.remove(self)


def _kill_namespace(ns: str) -> None:
    """Kill every process in ``ns``, then delete it and its /etc/netns folder."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                              check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), sig)
        if not pids:
            break
        time.sleep(0.2)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)


def sweep_leftovers() -> None:
    """Remove namespaces of earlier runs that were killed before their teardown."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=False).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{PREFIX}(\d+)-.+", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _kill_namespace(name)


def require_lab() -> None:
    """Skip loudly (locally) or fail (under CI) unless the lab can run here."""
    for tool in ("ip", "wg", "wg-quick", "wireguard-go", "openvpn", "nft", "resolvconf"):
        require(tool)
    if os.geteuid() != 0:
        skip_or_fail("the end-to-end tunnel tests need root for network namespaces")


@contextlib.contextmanager
def lab(workdir: Path) -> Iterator[Lab]:
    """A lab that is always torn down."""
    require_lab()
    sweep_leftovers()
    made = Lab(workdir)
    try:
        yield made
    finally:
        made.close()
