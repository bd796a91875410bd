# mvpn acme-eu sites/berlin.rsc version 11bfe2f6fb8a; generated, do not edit
# Site berlin-office -> hub acme-eu.vpn.example.net over wireguard, RouterOS 7.18
# Berlin "HQ" office, budget $5 [rack 2]
# Safe to run again: first remove every object an earlier version of this script created
# (found by its comment tag), then create them afresh.
/ip route remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/ipv6 route remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/ip address remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/ipv6 address remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/interface wireguard peers remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/interface wireguard remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/interface ovpn-client remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/certificate remove [find where name~"^mvpn_acme-eu_berlin(-ca)\?(\\.crt|\\.key)\?\$"]
/file remove [find where name~"^mvpn_acme-eu_berlin(-ca)\?(\\.crt|\\.key)\?\$"]
/system script remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/ip dns static remove [find where comment~"^mvpn:acme-eu/berlin( |\$)"]
/interface wireguard add name="wg-acme-eu" private-key="REDACTED-wireguard-peer-private-key.acme-eu.berlin.epoch-1" comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/interface wireguard peers add interface="wg-acme-eu" public-key="REDACTED-wireguard-hub-public-key.acme-eu.epoch-1" preshared-key="REDACTED-wireguard-preshared-key.acme-eu.berlin.epoch-1" endpoint-address="acme-eu.vpn.example.net" endpoint-port=51820 allowed-address=10.0.0.0/16,10.16.0.0/12,10.254.0.0/24,10.255.0.0/24,2001:db8:20::/48,fd00:255::/64 persistent-keepalive=25s comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/ip address add address=10.255.0.10/24 interface="wg-acme-eu" comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/ipv6 address add address=fd00:255::10/64 interface="wg-acme-eu" advertise=no comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/ip route add dst-address=10.0.0.0/16 gateway="wg-acme-eu" comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/ip route add dst-address=10.16.0.0/12 gateway="wg-acme-eu" comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/ip route add dst-address=10.254.0.0/24 gateway="wg-acme-eu" comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/ipv6 route add dst-address=2001:db8:20::/48 gateway="wg-acme-eu" comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
/ip dns static add name="corp.example" type=FWD forward-to=10.255.0.1 match-subdomain=yes comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
# The config version, kept on the router: /system script print where name="mvpn_acme-eu_berlin"
/system script add name="mvpn_acme-eu_berlin" source=":return \"11bfe2f6fb8a\"" comment="mvpn:acme-eu/berlin Berlin \"HQ\" office, budget \$5 [rack 2]"
