"""The text of a RouterOS site script and of the uninstaller it carries (SPEC §11).

:mod:`compiler.render.routeros` works out the objects and their values; this module lays
them out. It was two Jinja templates (``templates/routeros/site.rsc.j2`` and
``uninstall.rsc.j2``), and a build renders one script per site (80,000 at 100k peers): with
the templates a site's script took about 300 µs on the 10k benchmark tree (keys already
derived; a context per render, a macro call per error handler), with f-strings and the
filters' fast paths about 100 µs, for the same bytes (``tests/test_golden.py`` pins them).
It is now run once per instance and shape of site, with markers for the site's values
(:mod:`compiler.render.skeleton`), and each site's values are filled in.

The templates' rule holds here: every value is printed through a filter of
:mod:`compiler.render.env` (``rsc_str``, ``name``, ``host``, ``word``, ``line_text``), or is
a piece :mod:`compiler.render.routeros` built from such values (the parameters named in
:data:`ESCAPED`, and the fields of :class:`Site`, each made by its filter in
``routeros.site_values``); ``tests/test_rsctext.py`` audits every f-string of this module
and that construction for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple, Protocol

from compiler.render.context import InstanceView
from compiler.render.env import VERSION_SLOT, host, line_text, name, rsc_str, word

#: Parameters that hold text already escaped or checked by :mod:`compiler.render.routeros`
#: (``q_pem``: a certificate file's PEM as a RouterOS string literal).
ESCAPED: Final = frozenset({
    "uninstaller", "managed", "dns", "route_lines", "route_comment", "version_comment",
    "keep_v4", "keep_v6", "keep_dns", "keep_certs", "removals", "uninstaller_name", "q_pem",
})


class Site(NamedTuple):
    """One site's own values, each already through the filter of where it is printed.

    Everything a site script says about its site comes from here (the rest is the
    instance's), so ``routeros`` can lay a script out once per instance and shape with
    markers in place of these values and fill in each site's (see :data:`PLAIN`).
    """

    # What the layout branches on (with which values below are empty): the skeleton's key.
    protocol: str
    ipv6_note: bool  # an OpenVPN site of an instance or LAN with IPv6: the header says why not
    # Plain values (:data:`PLAIN`): printed as they are, also inside quoted strings and regexes.
    name: str  # name(): the peer
    site: str  # name()
    routeros: str  # word(): its version
    port: str  # num(): the WireGuard listen-port, "" for OpenVPN
    private_key: str  # the WireGuard keys (printed through rsc_str); "" for OpenVPN
    public_key: str  # hashed only (the hub knows the site by it)
    preshared_key: str
    hub_key: str
    hub_port: str  # num()
    epoch: str  # num(): the peer's key_epoch (hashed only)
    mtu: str  # num(), "" for the default
    address: str  # addr()
    address6: str  # addr(), "" for none
    user: str  # the OpenVPN user (a shortened name), "" for WireGuard
    cert_hash: str  # 8 hex digits of the site certificate (its name on the router)
    # Escaped text, printed as it is.
    description: str  # line_text(): its header comment line, "" for none
    cert_pem: str  # rsc_str(): the site certificate's PEM; "" for WireGuard
    key_pem: str  # rsc_str(): its private key's PEM
    route_lines: str  # the route lines (addresses checked)
    keep_v4: str  # the stale route removal's where clause (addresses checked)
    keep_v6: str
    #: What follows the hash in every comment: the description cut to fit and the closing
    #: quote (``rsc_str`` escapes character by character, so a comment is the quoted tag and
    #: hash without their closing quote, then this).
    comment_tail: str


#: The fields of :class:`Site` that are text of the script (plain, then escaped).
PLAIN_FIELDS: Final = Site._fields[2:Site._fields.index("description")]
ESCAPED_FIELDS: Final = Site._fields[Site._fields.index("description"):]


class Cert(Protocol):
    """A certificate the script imports (``routeros._Cert``)."""

    @property
    def name(self) -> str:
        """Its name on the router (carries its content hash)."""

    @property
    def files(self) -> list[tuple[str, str]]:
        """(extension, PEM as a RouterOS string literal) of each file imported into it."""

    @property
    def trusted(self) -> bool:
        """A CA (marked trusted), else the site's certificate with its key."""

    @property
    def what(self) -> str:
        """What the log names it."""


class _Fail:
    """The error handler of one step: ``on-error={... :log error "<label>: <what>"}``."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, what: str) -> str:
        return f"on-error={{:set failed true; :log error {rsc_str(f'{self.label}: {what}')}}}"


def _header(inst: InstanceView, v: Site, iface: str, iface_list: str,
           version_name: str) -> str:
    """The comment lines at the top of a site script."""
    inst_name, peer_name = name(inst.name), v.name
    out = [f"# mvpn {inst_name} sites/{peer_name}.rsc version {VERSION_SLOT}; "
           "generated, do not edit\n"
           f"# Site {v.site} -> hub {host(inst.fqdn)} over {word(v.protocol)}, "
           f"RouterOS {v.routeros}\n"]
    if v.ipv6_note:
        out.append(
            "# IPv4 only: RouterOS's OpenVPN client carries no IPv6 (/interface ovpn-client "
            "has no IPv6\n# setting in any version 7.9-7.24), so no IPv6 address or route is "
            "set here; this site's IPv6\n# goes through the tunnel only on a Linux router "
            f"(sites/{peer_name}.ovpn) or over WireGuard.\n")
    if v.description:
        out.append(f"# {v.description}\n")
    uninstall, list_name = line_text(f"{version_name}_uninstall"), name(iface_list)
    out.append(
        f'# Converges in place: objects tagged "mvpn:{inst_name}/{peer_name}" are added when '
        "missing and set\n# when their values changed; tagged objects no longer wanted are "
        "removed last, and only when\n# everything else was applied. Running it again "
        "changes nothing.\n# Run it in safe mode (Ctrl-X) from a path other than this "
        f"tunnel: /import file-name={peer_name}.rsc\n"
        f"# To remove everything it created: /system script run {uninstall}\n"
        f'# The tunnel interface {name(iface)} joins the interface list "{list_name}": '
        "allow that list in\n# your firewall (e.g. /ip firewall filter add chain=input "
        f"in-interface-list={list_name} action=accept).\n")
    return "".join(out)


def _certificate(c: Cert, label: str, fail: _Fail) -> str:
    """Import one certificate once, under its content-hashed name, then remove its files."""
    cert = rsc_str(c.name)
    trust = "trusted" if c.trusted else "private-key"
    out = [f"# The {line_text(c.what)}: imported once (under a name that carries its content "
           "hash) until complete.\n"
           f":do {{:if ([:len [/certificate find where name={cert} and {trust}]] = 0) do={{\n"
           "  # What a failed run may have left half imported goes first.\n"
           f"  /certificate remove [find where name={cert}]\n"]
    out.extend(f"  /file add name={rsc_str(f'{c.name}.{ext}')} contents={q_pem}\n"
               for ext, q_pem in c.files)
    out.append("  # Let the flash write settle before the import reads the file.\n  :delay 1s\n")
    out.extend(f"  /certificate import file-name={rsc_str(f'{c.name}.{ext}')} name={cert} "
               'passphrase=""\n' for ext, _q_pem in c.files)
    if c.trusted:
        out.append(f"  /certificate set [find where name={cert}] trusted=yes\n")
    not_imported = rsc_str(f"{label}: {c.what} not imported")
    files = rsc_str(f"^{c.name}\\.(crt|key)$")
    out.append(f"}}}} on-error={{:set failed true; :set certs false; :log error {not_imported}}}\n"
               "# No key file is left on the flash, even when the import failed.\n"
               f":do {{/file remove [find where name~{files}]}} "
               f"{fail(f'files {c.name}.* not removed')}\n")
    return "".join(out)


def site_script(
    inst: InstanceView, v: Site, *, label: str, iface: str, iface_list: str,
    tag_re: str, certs: Sequence[Cert], cert_re: str, uninstaller: str, uninstaller_source: str,
    managed: str, dns: str, route_lines: str, keep_v4: str, keep_v6: str, keep_dns: str,
    keep_certs: str, has_v6_address: bool, has_wg: bool, version_name: str,
    version_comment: str, route_comment: str,
) -> str:
    """The whole site script (what ``site.rsc.j2`` rendered, byte for byte)."""
    fail = _Fail(label)
    version, record = VERSION_SLOT, rsc_str(version_name)
    unsynced = rsc_str(f"{label}: the clock is not synchronised by NTP; "
                       "the tunnel needs the right time")
    no_ntp = rsc_str(f"{label}: cannot read the NTP client status; "
                     "the tunnel needs the right time")
    incomplete = rsc_str(f"{label}: not every object was applied; nothing removed, "
                         "version not recorded")
    out = [
        _header(inst, v, iface, iface_list, version_name),
        f"{{\n:local tag {rsc_str(tag_re)}\n:local failed false\n",
        ":local certs true\n" if certs else "",
        "# WireGuard handshakes and certificate checks need the right time (a hEX S has no "
        "RTC).\n"
        ':do {:if ([/system ntp client get status] != "synchronized") do={:log warning '
        f"{unsynced}}}}} on-error={{:log warning {no_ntp}}}\n"
        f":do {{:if ([:len [/interface list find where name={rsc_str(iface_list)}]] = 0) "
        f'do={{/interface list add name={rsc_str(iface_list)} comment="mvpn tunnels"}}}} '
        f"{fail(f'interface list {iface_list} not applied')}\n"
        "# The uninstaller, first (it removes what the steps below add): /system script run "
        f"{line_text(f'{version_name}_uninstall')}\n"
        f":local un {rsc_str(uninstaller_source)}\n",
        uninstaller,
        *(_certificate(c, label, fail) for c in certs),
        managed,
        f":local gw {rsc_str(iface)}\n:local rc {route_comment}\n"
        f":local rl {rsc_str(f'{label}: route not applied: ')}\n"
        "# Routes found by their tag and dst-address; those whose comment is stale (a new "
        "interface or\n# description) are set in place, missing ones added.\n"
        ":do {/ip route set [find where comment~$tag and comment!=$rc] gateway=$gw "
        f"comment=$rc}} {fail('routes not updated')}\n"
        ":do {/ipv6 route set [find where comment~$tag and comment!=$rc] gateway=$gw "
        f"comment=$rc}} {fail('IPv6 routes not updated')}\n",
        route_lines,
        dns,
        "# Make-before-break: what is no longer wanted goes last, and only when everything "
        "above worked.\n"
        f":if ($failed) do={{:log error {incomplete}}} else={{\n"
        f"  :do {{/ip route remove [find where {keep_v4}]}} {fail('old routes not removed')}\n"
        f"  :do {{/ipv6 route remove [find where {keep_v6}]}} "
        f"{fail('old IPv6 routes not removed')}\n"
        f"  :do {{/ip dns static remove [find where {keep_dns}]}} "
        f"{fail('old DNS forwarders not removed')}\n",
    ]
    if not has_v6_address:
        out.append("  :do {/ipv6 address remove [find where comment~$tag]} "
                   f"{fail('old IPv6 address not removed')}\n")
    if has_wg:
        out.append("  :do {/interface ovpn-client remove [find where comment~$tag]} "
                   f"{fail('old OpenVPN client not removed')}\n"
                   f"  :do {{/certificate remove [find where name~{rsc_str(cert_re)}]}} "
                   f"{fail('old certificates not removed')}\n")
    else:
        out.append("  :do {/interface wireguard peers remove [find where comment~$tag]} "
                   f"{fail('old WireGuard peer not removed')}\n"
                   "  :do {/interface wireguard remove [find where comment~$tag]} "
                   f"{fail('old WireGuard interface not removed')}\n"
                   f"  :do {{/certificate remove [find where name~{rsc_str(cert_re)} "
                   f"{keep_certs}]}} {fail('old certificates not removed')}\n")
    out.append(
        f"  # The version, recorded last: /system script print where name={record}\n"
        "  :if (!$failed) do={:do {\n"
        f"    :local id [/system script find where name={record}]\n"
        "    :if ([:len $id] = 0) do={\n"
        f'      /system script add name={record} source=":return \\"{version}\\"" '
        f"comment={version_comment}\n"
        "    } else={\n"
        f'      :if ([/system script get $id source] != ":return \\"{version}\\"") do={{\n'
        f'        /system script set $id source=":return \\"{version}\\"" '
        f"comment={version_comment}\n"
        "      }\n    }\n"
        f"  }} {fail('version not recorded')}}}\n}}\n}}\n")
    return "".join(out)


def uninstall_script(*, label: str, tag_re: str, removals: str, uninstaller_name: str) -> str:
    """The uninstaller's source (what ``uninstall.rsc.j2`` rendered, byte for byte)."""
    return (
        f"{{\n:local tag {rsc_str(tag_re)}\n:local failed false\n{removals}"
        ":if ($failed) do={:log error "
        f"{rsc_str(f'{label}: not everything was removed (see above); run it again')}"
        "} else={\n"
        f"  :log info {rsc_str(f'{label}: removed')}\n"
        f"  :do {{/system script remove [find where name={uninstaller_name}]}} "
        f"on-error={{:log error {rsc_str(f'{label}: uninstall script not removed')}}}\n"
        "}\n}\n")
