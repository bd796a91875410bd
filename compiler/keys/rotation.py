"""Which instance epochs a hub uses while its keys rotate in two steps (no flag day).

A bare ``key_epoch`` bump replaces the hub's WireGuard key, CA and server certificate at
once: every peer is cut off until it re-imports. The two-step rotation names the epoch
being retired (``retiring_key_epoch``) for a while:

* **step 1** (``key_epoch: N`` + ``retiring_key_epoch: O``): the hub keeps *serving*
  epoch O (its server certificate, its WireGuard key) and *trusts* the CAs of O and N;
  peers get profiles with both CAs and a certificate of CA N. Old profiles keep working,
  new ones work too;
* **step 2** (``retiring_key_epoch`` removed): the hub serves and trusts epoch N only.
  Profiles taken during step 1 keep working (they trust CA N, and CA N signed them).

WireGuard cannot overlap on one interface (it has exactly one private key): wg0's key is the
*serving* epoch's and changes at step 2. With ``wireguard.next_port`` a second interface, wg1,
has the *current* epoch's key during step 1, and peers move to it one by one
(``hub_key_epoch``); at step 2 wg0 takes that key and port, so they keep their artifacts
(see the README and ``InstanceView.wg_interfaces``).

Nothing here derives a key: the epochs are handed to :class:`~compiler.keys.KeyRing`,
whose labels stay those of each epoch, so no existing key changes.
"""

from __future__ import annotations

import dataclasses

from compiler.keys.derive import check_epoch


@dataclasses.dataclass(frozen=True, slots=True)
class HubEpochs:
    """An instance's ``key_epoch`` and, during step 1, the epoch it retires."""

    current: int
    retiring: int | None = None

    def __post_init__(self) -> None:
        check_epoch("instance", self.current)
        if self.retiring is not None:
            check_epoch("retiring instance", self.retiring)
            if self.retiring >= self.current:
                raise ValueError(f"retiring epoch {self.retiring} is not earlier than "
                                 f"epoch {self.current}")

    @property
    def overlap(self) -> bool:
        """Step 1 of a rotation: two CAs are trusted."""
        return self.retiring is not None

    @property
    def serving(self) -> int:
        """The epoch of what the hub presents: its server certificate and WireGuard key."""
        return self.current if self.retiring is None else self.retiring

    @property
    def signing(self) -> int:
        """The epoch whose CA signs the peers' certificates (always the current one)."""
        return self.current

    @property
    def trusted(self) -> tuple[int, ...]:
        """The epochs whose CAs (and CRLs) the hub and new profiles trust, oldest first."""
        return (self.current,) if self.retiring is None else (self.retiring, self.current)
