"""A hub reached over real ssh.

Debian's sshd runs in the hub's namespace, with a private /etc,
/var and /run, so ``mvpn deploy`` installs to the real paths without touching the machine.

sshd runs in its own mount namespace (``unshare -m``) where /etc, /var and /run are overlays
on the machine's (writes go to the lab's folder) and the namespace's hosts file is bound back;
everything started over ssh (apply.sh, wg-quick and wireguard-go, OpenVPN, dnsmasq) inherits
it. WireGuard's control socket is in the private /run, so the hub's interface is plain
``wg0``. ``mvpn`` runs in the wan router's namespace with ``MVPN_SSH="ssh -F <config>"``: a
config with a fresh client key and the hub's host key pinned (StrictHostKeyChecking yes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.netlab import Node
from tests.support.tools import require
from tests.support.vpnlab import HUB_PUBLIC, VpnLab

_MOUNTS = """set -e
W=$1 NS=$2
for d in etc var run; do
  mkdir -p "$W/$d.up" "$W/$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/$d.up,workdir=$W/$d.work" "/$d"
done
for f in /etc/netns/"$NS"/*; do mount --bind "$f" "/etc/${f##*/}"; done
mkdir -p /run/sshd
exec "$3" -D -e -f "$4"
"""


def require_sshd() -> str:
    """sshd's path; it and ssh must be installed (system-deps), else skip or fail (CI)."""
    for tool in ("ssh", "ssh-keygen", "unshare"):
        require(tool)
    return require("sshd")


class SshHub:
    """The lab's hub behind sshd, and ``mvpn`` run against it from the wan router."""

    def __init__(self, vpn: VpnLab, workdir: Path) -> None:
        sshd = require_sshd()
        self.vpn, self.dir = vpn, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        for key in ("client", "hostkey"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mvpn-test",
                            "-f", str(workdir / key)], check=True)
        (workdir / "authorized_keys").write_bytes((workdir / "client.pub").read_bytes())
        host_pub = (workdir / "hostkey.pub").read_text().split()
        (workdir / "known_hosts").write_text(f"{HUB_PUBLIC} {host_pub[0]} {host_pub[1]}\n")
        (workdir / "sshd_config").write_text(
            f"ListenAddress {HUB_PUBLIC}\nPort 22\nHostKey {workdir / 'hostkey'}\n"
            f"AuthorizedKeysFile {workdir / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nPidFile none\nLogLevel VERBOSE\n")
        self.config = workdir / "ssh_config"
        self.config.write_text(
            f"Host hub\n  HostName {HUB_PUBLIC}\n  User root\n"
            f"  IdentityFile {workdir / 'client'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {workdir / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n")
        hub = vpn.hub
        self.sshd = hub.spawn("sshd", "unshare", "-m", "--propagation", "private", "sh", "-c",
                              _MOUNTS, "sh", str(workdir / "root"), hub.ns, sshd,
                              str(workdir / "sshd_config"))
        if not self.sshd.wait_for("Server listening"):
            vpn.lab.fail("sshd did not start in the hub's namespace")
        self.env = {"MVPN_SSH": f"ssh -F {self.config}"}

    @property
    def admin(self) -> Node:
        """Where the operator runs mvpn: the wan router (it reaches the hub's public address)."""
        return self.vpn.wan

    def mvpn(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``mvpn ARGS`` on the operator's machine; never raises on a non-zero exit."""
        return self.admin.run(sys.executable, "-m", "compiler", *args, check=False,
                              env=self.env, bound=90)

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        """A shell command on the hub, as root, over ssh."""
        return self.admin.run("ssh", "-F", str(self.config), "hub", command, check=False)
