"""``mvpn status``: the version a hub runs and how it differs from the build."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.cli.report import EXIT_ERRORS, EXIT_OK, Subparsers
from compiler.diagnostics import UsageError

if TYPE_CHECKING:
    from compiler.deploy.drift import Status


def cmd_status(args: argparse.Namespace) -> int:
    """``mvpn status INSTANCE --host HOST``: exit 0 in sync, 1 with drift, 2 unreachable."""
    # Imported here: every other command (a compile above all) starts without them.
    from compiler.deploy.bundle import open_bundle
    from compiler.deploy.drift import compare, probe
    from compiler.deploy.remote import SSH_FAILED, check_host, remote_argv, run

    host = check_host(args.host)
    bundle = open_bundle(Path(args.output), args.instance)
    nft = (bundle.folder / "nftables.conf").read_bytes()
    lines: list[str] = []
    code = run(remote_argv(host, probe(bundle.instance), os.environ), nft, lines.append)
    if code == SSH_FAILED or "@@end" not in lines:  # unreachable: exit 2, not drift (1)
        raise UsageError(f"cannot read the state of {host} over ssh (exit {code})")
    status = compare(bundle, host, "\n".join(lines))
    if args.format == "json":
        print(json.dumps(status.as_json(), indent=2))
    else:
        sys.stdout.write(_text(status))
    in_sync = not status.drift and status.applied == status.build
    return EXIT_OK if in_sync else EXIT_ERRORS


def _text(status: Status) -> str:
    applied = status.applied or "nothing"
    state = "up to date" if status.applied == status.build else f"the build has {status.build}"
    out = [f"{status.instance} on {status.host}: applied {applied} ({state})"]
    if status.drift:
        out.append(f"drift ({len(status.drift)}):")
        out += [f"  {d['kind']}: {d['detail']}" for d in status.drift]
    else:
        out.append("drift: none")
    if status.peers:
        out.append("peers:")
        out += [f"  {_peer(p)}" for p in status.peers]
    return "\n".join(out) + "\n"


def _peer(peer: dict[str, Any]) -> str:
    name = peer["name"] or f"(not in the build) {peer['public_key']}"
    ago = peer["seconds_ago"]
    seen = "no handshake yet" if ago is None else f"latest handshake {ago} s ago"
    return f"{name}  {', '.join(peer['allowed_ips'])}  {seen}"


def register(sub: Subparsers) -> None:
    """Add ``status`` to the parser."""
    p = sub.add_parser("status", help="the version a hub runs and its drift from the build")
    p.add_argument("instance", help="the instance whose hub is read")
    p.add_argument("--host", required=True, metavar="[USER@]HOST", help="the hub, as ssh knows it")
    p.add_argument("-o", "--output", default="build", metavar="BUILD",
                   help="the build to compare with (default: build)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_status)
