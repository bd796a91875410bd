# mvpn acme-eu sites/hamburg.uninstall.rsc version f61b8f55987d; generated, do not edit
# Removes everything sites/hamburg.rsc created on the router of site hamburg-office: the objects
# tagged "mvpn:acme-eu/hamburg", its certificates and its version record. The interface list
# "mvpn" stays (your firewall may refer to it; other mvpn tunnels may use it).
# Run it in safe mode (Ctrl-X) from a path other than this tunnel: /import file-name=hamburg.uninstall.rsc
{
:local tag "^mvpn:acme-eu/hamburg( |\$)"
:local failed false
:do {/ip route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: routes not removed"}
:do {/ipv6 route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: IPv6 routes not removed"}
:do {/ip dns static remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: DNS forwarders not removed"}
:do {/ip address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: tunnel address not removed"}
:do {/ipv6 address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: tunnel IPv6 address not removed"}
:do {/interface list member remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: interface list member not removed"}
:do {/interface wireguard peers remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: WireGuard peer not removed"}
:do {/interface wireguard remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: WireGuard interface not removed"}
:do {/interface ovpn-client remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: OpenVPN client not removed"}
:do {/certificate remove [find where name~"^mvpn_acme-eu_hamburg_(ca_)\?[0-9a-f]{8}\$"]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: certificates not removed"}
:do {/system script remove [find where name="mvpn_acme-eu_hamburg"]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: version record not removed"}
:if ($failed) do={:log error "mvpn acme-eu/hamburg: not everything was removed (see above); run it again"} else={:log info "mvpn acme-eu/hamburg: removed"}
}
