"""The WireGuard text renderers (compiler/render/wgtext.py) print only filtered values.

They replaced templates for speed; the audit below holds them to the templates' rule
(``test_template_filters.py``): every value an f-string of the module prints, and every value
a function of it returns, is a filter of :mod:`compiler.render.env`, a constant, another
f-string of the module (audited itself), a call of one of its functions (whose returns are
audited), a join of such values, or a name assigned only such values. Their bytes are the
templates' ones: ``test_golden.py`` pins them.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from compiler.api import compile_tree
from compiler.render import wgtext
from tests.support.trees import INSTANCE, TEST_SECRET, build_file_tree, estate, site

#: The filters of compiler.render.env that wgtext uses (each refuses or escapes).
FILTERS = frozenset({"name", "line_text", "token", "addr", "num", "host", "addrs_text"})


def _safe(node: ast.expr, names: set[str], local: set[str]) -> bool:
    if isinstance(node, ast.Constant | ast.JoinedStr):  # f-strings are audited one by one
        return True
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.IfExp):
        return _safe(node.body, names, local) and _safe(node.orelse, names, local)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in FILTERS or node.func.id in local
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join" and isinstance(node.func.value, ast.Constant)
            and len(node.args) == 1 and isinstance(node.args[0], ast.ListComp)):
        return _safe(node.args[0].elt, names, local)  # "sep".join([filter(x) for x in ...])
    return False


def _assigned(tree: ast.Module) -> dict[str, list[ast.expr]]:
    """Every value each name is assigned (``a = b = v`` gives ``v`` to both)."""
    values: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        values.setdefault(name.id, []).append(node.value)
    return values


def unfiltered(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every printed or returned value that is not audited safe."""
    tree = ast.parse(source)
    local = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    values = _assigned(tree)
    names = {"VERSION_SLOT"}
    # A name is safe when all its values are; grow the set until nothing changes.
    while True:
        grown = names | {n for n, vs in values.items() if all(_safe(v, names, local) for v in vs)}
        if grown == names:
            break
        names = grown
    # An f-string that is a filter's argument is the filter's input, not output.
    inputs = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Name) and node.func.id in FILTERS
              for arg in node.args}
    printed = [value.value for node in ast.walk(tree)
               if isinstance(node, ast.JoinedStr) and id(node) not in inputs
               for value in node.values if isinstance(value, ast.FormattedValue)]
    returned = [node.value for node in ast.walk(tree)
                if isinstance(node, ast.Return) and node.value is not None]
    return sorted((expr.lineno, ast.unparse(expr)) for expr in printed + returned
                  if not _safe(expr, names, local))


def test_every_value_of_the_wireguard_text_is_filtered() -> None:
    assert unfiltered(Path(inspect.getfile(wgtext)).read_text(encoding="utf-8")) == []


def test_the_audit_flags_a_raw_value() -> None:
    source = ('def f(peer, text):\n'
              '    ok = name(peer.name)\n'
              '    raw = peer.name\n'
              '    both = name(peer.name) if peer else peer.name\n'
              '    joined = ", ".join([addr(n) for n in peer.subnets])\n'
              '    bare = ", ".join([str(n) for n in peer.subnets])\n'
              '    if text:\n'
              '        return text\n'
              '    return (f"{ok} {joined} {name(f\'{peer.name}\')} {peer.address}"\n'
              '            f"{raw} {both} {bare} {g(peer)} {f(peer, text)}")\n')
    assert unfiltered(source) == [(8, "text"), (9, "peer.address"), (10, "bare"), (10, "both"),
                                  (10, "g(peer)"), (10, "raw")]


# --- the paths the golden files do not take, pinned line for line ---------------------------


def _compile(tmp_path: Path, files: dict[str, object]) -> Path:
    root = build_file_tree(tmp_path / "tree", files)  # type: ignore[arg-type]
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False)
    assert result.check.ok, [d.message for d in result.check.diagnostics.sorted()]
    return tmp_path / "out" / "acme-eu"


def _body(out: Path, rel: str) -> list[str]:
    """The lines of ``rel`` without its header (version) and key lines."""
    lines = (out / rel).read_text(encoding="utf-8").splitlines()[1:]
    return [line for line in lines if not line.startswith(("PrivateKey", "PublicKey",
                                                           "PresharedKey"))]


def test_a_profile_with_split_dns_and_mtu_and_a_site_with_a_description(tmp_path: Path) -> None:
    dns = {"servers": ["10.0.0.53", "fd00::53"], "domains": ["corp.example"], "split": True,
           "records": {"intranet.other.example": "10.0.0.80"}}
    out = _compile(tmp_path, estate(**{
        "acme-eu__instance_DOT_yaml": {**INSTANCE, "dns": dns, "mtu": 1400},
        "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10", ["10.20.0.0/24"],
                                                description="Berlin HQ: 2nd floor", mtu=1380),
    }))
    assert _body(out, "clients/alice.conf") == [
        "# alice@example.com",
        "[Interface]",
        "Address = 10.255.0.11/32",
        "MTU = 1400",
        "# Split DNS: resolve corp.example, intranet.other.example with 10.255.0.1",
        "# (a WireGuard profile cannot say so; set it in your system's per-domain DNS settings).",
        "",
        "[Peer]",
        "# hub acme-eu.vpn.example.net",
        "Endpoint = acme-eu.vpn.example.net:51820",
        "AllowedIPs = 10.0.0.0/16, 10.20.0.0/24, 10.254.0.0/24, 10.255.0.0/24",
        "PersistentKeepalive = 25",
    ]
    assert _body(out, "sites/berlin.conf") == [
        "# Site berlin on a Linux router: wg-quick up ./berlin.conf",
        "# Berlin HQ: 2nd floor",
        "[Interface]",
        "Address = 10.255.0.10/24",
        "MTU = 1380",
        "# A site routes its LAN through the tunnel.",
        "PostUp = sysctl -q -w net.ipv4.ip_forward=1",
        "",
        "[Peer]",
        "# hub acme-eu.vpn.example.net",
        "Endpoint = acme-eu.vpn.example.net:51820",
        "AllowedIPs = 10.0.0.0/16, 10.254.0.0/24, 10.255.0.0/24",
        "PersistentKeepalive = 25",
    ]
    assert _body(out, "hub/wireguard/wg0.conf")[-8:] == [
        "",
        "# alice (client alice@example.com)",
        "[Peer]",
        "AllowedIPs = 10.255.0.11/32",
        "",
        "# berlin (site berlin): Berlin HQ: 2nd floor",
        "[Peer]",
        "AllowedIPs = 10.255.0.10/32, 10.20.0.0/24",
    ]


def test_a_profile_without_dns_servers_has_no_dns_line(tmp_path: Path) -> None:
    out = _compile(tmp_path, estate())
    assert _body(out, "clients/alice.conf")[:4] == [
        "# alice@example.com", "[Interface]", "Address = 10.255.0.11/32", ""]
