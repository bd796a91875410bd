# mvpn acme-eu sites/berlin.uninstall.rsc version 6c310ac5d9b4; generated, do not edit
# Removes everything sites/berlin.rsc created on the router of site berlin-office: the objects
# tagged "mvpn:acme-eu/berlin", its certificates and its version record. The interface list
# "mvpn" stays (your firewall may refer to it; other mvpn tunnels may use it).
# Run it in safe mode (Ctrl-X) from a path other than this tunnel: /import file-name=berlin.uninstall.rsc
{
:local tag "^mvpn:acme-eu/berlin( |\$)"
:local failed false
:do {/ip route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: routes not removed"}
:do {/ipv6 route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: IPv6 routes not removed"}
:do {/ip dns static remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: DNS forwarders not removed"}
:do {/ip address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: tunnel address not removed"}
:do {/ipv6 address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: tunnel IPv6 address not removed"}
:do {/interface list member remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: interface list member not removed"}
:do {/interface wireguard peers remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: WireGuard peer not removed"}
:do {/interface wireguard remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: WireGuard interface not removed"}
:do {/interface ovpn-client remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: OpenVPN client not removed"}
:do {/certificate remove [find where name~"^mvpn_acme-eu_berlin_(ca_)\?[0-9a-f]{8}\$"]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: certificates not removed"}
:do {/system script remove [find where name="mvpn_acme-eu_berlin"]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: version record not removed"}
:if ($failed) do={:log error "mvpn acme-eu/berlin: not everything was removed (see above); run it again"} else={:log info "mvpn acme-eu/berlin: removed"}
}
