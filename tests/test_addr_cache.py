"""``addr`` remembers what it printed (speed); a remembered value never lets a hostile one by."""

from __future__ import annotations

import ipaddress

import pytest

from compiler.render import env
from compiler.render.env import UnsafeValueError


def test_an_address_with_a_zone_id_is_refused_after_the_same_address_without_one() -> None:
    plain = ipaddress.ip_address("fd00:255::11")
    zoned = ipaddress.ip_address("fd00:255::11%x\nPreUp = touch PWNED #")
    assert env.addr(plain) == "fd00:255::11"
    for _ in range(2):  # a refusal is not remembered either
        with pytest.raises(UnsafeValueError, match="not an address or prefix"):
            env.addr(zoned)
    assert env.addr(plain) == "fd00:255::11"


def test_equal_values_of_other_types_print_their_own_text() -> None:
    net = ipaddress.ip_network("10.0.0.0/32")
    address = ipaddress.ip_address("10.0.0.0")
    interface = ipaddress.ip_interface("10.0.0.0/32")
    assert [env.addr(v) for v in (net, address, interface, net, address, interface)] == [
        "10.0.0.0/32", "10.0.0.0", "10.0.0.0/32", "10.0.0.0/32", "10.0.0.0", "10.0.0.0/32"]


def test_an_unhashable_value_is_checked_like_any_other() -> None:
    with pytest.raises(UnsafeValueError, match=r"not an address or prefix: \"\['10.0.0.1'\]\""):
        env.addr(["10.0.0.1"])
