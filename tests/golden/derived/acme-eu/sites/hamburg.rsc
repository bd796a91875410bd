# mvpn acme-eu sites/hamburg.rsc version 4aab973508da; generated, do not edit
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
/file add name="mvpn_acme-eu_hamburg-ca.crt" contents="-----BEGIN CERTIFICATE-----\nMIIBfjCCASOgAwIBAgIUc2eFmNZAFAannJOLEvrdi0D3deowCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPbXZwbiBhY21lLWV1IENBMCAXDTI0MDEwMTAwMDAwMFoYDzIw\nOTkxMjMxMjM1OTU5WjAaMRgwFgYDVQQDDA9tdnBuIGFjbWUtZXUgQ0EwWTATBgcq\nhkjOPQIBBggqhkjOPQMBBwNCAAQrx2VXsaGxRGEzBNY+sraGYHJpt+0KkWC8R3nX\nBCBeLhm7LVDxSFP8dYJ5DBHWgWO99mwcHEQWfhftIWml8mslo0UwQzASBgNVHRMB\nAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQURFbhr0wnpIvT\ntEEKcFV+d09+d7QwCgYIKoZIzj0EAwIDSQAwRgIhAJcezDYW7EB23sC2FaO3LHCU\ne3zO8E4es6gkyXLA77utAiEAoa/wAJKGk4N0jSNgzCGFSNhhP9q+3GfcfJeQVSUy\nzmU=\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-eu_hamburg.crt" contents="-----BEGIN CERTIFICATE-----\nMIIBpTCCAUugAwIBAgIUZ5H8AvBWcrOuhuH5Y3I10bKB7FEwCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPbXZwbiBhY21lLWV1IENBMCAXDTI0MDEwMTAwMDAwMFoYDzIw\nOTkxMjMxMjM1OTU5WjASMRAwDgYDVQQDDAdoYW1idXJnMFkwEwYHKoZIzj0CAQYI\nKoZIzj0DAQcDQgAEV+AtSodMola9DXaeI7rrmhCBNJ0nwy7ckkArugiSrqteuAJr\nq1eqV/+Mi4xhy7kUQ/XCWMsADoTG7X4eAhu/3aN1MHMwDAYDVR0TAQH/BAIwADAO\nBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHwYDVR0jBBgwFoAU\nRFbhr0wnpIvTtEEKcFV+d09+d7QwHQYDVR0OBBYEFAejwAXeJm7LiGglc0HUtdSS\n5141MAoGCCqGSM49BAMCA0gAMEUCIFdyNHbrgLmOYSSCvpc0f6hQaLtXvAmP0iEL\nPJLQ3bI3AiEAgg9QweMDpBlVgTgggrxshZSUHVULGEli/VqdUswqLuo=\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-eu_hamburg.key" contents="-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOJKMGXq5UNGTdeRG\nY5MXl2Beg76RDlJW6x5iUKtfWIChRANCAARX4C1Kh0yiVr0Ndp4juuuaEIE0nSfD\nLtySQCu6CJKuq164AmurV6pX/4yLjGHLuRRD9cJYywAOhMbtfh4CG7/d\n-----END PRIVATE KEY-----\n"
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
/system script add name="mvpn_acme-eu_hamburg" source=":return \"4aab973508da\"" comment="mvpn:acme-eu/hamburg"
