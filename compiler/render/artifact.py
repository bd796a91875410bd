"""An artifact rendered in memory, before anything touches the disk."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Artifact:
    """One output file, relative to its instance folder (``hub/wireguard/wg0.conf``).

    ``text`` still holds the version slot; ``build.versions`` fills it in.
    ``secret`` marks files with private key material (written 0600).
    """

    path: str
    text: str
    secret: bool
    family: str  # hub | sites | clients
