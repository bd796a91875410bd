"""SPEC §9: a diagnostic on each of 10,000 lines of one file costs at most twice the clean file.

Two one-instance trees whose only site lists 10,000 subnets, one per line: in the clean tree
every subnet is a valid /28, in the other every one has host bits set (``prefix-invalid``, one
diagnostic per line, each printed with its quoted line, as a user sees them). Both are timed
as real ``mvpn check`` subprocesses; the figure is the ratio of the two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

LINES = 10_000
TARGET = 2.0

_INSTANCE = """hostname: acme-eu
region: fra
wireguard:
  network: 10.255.0.0/24
"""


def tree(work: Path, bad: bool, lines: int = LINES) -> Path:
    """The tree with ``lines`` subnets in one peer file (written once, then reused)."""
    root = work / f"diagnostics-{lines}-{'bad' if bad else 'clean'}"
    peer = root / "acme-eu" / "peers" / "berlin.yaml"
    if not peer.exists():
        peer.parent.mkdir(parents=True, exist_ok=True)
        (root / "acme-eu" / "instance.yaml").write_text(_INSTANCE, encoding="utf-8")
        subnets = []
        for i in range(lines):
            base = (10 << 24) + i * 16  # 10.0.0.0/28, 10.0.0.16/28, ... below 10.3.0.0
            addr = base + (1 if bad else 0)
            subnets.append(f"  - {addr >> 24}.{addr >> 16 & 255}.{addr >> 8 & 255}."
                           f"{addr & 255}/28\n")
        peer.write_text("type: site\nsite: berlin\naddress: 10.255.0.10\nsubnets:\n"
                        + "".join(subnets), encoding="utf-8")
    return root


def _time(root: Path, expect: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "compiler", "check", str(root)],
                          capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"bench: mvpn check {root} exited {proc.returncode}, not {expect}:\n"
                         f"{proc.stdout.decode()[-1000:]}{proc.stderr.decode()[-1000:]}")
    return elapsed


def measure(work: Path, repeat: int = 3) -> tuple[float, float]:
    """(clean seconds, seconds with a diagnostic on each line), best of ``repeat``."""
    clean, bad = tree(work, bad=False), tree(work, bad=True)
    os.sync()
    return (min(_time(clean, 0) for _ in range(repeat)),
            min(_time(bad, 1) for _ in range(repeat)))


def row(clean: float, bad: float) -> str:
    """The line ``make bench`` prints."""
    ratio = bad / clean
    label = f"{LINES:,} diagnostics in one file ÷ clean (≤ {TARGET})"
    return (f"{label:36}{ratio:>12.2f}{'*' if ratio > TARGET else ''}"
            f"   ({bad:.2f} s ÷ {clean:.2f} s)")
