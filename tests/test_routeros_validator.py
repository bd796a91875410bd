"""Tests for the RouterOS script tokenizer/validator used to check generated .rsc files."""

from __future__ import annotations

import time

import pytest

from compiler.routeros import Problem, RouterOSTree, RscSyntaxError, compact, tokenize
from compiler.routeros import validate as validate_problems
from tests.support.routeros import validate

SITE_SCRIPT = r"""# a hand-written site script
:local tag "mvpn:acme-eu/berlin"
/interface wireguard
:foreach i in=[find where comment~"^mvpn:acme-eu/berlin"] do={ remove $i }
add name=wg-acme-eu listen-port=13231 private-key="aGVsbG8=" comment="mvpn:acme-eu/berlin v=3f2a9c1e0b7d"
/interface wireguard peers
add interface=wg-acme-eu public-key="abc=" endpoint-address=acme-eu.vpn.example.net endpoint-port=51820 allowed-address=10.255.0.0/24,10.0.0.0/16 persistent-keepalive=25s comment="mvpn:acme-eu/berlin"
/ip address add address=10.255.0.10/24 interface=wg-acme-eu comment="mvpn:acme-eu/berlin"
/ip route add dst-address=10.30.0.0/24 gateway=wg-acme-eu comment="mvpn:acme-eu/berlin"
/system script add name="mvpn-version" source=":return \"3f2a9c1e0b7d\"" comment="mvpn:acme-eu/berlin"
"""


def problems(script: str) -> list[str]:
    return validate(script)


def test_realistic_site_script_is_valid() -> None:
    assert validate(SITE_SCRIPT) == []


def test_tokenize_resolves_menus_and_nesting() -> None:
    cmds = tokenize(SITE_SCRIPT)
    assert [(c.line, c.path, c.word) for c in cmds] == [
        (2, [], "local"),
        (4, [], "foreach"),
        (5, ["interface", "wireguard"], "add"),
        (7, ["interface", "wireguard", "peers"], "add"),
        (8, ["ip", "address"], "add"),
        (9, ["ip", "route"], "add"),
        (10, ["system", "script"], "add"),
    ]
    local, foreach = cmds[0], cmds[1]
    assert local.colon and local.positionals == ["tag", "mvpn:acme-eu/berlin"]
    assert local.positionals_raw[1] == '"mvpn:acme-eu/berlin"'
    find, remove = foreach.children
    assert (find.path, find.word) == (["interface", "wireguard"], "find")
    assert find.where == 'comment~"^mvpn:acme-eu/berlin"'
    assert find.where_props == ["comment"]
    assert (remove.path, remove.word, remove.positionals) == (
        ["interface", "wireguard"], "remove", ["$i"])
    in_arg = foreach.args[0]
    assert (in_arg.name, in_arg.literal) == ("in", False)
    script = cmds[-1]
    name, value, raw = script.args[1]
    assert (name, value, raw) == ("source", ':return "3f2a9c1e0b7d"', r'":return \"3f2a9c1e0b7d\""')
    assert script.args[1].literal


def test_slash_paths_relative_paths_and_block_scoping() -> None:
    cmds = tokenize(
        "/interface/wireguard/peers/add interface=wg0 public-key=\"k\"\n"
        "/ip\n"
        "address print\n"
        "{ /interface wireguard; print }\n"
        "route print\n"
        "/user active { :foreach u in=[find] do={ :put [get $u name] } }\n"
    )
    flat = [(c.line, c.path, c.word) for top in cmds for c in top.walk()]
    assert flat == [
        (1, ["interface", "wireguard", "peers"], "add"),
        (3, ["ip", "address"], "print"),
        (4, ["ip"], ""),  # a bare block runs in the current menu
        (4, ["interface", "wireguard"], "print"),
        (5, ["ip", "route"], "print"),  # the menu set inside the block did not leak out
        (6, ["user", "active"], ""),
        (6, [], "foreach"),
        (6, ["user", "active"], "find"),
        (6, [], "put"),
        (6, ["user", "active"], "get"),
    ]


def test_line_continuation_outside_and_inside_strings() -> None:
    script = (
        "/ip address add address=10.0.0.1/24 \\\n"
        "    interface=ether1 comment=\"first \\\n"
        "    second\"\n"
        ":put \"next\"\n"
    )
    cmds = tokenize(script)
    assert [(c.line, c.word) for c in cmds] == [(1, "add"), (4, "put")]
    assert [a.name for a in cmds[0].args] == ["address", "interface", "comment"]
    assert cmds[0].args[2].value == "first second"
    assert validate(script) == []


def test_comments_and_separators() -> None:
    cmds = tokenize("# comment ; :put 1\n:put 1; :put 2\n  # indented comment\n")
    assert [(c.line, c.positionals) for c in cmds] == [(2, ["1"]), (2, ["2"])]
    with pytest.raises(RscSyntaxError) as exc:
        tokenize("# a comment \\\n:put 1\n")
    assert exc.value.line == 1


def test_string_escapes_are_decoded() -> None:
    (cmd,) = tokenize(r':put "q\"b\\d\$n\nr\rt\ts\_a\ab\bf\fv\v?\?h\48\49"')
    assert cmd.positionals == ['q"b\\d$n\nr\rt\ts a\ab\bf\fv\v??hHI']
    assert cmd.interpolations == []


@pytest.mark.parametrize(
    ("script", "line", "message"),
    [
        (':put "abc', 1, "unterminated string"),
        (':put 1\n/ip address add comment="x\n:put 2', 2, "unterminated string"),
        (":put 1\n:put [/interface find", 2, "unterminated '['"),
        (":if (true) do={\n  :put 1\n", 1, "unterminated '{'"),
        (":put (1 + 2", 1, "unterminated '('"),
        (":put 1]", 1, "unexpected ']'"),
        (r':put "bad \q escape"', 1, "invalid escape"),
        (r':put "lowercase hex \4a"', 1, "invalid escape"),
        (":put a\\b", 1, "backslash outside a string"),
        (":put $", 1, "'$' not followed by a variable name"),
    ],
)
def test_syntax_errors_raise_with_line(script: str, line: int, message: str) -> None:
    with pytest.raises(RscSyntaxError) as exc:
        tokenize(script)
    assert exc.value.line == line
    assert message in str(exc.value)
    assert validate(script) == [str(exc.value)]


def test_interpolation_is_recorded() -> None:
    (cmd,) = tokenize(
        '/interface wireguard add name=wg0 comment="mvpn:$site $[/system identity get name]'
        ' $(1+1)" private-key="literal \\$notvar"'
    )
    assert [(i.arg, i.expr) for i in cmd.interpolations] == [
        ("comment", "$site"),
        ("comment", "$[/system identity get name]"),
        ("comment", "$(1+1)"),
    ]
    comment, key = cmd.args[1], cmd.args[2]
    assert not comment.literal
    assert key.literal and key.value == "literal $notvar"
    assert [(c.path, c.word) for c in cmd.children] == [(["system", "identity"], "get")]


def test_user_data_string_without_interpolation() -> None:
    (cmd,) = tokenize(r'/ip address add comment="costs \$5 \"quoted\""')
    assert cmd.interpolations == []
    assert cmd.args[0].value == 'costs $5 "quoted"'


def test_control_flow_constructs() -> None:
    script = """
:global mvpnVersion "3f2a"
:local arr {1;2;"three"}
:if ([:len [/interface wireguard find where name="wg0" && !disabled]] = 0) do={
  :log info "creating wg0"
} else={ :put "present" }
:do { /interface wireguard remove [find comment="mvpn"] } on-error={ :log warning "failed" }
:onerror e in={ :error "boom" } do={ :put $e }
/interface wireguard
:foreach i in=[find] do={ :put [get $i comment] }
set [find name=wg0] comment="x" mtu=1420
"""
    assert validate(script) == []
    words = [c.word for top in tokenize(script) for c in top.walk()]
    assert words == [
        "global", "local", "if", "len", "find", "info", "put", "do", "remove", "find",
        "warning", "onerror", "error", "put", "foreach", "find", "put", "get", "set", "find",
    ]


def test_unknown_menu() -> None:
    msgs = problems("/interfcae wireguard add name=wg0")
    assert msgs == [
        "line 1: unknown menu or command 'interfcae' in / (did you mean 'interface'?)"
    ]


def test_unknown_command() -> None:
    msgs = problems("/interface wireguard\nadd name=wg0\nrmove [find]\n")
    assert len(msgs) == 1
    assert msgs[0].startswith("line 3: unknown menu or command 'rmove' in /interface/wireguard")
    assert "did you mean 'remove'" in msgs[0]


def test_global_command_needs_colon_outside_root() -> None:
    msgs = problems("/interface wireguard\nput 1\n")
    assert msgs == [
        "line 2: unknown menu or command 'put' in /interface/wireguard"
        " (global command: write ':put')"
    ]


def test_unknown_argument() -> None:
    msgs = problems(
        "/interface wireguard peers add interface=wg0 public-key=\"k\" keepalive=25s"
    )
    assert len(msgs) == 1
    assert "unknown argument 'keepalive' for /interface/wireguard/peers add" in msgs[0]


def test_unknown_argument_in_nested_command() -> None:
    msgs = problems(':foreach i in=[/ip route find dst=10.0.0.0/8] do={ :put $i }')
    assert msgs == [
        "line 1: unknown argument 'dst' for /ip/route find (did you mean 'dst-address'?)"
    ]


def test_unknown_property_in_where_and_get() -> None:
    msgs = problems(
        "/interface wireguard\n"
        ':foreach i in=[find where comment~"x" and !running and bogus="y"] do={\n'
        "  :put [get $i listen-port]; :put [get $i no-such-prop]\n"
        "}\n"
    )
    assert len(msgs) == 2
    assert msgs[0].startswith("line 2: unknown property 'bogus' of /interface/wireguard")
    assert msgs[1].startswith("line 3: unknown property 'no-such-prop' of /interface/wireguard")


def test_bad_enum_value() -> None:
    msgs = problems("/ip dns static add name=corp.example type=fwd forward-to=10.0.0.53")
    assert len(msgs) == 1
    assert "bad value type='fwd' for /ip/dns/static add" in msgs[0]
    assert "FWD" in msgs[0]
    assert problems("/interface wireguard peers add interface=wg0 public-key=\"k\" disabled=maybe")


def test_enum_values_from_variables_are_not_checked() -> None:
    assert problems(':local t "FWD"\n/ip dns static add name=x type=$t') == []
    assert problems('/ip dns static add name=x type=[:tostr "FWD"]') == []


@pytest.mark.parametrize(
    "script",
    [
        # user-named chains and interface lists are not enums even though completions list some
        "/ip firewall filter add chain=mvpn-in action=jump jump-target=mvpn-wg",
        "/interface list member add list=MVPN interface=wg0",
        # keyword-or-scalar args, negation, lists and kw:value forms
        "/ip firewall filter add chain=input protocol=17 dst-port=51820 action=accept",
        "/ip firewall filter add chain=input connection-state=!invalid,established action=drop",
        "/ip firewall filter add chain=input ttl=equal:64 address-list-timeout=1d action=accept",
        "/interface wireguard add name=wg0 mtu=1420",
        "/interface ovpn-client add name=ovpn-x connect-to=vpn.example.net profile=mvpn-prof"
        " certificate=client.crt_0",
    ],
)
def test_enum_rule_accepts_open_values(script: str) -> None:
    assert problems(script) == []


def test_embedded_system_script_source_is_validated() -> None:
    msgs = problems(r'/system script add name=x source=":retrun \"v\""')
    assert len(msgs) == 1
    assert msgs[0].startswith("line 1: in source= script: line 1: unknown menu or command 'retrun'")


@pytest.mark.parametrize(
    "line",
    [
        "/interface ovpn-client add name=ovpn-acme connect-to=vpn.example.net port=1194 mode=ip"
        " protocol=udp user=site password=\"x\" certificate=none auth=sha256 cipher=aes256-gcm"
        " tls-version=only-1.2 verify-server-certificate=yes add-default-route=no comment=\"m\"",
        "/certificate import file-name=mvpn-ca.pem passphrase=\"\" name=mvpn-ca trusted=yes",
        '/file add name=mvpn/ca.pem contents="-----BEGIN CERTIFICATE-----\\n"',
        "/ipv6 address add address=fd00:255::10/64 interface=wg0 advertise=no comment=\"m\"",
        "/ipv6 route add dst-address=fd00:30::/48 gateway=wg0 comment=\"m\"",
        "/ip dns static add name=corp.example type=FWD forward-to=10.0.0.53"
        " match-subdomain=yes comment=\"m\"",
        "/interface wireguard peers add name=hq interface=wg0 public-key=\"k\""
        " client-address=10.255.0.10/32 responder=no",
        "/interface list add name=MVPN comment=\"m\"",
        "/ip firewall filter add chain=input action=accept protocol=udp dst-port=13231"
        " in-interface-list=!LAN log=no comment=\"m\"",
        '/system note set note="mvpn v=3f2a9c1e0b7d" show-at-login=no',
    ],
)
def test_commands_the_generator_relies_on_exist(line: str) -> None:
    assert problems(line) == []


def test_validation_is_fast() -> None:
    RouterOSTree.load()
    validate(SITE_SCRIPT)  # warm the enum cache
    body = "\n".join(SITE_SCRIPT.splitlines()[1:10])
    script = "\n".join([body] * 12)  # ~100 lines
    assert len(script.splitlines()) >= 100
    start = time.perf_counter()
    assert validate(script) == []
    assert time.perf_counter() - start < 0.1


def test_tree_is_cached() -> None:
    assert RouterOSTree.load("7.24") is RouterOSTree.load("7.24")
    tree = RouterOSTree.load()
    assert tree.is_dir(["interface", "wireguard", "peers"])
    assert not tree.is_dir(["interface", "wireguard", "add"])
    assert "persistent-keepalive" in (tree.command_args(["interface", "wireguard", "peers"], "add")
                                      or ())


# --- per-version validity: what a version lacks, and which version has it ----------------

def test_an_argument_added_later_names_the_first_version() -> None:
    script = ('/interface wireguard peers add interface=wg0 public-key="k"'
              " client-address=10.0.0.2/32")
    assert validate_problems(script, "7.11") == [Problem(
        1, "RouterOS 7.11 has no argument 'client-address' for /interface/wireguard/peers add"
        " (first in 7.12)", "unsupported", since="7.12")]
    assert validate_problems(script, "7.12") == []
    assert validate_problems(script, "7.12.1") == []  # a patch release: its minor's tree


def test_an_argument_removed_later_names_the_last_version() -> None:
    script = "/ip route add dst-address=10.1.0.0/24 gateway=wg0 suppress-hw-offload=yes"
    assert validate_problems(script, "7.20") == []
    assert validate_problems(script, "7.21") == [Problem(
        1, "RouterOS 7.21 has no argument 'suppress-hw-offload' for /ip/route add"
        " (last in 7.20)", "unsupported", until="7.20")]


def test_a_global_command_and_a_menu_added_later() -> None:
    script = ":onerror e in={ :put 1 } do={ :put $e }\n/interface wifi security add name=x\n"
    assert [(p.line, p.message, p.since) for p in validate_problems(script, "7.12")] == [
        (1, "RouterOS 7.12 has no command :onerror (first in 7.13)", "7.13"),
        (2, "RouterOS 7.12 has no menu /interface/wifi (first in 7.13)", "7.13"),
    ]
    assert validate_problems(script, "7.13") == []


def test_a_property_added_later_in_where_and_find() -> None:
    script = ('/interface wireguard peers remove [find where name="hq"]\n'
              '/interface wireguard peers remove [find name="hq"]\n')
    missing = ("RouterOS 7.14 has no property 'name' of /interface/wireguard/peers"
               " (first in 7.15)")
    assert [str(p) for p in validate_problems(script, "7.14")] == [
        f"line 1: {missing}", f"line 2: {missing}"]
    assert validate_problems(script, "7.15") == []


def test_what_no_version_has_is_unknown_not_unsupported() -> None:
    (problem,) = validate_problems("/interface wireguard add nmae=wg0", "7.9")
    assert problem.kind == "unknown" and problem.since is None
    assert problem.message.startswith("unknown argument 'nmae' for /interface/wireguard add")


def test_compact_drops_repeated_route_lines_but_finds_the_same_problems() -> None:
    routes = "".join(f'/ip route add dst-address=10.{i}.0.0/16 gateway="wg0"'
                     f" suppress-hw-offload=no\n" for i in range(50))
    routes6 = "".join(f'/ipv6 route add dst-address=2001:db8:{i:x}::/48 gateway="wg0"\n'
                      for i in range(20))
    script = (":local x 1\n" + routes + ':if ($x = 1) do={\n' + routes + "}\n" + routes6
              + "/ip route add dst-address=10.9.0.0/16 gateway=wg0 suppress-hw-offload=no\n")
    short = compact(script)
    assert short.splitlines() == [
        ":local x 1", routes.splitlines()[0], ":if ($x = 1) do={", routes.splitlines()[0], "}",
        routes6.splitlines()[0], "/ip route add dst-address=10.9.0.0/16 gateway=wg0"
        " suppress-hw-offload=no"]
    full = {p.message for p in validate_problems(script, "7.24")}
    assert full == {p.message for p in validate_problems(short, "7.24")}
    assert len(full) == 1


def test_compact_drops_repeated_converging_lines_never_parts_of_a_statement() -> None:
    def converge(net: str) -> str:
        return (f":do {{:if ([:len [/ip route find where dst-address={net}]] = 0) do={{"
                f"/ip route add dst-address={net} gateway=wg0}}}} on-error={{:log error"
                f' ("not applied: " . "{net}")}}')
    lines = [converge(f"10.{i}.0.0/16") for i in range(30)]
    continued = ["/ip route add \\", "    dst-address=10.1.0.0/16 gateway=wg0",
                 "/ip route add \\", "    dst-address=10.2.0.0/16 gateway=wg0",
                 "    dst-address=10.3.0.0/16 gateway=wg0"]
    script = "\n".join([*lines, *continued])
    assert compact(script).splitlines() == [lines[0], *continued]
    # the stray argument line (not a continuation) is kept, so it is still found
    assert [str(p) for p in validate_problems(compact(script), "7.9")] == [
        "line 6: missing command name in /"]


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"RouterOS 7\.25 is not in mvpn's data"):
        validate_problems("/ip route print", "7.25")


def test_a_generated_script_without_a_version_must_be_valid_on_every_version() -> None:
    removed = "/ip route add dst-address=10.1.0.0/24 gateway=wg0 suppress-hw-offload=yes\n"
    assert validate("# a snippet\n" + removed) == [  # a snippet: checked on 7.24
        "line 2: RouterOS 7.24 has no argument 'suppress-hw-offload' for /ip/route add"
        " (last in 7.20)"]
    generated = "# mvpn acme-eu sites/x.uninstall.rsc version 0\n" + removed
    assert validate(generated) == [
        f"line 2: RouterOS {v} has no argument 'suppress-hw-offload' for /ip/route add"
        " (last in 7.20)" for v in ("7.21.5", "7.22.3", "7.23.3", "7.24")]
    assert validate(generated.replace("version 0", "version 0, RouterOS 7.20")) == []
