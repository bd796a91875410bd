"""``mvpn init DIR``: a new config repository, valid and ready for ``mvpn allocate``.

The tree holds one instance, one site and one client, every key commented; the peers
have no address yet, so the first thing a new user runs is ``mvpn allocate``. The JSON
Schemas go beside the tree and every file points its editor at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from compiler.diagnostics import UsageError
from compiler.repofiles import DEFAULT_ACTION, repo_files
from compiler.schema import write_schemas

_VPN: Final = """\
# yaml-language-server: $schema=../schemas/vpn.schema.json
# Organisation settings; every key has a default (see schemas/vpn.schema.json).
domain: vpn.example.net            # public zone: an instance is reached as <hostname>.<domain>
regions: [fra, lhr, iad, sjc, sin, syd]   # region ids instances may use
reserved_hostnames: []             # added to the built-in reserved names (www, api, vpn, ...)
reserved_prefixes: []              # ranges no site may advertise, e.g. [100.64.0.0/10]
policy:
  min_prefix_v4: 16                # a shorter IPv4 route needs allow_broad: true
  min_prefix_v6: 48
defaults:
  routeros: "7.16"                 # RouterOS version the site scripts target
  keepalive: 25                    # WireGuard persistent keepalive, seconds
"""

_INSTANCE: Final = """\
# yaml-language-server: $schema=../../schemas/instance.schema.json
# One hub; the folder name is the instance name.
hostname: frankfurt                # DNS label, 3-20 characters, unique in the tree
region: fra                        # one of vpn.yaml's regions
description: Frankfurt hub         # free text, one line (goes into artifact comments)
wireguard:                         # remove this block to disable WireGuard
  port: 51820
  network: 10.255.0.0/24           # tunnel network; the hub takes the first address
  # network6: fd00:255::/64        # optional IPv6 tunnel network
openvpn:                           # remove this block to disable OpenVPN
  port: 1194
  transport: udp                   # udp | tcp
  network: 10.254.0.0/24
routing:
  pushed_routes: [10.0.0.0/16]     # networks behind the hub, pushed to every peer
  egress: nat                      # nat | none: how route-all clients reach the internet
  # The address space the sites' LANs are numbered from: routers and clients route these
  # summaries, so adding a site changes only the hub and that site. The hub drops traffic
  # to the parts no site advertises.
  aggregates: [10.16.0.0/12]
  allow_broad: true                # an aggregate shorter than /16 (policy) is intended
dns:
  servers: [10.0.0.53]             # pushed to clients
  domains: [corp.example]
key_epoch: 1                       # bump to rotate the hub's keys
"""

_SITE: Final = """\
# yaml-language-server: $schema=../../../schemas/peer.schema.json
# A MikroTik branch router; the file name is the peer name.
# Its tunnel address is filled in by `mvpn allocate`.
type: site
site: main-office                  # SDX site id
description: Main office router
protocol: wireguard                # wireguard | openvpn
subnets: [10.20.0.0/24]            # LANs behind the router (inside the aggregates)
allow_broad: false                 # true to advertise a route shorter than policy allows
key_epoch: 1                       # bump to rotate this router's keys
"""

_CLIENT: Final = """\
# yaml-language-server: $schema=../../../schemas/peer.schema.json
# One user's device; `mvpn allocate` fills in its tunnel address.
type: client
user: alice@example.com
description: Alice's laptop
protocol: wireguard                # wireguard | openvpn
route_all: false                   # true: all traffic through the hub
key_epoch: 1
"""

_TESTS: Final = """\
# yaml-language-server: $schema=../schemas/tests.schema.json
# Reachability assertions, proven by `mvpn check` on the model (routes, access lists,
# firewall rules). Ask why with: mvpn check --explain frankfurt/alice 10.20.0.5 443/tcp
- {from: frankfurt/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}   # laptop -> office LAN
- {from: frankfurt/alice, to: 192.0.2.1, expect: deny}   # split tunnel: not through the hub
"""

_README: Final = """\
# VPN estate

The whole VPN estate as YAML, checked and compiled by `mvpn`:

```sh
mvpn allocate     # give new peers their tunnel addresses
mvpn check        # schema, hostnames, routes, addresses
mvpn compile      # artifacts into build/ (set MVPN_SECRET for real keys)
```

Pull requests are checked and planned by `.github/workflows/pull-request.yml`; `main` is
compiled with the `MVPN_SECRET` repository secret by `.github/workflows/main.yml`
(`mvpn secret new org-secret.b64` makes one). `pre-commit install` checks every commit.
"""

#: Path (relative to DIR) → content of every file ``init`` writes besides the schemas.
FILES: Final[dict[str, str]] = {
    "README.md": _README,
    "sites/vpn.yaml": _VPN,
    "sites/tests.yaml": _TESTS,
    "sites/frankfurt/instance.yaml": _INSTANCE,
    "sites/frankfurt/peers/main-office.yaml": _SITE,
    "sites/frankfurt/peers/alice.yaml": _CLIENT,
}


def init_repo(directory: Path, action: str = DEFAULT_ACTION) -> list[Path]:
    """Create ``directory`` with an example tree and its repository files.

    ``directory`` may be absent, empty or hold only ``.git`` (right after ``git init``).
    ``action`` (OWNER/REPO) is where the workflows and pre-commit take mvpn from.
    Returns the files written; a refused call writes nothing.
    """
    extra = repo_files(action)  # validates ``action`` before anything is written
    if directory.exists() and (not directory.is_dir() or any(
            p.name != ".git" for p in directory.iterdir())):
        raise UsageError(f"'{directory}' already exists and holds more than .git; "
                         "init needs an absent or empty folder")
    written = write_schemas(directory / "schemas")
    for rel, text in {**FILES, **extra}.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return sorted(written)
