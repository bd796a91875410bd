# mvpn acme-us sites/chicago.rsc version a7e881063dfb; generated, do not edit
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
/file add name="mvpn_acme-us_chicago-ca.crt" contents="-----BEGIN CERTIFICATE-----\nMIIBfDCCASOgAwIBAgIUYIUgcUUaTwdbbsr4ygJJkaT2AHcwCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPbXZwbiBhY21lLXVzIENBMCAXDTI0MDEwMTAwMDAwMFoYDzIw\nOTkxMjMxMjM1OTU5WjAaMRgwFgYDVQQDDA9tdnBuIGFjbWUtdXMgQ0EwWTATBgcq\nhkjOPQIBBggqhkjOPQMBBwNCAARH0vgjwROyBTXzdHQFoVmVtjPZUGKv763tegO4\nxXWIDFb7Q6DAQrcgAnEcJJOOGBan3xpLCjk6v69Gkuph+uRVo0UwQzASBgNVHRMB\nAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQU0l0p6UFvbR/Z\nF+rjWTwcPo5XnHgwCgYIKoZIzj0EAwIDRwAwRAIgHjNy+0nWNrrR3gChgSxWsRv2\nmx3h2lHtXj1i8gbGa3cCIGwDqzIhEp+JgstE3QoIDU+bWn51El5FLlT2umn493F2\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-us_chicago.crt" contents="-----BEGIN CERTIFICATE-----\nMIIBpjCCAUugAwIBAgIUd2lpHcRforWnz/IYJLhFW8y7LJQwCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPbXZwbiBhY21lLXVzIENBMCAXDTI0MDEwMTAwMDAwMFoYDzIw\nOTkxMjMxMjM1OTU5WjASMRAwDgYDVQQDDAdjaGljYWdvMFkwEwYHKoZIzj0CAQYI\nKoZIzj0DAQcDQgAE1rZiN4/0bD/wfxy72plKfKDzeViQsLahUOaoUXmVUUbHMhuc\nc2Hj8Eckoh8h1apbM06VmfpUvHqOrMcB94J2nqN1MHMwDAYDVR0TAQH/BAIwADAO\nBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHwYDVR0jBBgwFoAU\n0l0p6UFvbR/ZF+rjWTwcPo5XnHgwHQYDVR0OBBYEFJSRGKEsa38/nZEc1T8hfWwq\nyBfFMAoGCCqGSM49BAMCA0kAMEYCIQCemdVF/FDq2Smxp+sR+xdjoAoWa4iN4/F5\nYU2BtMUcKgIhAKrOt7QM/C4A1bji55qjwThxhKKcDd6PH7zBzi7L8LFM\n-----END CERTIFICATE-----\n"
/file add name="mvpn_acme-us_chicago.key" contents="-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrV247aXMorX9r952\nQEEf9Lf7jtCiJVrd0qrbPmghrQmhRANCAATWtmI3j/RsP/B/HLvamUp8oPN5WJCw\ntqFQ5qhReZVRRscyG5xzYePwRySiHyHVqlszTpWZ+lS8eo6sxwH3gnae\n-----END PRIVATE KEY-----\n"
/certificate import file-name="mvpn_acme-us_chicago-ca.crt" name="mvpn_acme-us_chicago-ca" passphrase=""
/certificate import file-name="mvpn_acme-us_chicago.crt" name="mvpn_acme-us_chicago" passphrase=""
/certificate import file-name="mvpn_acme-us_chicago.key" name="mvpn_acme-us_chicago" passphrase=""
/file remove [find where name~"^mvpn_acme-us_chicago(-ca)\?(\\.crt|\\.key)\?\$"]
/interface ovpn-client add name="ovpn-acme-us" connect-to="acme-us.vpn.example.net" port=443 protocol=tcp mode=ip user="chicago" certificate="mvpn_acme-us_chicago" verify-server-certificate=yes cipher=aes256-gcm auth=sha256 add-default-route=no route-nopull=yes comment="mvpn:acme-us/chicago"
/ip route add dst-address=10.1.0.0/16 gateway="ovpn-acme-us" comment="mvpn:acme-us/chicago"
/ip dns static add name="us.corp.example" type=FWD forward-to=10.1.0.53 match-subdomain=yes comment="mvpn:acme-us/chicago"
# The config version, kept on the router: /system script print where name="mvpn_acme-us_chicago"
/system script add name="mvpn_acme-us_chicago" source=":return \"a7e881063dfb\"" comment="mvpn:acme-us/chicago"
