# mvpn acme-eu sites/hamburg.rsc version aef0adc3ff5f; generated, do not edit
# Site hamburg-office -> hub acme-eu.vpn.example.net over openvpn, RouterOS 7.16
# Safe to run again: first remove every object an earlier version of this script created
# (found by its comment tag), then create them afresh.
/ip route remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/ipv6 route remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/ip address remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/ipv6 address remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/interface wireguard peers remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/interface wireguard remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/interface ovpn-client remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/certificate remove [find where name~"^mvpn_acme-eu_hamburg(-ca)\?(\\.crt|\\.key)\?\$"]
/file remove [find where name~"^mvpn_acme-eu_hamburg(-ca)\?(\\.crt|\\.key)\?\$"]
/system script remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/ip dns static remove [find where comment~"^mvpn:acme-eu/hamburg( |\$)"]
/file add name="mvpn_acme-eu_hamburg-ca.crt" contents="-----BEGIN CERTIFICATE-----\nREDACTED openvpn CA certificate acme-eu epoch 1 (build without MVPN_SECRET)\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-eu_hamburg.crt" contents="-----BEGIN CERTIFICATE-----\nREDACTED openvpn client certificate acme-eu/hamburg epoch 1 (instance epoch 1) (build without MVPN_SECRET)\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-eu_hamburg.key" contents="-----BEGIN PRIVATE KEY-----\nREDACTED openvpn client private key acme-eu/hamburg epoch 1 (instance epoch 1) (build without MVPN_SECRET)\n-----END PRIVATE KEY-----\n"
/certificate import file-name="mvpn_acme-eu_hamburg-ca.crt" name="mvpn_acme-eu_hamburg-ca" passphrase=""
/certificate import file-name="mvpn_acme-eu_hamburg.crt" name="mvpn_acme-eu_hamburg" passphrase=""
/certificate import file-name="mvpn_acme-eu_hamburg.key" name="mvpn_acme-eu_hamburg" passphrase=""
/file remove [find where name~"^mvpn_acme-eu_hamburg(-ca)\?(\\.crt|\\.key)\?\$"]
/interface ovpn-client add name="ovpn-acme-eu" connect-to="acme-eu.vpn.example.net" port=1194 protocol=udp mode=ip user="hamburg" certificate="mvpn_acme-eu_hamburg" verify-server-certificate=yes cipher=aes256-gcm auth=sha256 add-default-route=no route-nopull=yes comment="mvpn:acme-eu/hamburg"
/ip route add dst-address=10.0.0.0/16 gateway="ovpn-acme-eu" comment="mvpn:acme-eu/hamburg"
/ip route add dst-address=10.16.0.0/12 gateway="ovpn-acme-eu" comment="mvpn:acme-eu/hamburg"
/ip route add dst-address=10.255.0.0/24 gateway="ovpn-acme-eu" comment="mvpn:acme-eu/hamburg"
/ip dns static add name="corp.example" type=FWD forward-to=10.254.0.1 match-subdomain=yes comment="mvpn:acme-eu/hamburg"
# The config version, kept on the router: /system script print where name="mvpn_acme-eu_hamburg"
/system script add name="mvpn_acme-eu_hamburg" source=":return \"aef0adc3ff5f\"" comment="mvpn:acme-eu/hamburg"
