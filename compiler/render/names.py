"""Names that must fit device limits: interface names, OpenVPN user names, RouterOS comments.

Linux and RouterOS cap interface names at 15 characters (``IFNAMSIZ`` - 1), wg-quick takes
the interface name from the file name, RouterOS caps OpenVPN user names at 27 characters.
Names from the config tree may be longer (peers up to 32 characters, instances up to 63), so
the long ones are shortened here: deterministically (the same tree gives the same names) and
without collisions within an instance. Names that already fit are kept as they are, so the
artifacts of existing estates do not change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

IFNAME_MAX: Final = 15
OVPN_USER_MAX: Final = 27
#: Bytes a managed object's comment may take on the router (RouterOS stores it as bytes; we
#: stay well below anything a RouterOS version was seen to refuse).
COMMENT_MAX: Final = 255


def _digest(text: str, counter: int = 0) -> str:
    salt = f"#{counter}" if counter else ""
    return hashlib.sha256((text + salt).encode("utf-8")).hexdigest()


def shorten(name: str, limit: int, counter: int = 0) -> str:
    """``name`` if it fits ``limit``, else its head, ``-`` and 4 hex digits of its hash."""
    if len(name) <= limit and not counter:
        return name
    return f"{name[:limit - 5].rstrip('-')}-{_digest(name, counter)[:4]}"


def linux_ifnames(names: Iterable[str]) -> dict[str, str]:
    """Interface (and file) name of each peer's Linux site config, unique within the set.

    Short names are kept; a long one becomes ``head-hash``; should that collide with a
    name already taken (another peer's, or another short form), the hash is salted again.
    """
    ordered = sorted(set(names))
    taken = {n for n in ordered if len(n) <= IFNAME_MAX}
    out = {n: n for n in taken}
    for name in ordered:
        if name in out:
            continue
        counter = 0
        short = shorten(name, IFNAME_MAX)
        while short in taken:
            counter += 1
            short = shorten(name, IFNAME_MAX, counter)
        taken.add(short)
        out[name] = short
    return out


def routeros_ifname(protocol: str, instance: str) -> str:
    """The RouterOS tunnel interface of a site of ``instance`` (``wg-<inst>``/``ovpn-<inst>``).

    A hash keeps shortened names of different instances apart on one router.
    """
    prefix = "wg-" if protocol == "wireguard" else "ovpn-"
    name = prefix + instance
    if len(name) <= IFNAME_MAX:
        return name
    return prefix + shorten(instance, IFNAME_MAX - len(prefix))


def ovpn_user(peer: str) -> str:
    """The OpenVPN user name a RouterOS client sends (the hub ignores it; RouterOS caps it)."""
    return shorten(peer, OVPN_USER_MAX)


def listen_port(tag: str) -> int:
    """A fixed WireGuard listen port for a site tunnel, derived from its tag.

    Explicit, so it cannot move between runs; away from RouterOS's default 13231 and the
    usual 51820 that a router's own WireGuard server would take.
    """
    return 20000 + int(_digest(tag)[:8], 16) % 10000


def fit_comment(head: str, tail: str | None) -> str:
    """``head`` plus `` tail`` cut (on a character boundary) to :data:`COMMENT_MAX` bytes."""
    if not tail:
        return head
    room = COMMENT_MAX - len(head.encode("utf-8")) - 1
    cut = tail.encode("utf-8")[:max(room, 0)].decode("utf-8", "ignore")
    return f"{head} {cut}" if cut else head
