"""``mvpn deploy``: copy a hub bundle to the hub over ssh and run its apply.sh there."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

from compiler.cli.report import EXIT_ERRORS, EXIT_OK, Subparsers
from compiler.diagnostics import UsageError

_APPLIED = re.compile(r"^apply\.sh: applied \S+ (\S+) \(was (\S+)\)$")


def _script(instance: str, args: argparse.Namespace) -> str:
    """The command run on the hub: unpack the bundle privately, run its apply.sh, clean up."""
    flags = " ".join(flag for flag, on in (("--dry-run", args.dry_run), ("--force", args.force))
                     if on)
    if args.rollback:
        # The bundle before the installed one is on the hub already: nothing is copied.
        return (f'exec "$@" sh /var/lib/mvpn/{shlex.quote(instance)}/current/apply.sh '
                f"--rollback {flags}")
    return ('umask 077; d=$(mktemp -d /tmp/mvpn-deploy.XXXXXX) || exit 1; '
            "trap 'rm -rf \"$d\"' EXIT; tar -x -f - -C \"$d\" || exit 1; "
            f'"$@" sh "$d/hub/apply.sh" {flags}')


def cmd_deploy(args: argparse.Namespace) -> int:
    """``mvpn deploy INSTANCE --host [USER@]HOST``."""
    # Imported here: every other command (a compile above all) starts without them.
    from compiler.deploy.bundle import check_instance_name, open_bundle
    from compiler.deploy.remote import SSH_FAILED, bundle_tar, check_host, remote_argv, run

    host = check_host(args.host)
    instance = check_instance_name(args.instance)
    if args.rollback and (args.force or args.dry_run):
        raise UsageError("--rollback takes neither --force nor --dry-run")
    payload, version = b"", "the previous bundle"
    if not args.rollback:
        bundle = open_bundle(Path(args.output), instance)
        payload, version = bundle_tar(bundle.folder), bundle.version
    print(f"mvpn: deploying {instance} {version} to {host}", file=sys.stderr, flush=True)
    outcome: list[tuple[str, str]] = []

    def line(text: str) -> None:
        print(text, flush=True)
        match = _APPLIED.match(text)
        if match:
            outcome.append((match.group(2), match.group(1)))

    code = run(remote_argv(host, _script(instance, args), os.environ), payload, line)
    if code == SSH_FAILED:  # the network or ssh refused, not the hub: exit 2, not 1
        raise UsageError(f"ssh to {host} failed (exit 255; see ssh's message above)")
    if code != 0:
        print(f"mvpn: {host} refused {instance} {version}: apply.sh exited {code}",
              file=sys.stderr)
        return EXIT_ERRORS
    if outcome:
        before, after = outcome[-1]
        print(f"deployed {instance} to {host}: {before} -> {after}")
    return EXIT_OK


def register(sub: Subparsers) -> None:
    """Add ``deploy`` to the parser."""
    p = sub.add_parser("deploy", help="install an instance's hub bundle on its hub over ssh")
    p.add_argument("instance", help="the instance whose hub bundle is deployed")
    p.add_argument("--host", required=True, metavar="[USER@]HOST",
                   help="the hub, as ssh knows it (your ssh config, agent and jump hosts "
                        "apply; $MVPN_SSH replaces the ssh command)")
    p.add_argument("-o", "--output", default="build", metavar="BUILD",
                   help="the build (default: build)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate on the hub and print what would change")
    p.add_argument("--force", action="store_true",
                   help="apply even a bundle older than the one installed")
    p.add_argument("--rollback", action="store_true",
                   help="re-apply the bundle installed before the current one")
    p.set_defaults(func=cmd_deploy)
