# mvpn acme-us sites/chicago.rsc version f665a083fe90; generated, do not edit
# Site chicago-office -> hub acme-us.vpn.example.net over openvpn, RouterOS 7.16
# Safe to run again: first remove every object an earlier version of this script created
# (found by its comment tag), then create them afresh.
/ip route remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/ipv6 route remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/ip address remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/ipv6 address remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/interface wireguard peers remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/interface wireguard remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/interface ovpn-client remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/certificate remove [find where name~"^mvpn_acme-us_chicago(-ca)\?(\\.crt|\\.key)\?\$"]
/file remove [find where name~"^mvpn_acme-us_chicago(-ca)\?(\\.crt|\\.key)\?\$"]
/system script remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/ip dns static remove [find where comment~"^mvpn:acme-us/chicago( |\$)"]
/file add name="mvpn_acme-us_chicago-ca.crt" contents="-----BEGIN CERTIFICATE-----\nREDACTED openvpn CA certificate acme-us epoch 1 (build without MVPN_SECRET)\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-us_chicago.crt" contents="-----BEGIN CERTIFICATE-----\nREDACTED openvpn client certificate acme-us/chicago epoch 1 (instance epoch 1) (build without MVPN_SECRET)\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-us_chicago.key" contents="-----BEGIN PRIVATE KEY-----\nREDACTED openvpn client private key acme-us/chicago epoch 1 (instance epoch 1) (build without MVPN_SECRET)\n-----END PRIVATE KEY-----\n"
/certificate import file-name="mvpn_acme-us_chicago-ca.crt" name="mvpn_acme-us_chicago-ca" passphrase=""
/certificate import file-name="mvpn_acme-us_chicago.crt" name="mvpn_acme-us_chicago" passphrase=""
/certificate import file-name="mvpn_acme-us_chicago.key" name="mvpn_acme-us_chicago" passphrase=""
/file remove [find where name~"^mvpn_acme-us_chicago(-ca)\?(\\.crt|\\.key)\?\$"]
/interface ovpn-client add name="ovpn-acme-us" connect-to="acme-us.vpn.example.net" port=443 protocol=tcp mode=ip user="chicago" certificate="mvpn_acme-us_chicago" verify-server-certificate=yes cipher=aes256-gcm auth=sha256 add-default-route=no route-nopull=yes comment="mvpn:acme-us/chicago"
/ip route add dst-address=10.1.0.0/16 gateway="ovpn-acme-us" comment="mvpn:acme-us/chicago"
/ip dns static add name="us.corp.example" type=FWD forward-to=10.1.0.53 match-subdomain=yes comment="mvpn:acme-us/chicago"
# The config version, kept on the router: /system script print where name="mvpn_acme-us_chicago"
/system script add name="mvpn_acme-us_chicago" source=":return \"f665a083fe90\"" comment="mvpn:acme-us/chicago"
