"""Commands on the hub over the system ``ssh``.

The user's ssh config, agent and jump hosts apply, and mvpn handles no password.
``MVPN_SSH`` replaces the ``ssh`` command (like git's ``GIT_SSH_COMMAND``),
e.g. ``MVPN_SSH="ssh -F deploy/ssh_config"``.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import tarfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Final

from compiler.diagnostics import EnvironmentFailureError, UsageError

#: ssh's exit code for its own failures (connection, authentication, host key).
SSH_FAILED: Final = 255
# [USER@]HOST: a host name, an IPv4/IPv6 address or an ssh config alias; never an option.
_HOST_RE: Final = re.compile(r"^([A-Za-z0-9._-]+@)?[A-Za-z0-9_.:\[\]%-]+$")

#: Runs the remote command as root: directly, or through sudo for another login user.
AS_ROOT: Final = 'if [ "$(id -u)" = 0 ]; then set --; else set -- sudo -n; fi; '


def check_host(host: str) -> str:
    """``[USER@]HOST``; anything ssh could read as an option or a command is refused."""
    if host.startswith("-") or not _HOST_RE.match(host):
        raise UsageError(f"--host: '{host}' is not [USER@]HOST")
    return host


def ssh_command(env: Mapping[str, str]) -> list[str]:
    """The ssh command: ``$MVPN_SSH`` split like a shell would, else ``ssh``."""
    custom = env.get("MVPN_SSH", "").strip()
    try:
        argv = shlex.split(custom) if custom else ["ssh"]
    except ValueError as exc:
        raise UsageError(f"MVPN_SSH: {exc}") from None
    return argv


def remote_argv(host: str, script: str, env: Mapping[str, str]) -> list[str]:
    """The argv that runs the POSIX sh ``script`` on ``host`` (as root)."""
    # ssh joins its arguments into one command line for the login shell: quote it once.
    return [*ssh_command(env), "-o", "BatchMode=yes", "--", check_host(host),
            "sh -c " + shlex.quote(AS_ROOT + script)]


def bundle_tar(folder: Path) -> bytes:
    """``folder`` as an uncompressed tar named ``hub/``, owned by root, modes kept."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(folder, arcname="hub", filter=as_root)
    return out.getvalue()


def run(argv: Sequence[str], stdin: bytes, on_line: Callable[[str], None]) -> int:
    """Run ``argv`` with ``stdin``; each line of its output goes to ``on_line`` as it comes.

    stderr is passed through to ours (ssh's own messages, apply.sh's warnings).
    """
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=dict(os.environ))
    except FileNotFoundError:
        raise EnvironmentFailureError("cannot run ssh: no such command", argv[0]) from None
    assert proc.stdin is not None and proc.stdout is not None
    # Written from a thread: a remote side that talks before it has read everything must
    # not block on a full pipe while we block writing to it.
    feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
    feeder.start()
    for raw in proc.stdout:
        on_line(raw.decode("utf-8", "replace").rstrip("\n"))
    feeder.join()
    return proc.wait()


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except BrokenPipeError:
        pass  # the remote side ended early; its exit code says why
