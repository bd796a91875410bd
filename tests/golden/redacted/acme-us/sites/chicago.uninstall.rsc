# mvpn acme-us sites/chicago.uninstall.rsc version 8b7c1cab9c86; generated, do not edit
# Removes everything sites/chicago.rsc created on the router of site chicago-office: the objects
# tagged "mvpn:acme-us/chicago", its certificates and its version record. The interface list
# "mvpn" stays (your firewall may refer to it; other mvpn tunnels may use it).
# Run it in safe mode (Ctrl-X) from a path other than this tunnel: /import file-name=chicago.uninstall.rsc
{
:local tag "^mvpn:acme-us/chicago( |\$)"
:local failed false
:do {/ip route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: routes not removed"}
:do {/ipv6 route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: IPv6 routes not removed"}
:do {/ip dns static remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: DNS forwarders not removed"}
:do {/ip address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: tunnel address not removed"}
:do {/ipv6 address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: tunnel IPv6 address not removed"}
:do {/interface list member remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: interface list member not removed"}
:do {/interface wireguard peers remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: WireGuard peer not removed"}
:do {/interface wireguard remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: WireGuard interface not removed"}
:do {/interface ovpn-client remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: OpenVPN client not removed"}
:do {/certificate remove [find where name~"^mvpn_acme-us_chicago_(ca_)\?[0-9a-f]{8}\$"]} on-error={:set failed true; :log error "mvpn acme-us/chicago: certificates not removed"}
:do {/system script remove [find where name="mvpn_acme-us_chicago"]} on-error={:set failed true; :log error "mvpn acme-us/chicago: version record not removed"}
:if ($failed) do={:log error "mvpn acme-us/chicago: not everything was removed (see above); run it again"} else={:log info "mvpn acme-us/chicago: removed"}
}
