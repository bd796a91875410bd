"""The real programs that read mvpn's artifacts, run only to parse them (nothing is brought up).

Each function returns what the consumer itself made of a file, normalised so that two files
with the same directives compare equal whatever their comments say:

- ``wg_quick``: wg-quick's own ``parse_options`` (the real script, run by bash) through its
  documented "function override insertion point": ``strip`` prints the wg part as
  ``wg-quick strip`` does, plus every wg-quick-only key it parsed (Address, DNS, PreUp, ...).
- ``nft``: ``nft -f`` loads the ruleset in a throwaway network namespace (``unshare -n``,
  needs root) and ``nft -j list ruleset`` prints what the kernel holds.
- ``dnsmasq``: ``dnsmasq --test --conf-file=...`` (its own option parser) and the options read.
- ``openvpn``: ``openvpn --config X --verb 4 --askpass /dev/null`` parses the file, checks the
  options and prints every setting ("Current Parameter Settings"), then stops with a fatal
  error reading the (empty) pass file, before any socket or device is touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.tools import require, skip_or_fail

_OVERRIDE = "# ~~ function override insertion point ~~"
_DUMP = r"""
auto_su() { :; }
cmd_strip() {
	declare -p ADDRESSES MTU DNS DNS_SEARCH TABLE PRE_UP POST_UP PRE_DOWN POST_DOWN SAVE_CONFIG
	printf '%s' "$WG_CONFIG"
}
"""


def _run(argv: list[str], cwd: Path | None = None, ok: tuple[int, ...] = (0,)) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "LC_ALL": "C"})
    assert proc.returncode in ok, f"{argv[0]} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout + proc.stderr


def _wg_quick_dumper(workdir: Path) -> Path:
    script = Path(require("wg-quick")).read_text(encoding="utf-8")
    assert _OVERRIDE in script, "wg-quick has no function override insertion point"
    dumper = workdir / "wg-quick-dump"
    if not dumper.exists():
        dumper.write_text(script.replace(_OVERRIDE, _OVERRIDE + _DUMP), encoding="utf-8")
    return dumper


def wg_quick(path: Path, workdir: Path) -> list[str]:
    """The keys wg-quick parsed and the wg config it would hand to ``wg``, comments dropped."""
    dumper = _wg_quick_dumper(workdir)
    conf = workdir / "mvpn0.conf"  # wg-quick wants an interface name
    shutil.copyfile(path, conf)
    conf.chmod(0o600)
    out = _run([shutil.which("bash") or "/bin/bash", str(dumper), "strip", str(conf)])
    lines = [ln.split("#", 1)[0].strip() if not ln.startswith("declare ") else ln
             for ln in out.splitlines()]
    # Keys stay out of test output (even the fixed test secret's): equal keys compare equal.
    return [_PRIVATE.sub(r"\1<private key>", ln) for ln in lines if ln]


_PRIVATE = re.compile(r"^(PrivateKey\s*=\s*)\S+$", re.IGNORECASE)


def nft(paths: list[Path]) -> list[object]:
    """The ruleset the kernel holds after ``nft -f`` of each file (handles dropped)."""
    require("nft")
    unshare = require("unshare")
    if os.geteuid() != 0:
        skip_or_fail("nft -f in a network namespace needs root")
    script = 'for f; do nft -f "$f" || exit 9; nft -j list ruleset; echo; nft flush ruleset; done'
    out = _run([unshare, "-n", "sh", "-c", script, "sh", *map(str, paths)])
    return [_no_handles(json.loads(doc)["nftables"][1:]) for doc in out.split("\n") if doc.strip()]


def _no_handles(value: object) -> object:
    if isinstance(value, dict):
        return {k: _no_handles(v) for k, v in value.items() if k != "handle"}
    if isinstance(value, list):
        return [_no_handles(v) for v in value]
    return value


def dnsmasq(path: Path) -> list[str]:
    """``dnsmasq --test`` must accept the file; the options it holds (comments dropped)."""
    out = _run([require("dnsmasq"), "--test", f"--conf-file={path}"])
    assert "syntax check OK" in out, out
    text = path.read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


_STAMP = re.compile(r"^\S+ \S+ us=\d+ ")


def openvpn(path: Path, cwd: Path) -> list[str]:
    """Every setting OpenVPN parsed from ``path`` (run in ``cwd``), as it prints them."""
    out = _run([require("openvpn"), "--cd", str(cwd), "--config", str(path), "--verb", "4",
                "--askpass", "/dev/null"], ok=(1,))
    lines = [_STAMP.sub("", ln) for ln in out.splitlines()]
    assert "Current Parameter Settings:" in lines, out[-2000:]
    assert lines[-1] == "Exiting due to fatal error", out[-2000:]
    assert lines[-2] == "Error reading password from Private Key authfile: /dev/null", out[-2000:]
    start = lines.index("Current Parameter Settings:")
    end = next(i for i, ln in enumerate(lines) if ln.startswith("OpenVPN 2"))
    return [ln.replace(str(cwd), "<dir>") for ln in lines[start:end]]
