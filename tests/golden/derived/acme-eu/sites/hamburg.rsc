# mvpn acme-eu sites/hamburg.rsc version 46cdd570aaee; generated, do not edit
# Site hamburg-office -> hub acme-eu.vpn.example.net over openvpn, RouterOS 7.16
# Converges in place: objects tagged "mvpn:acme-eu/hamburg" are added when missing and set
# when their values changed; tagged objects no longer wanted are removed last, and only when
# everything else was applied. Running it again changes nothing.
# Run it in safe mode (Ctrl-X) from a path other than this tunnel: /import file-name=hamburg.rsc
# To remove everything it created: /system script run mvpn_acme-eu_hamburg_uninstall
# The tunnel interface ovpn-acme-eu joins the interface list "mvpn": allow that list in
# your firewall (e.g. /ip firewall filter add chain=input in-interface-list=mvpn action=accept).
{
:local tag "^mvpn:acme-eu/hamburg( |\$)"
:local failed false
:local certs true
# WireGuard handshakes and certificate checks need the right time (a hEX S has no RTC).
:do {:if ([/system ntp client get status] != "synchronized") do={:log warning "mvpn acme-eu/hamburg: the clock is not synchronised by NTP; the tunnel needs the right time"}} on-error={:log warning "mvpn acme-eu/hamburg: cannot read the NTP client status; the tunnel needs the right time"}
:do {:if ([:len [/interface list find where name="mvpn"]] = 0) do={/interface list add name="mvpn" comment="mvpn tunnels"}} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: interface list mvpn not applied"}
# The uninstaller, first (it removes what the steps below add): /system script run mvpn_acme-eu_hamburg_uninstall
:local un "{\n:local tag \"^mvpn:acme-eu/hamburg( |\\\$)\"\n:local failed false\n:do {/ip route remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: routes not removed\"}\n:do {/ipv6 route remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: IPv6 routes not removed\"}\n:do {/ip dns static remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: DNS forwarders not removed\"}\n:do {/ip address remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: tunnel address not removed\"}\n:do {/ipv6 address remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: tunnel IPv6 address not removed\"}\n:do {/interface list member remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: interface list member not removed\"}\n:do {/interface wireguard peers remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: WireGuard peer not removed\"}\n:do {/interface wireguard remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: WireGuard interface not removed\"}\n:do {/interface ovpn-client remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: OpenVPN client not removed\"}\n:do {/certificate remove [find where name~\"^mvpn_acme-eu_hamburg_(ca_)\\\?[0-9a-f]{8}\\\$\"]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: certificates not removed\"}\n:do {/system script remove [find where name=\"mvpn_acme-eu_hamburg\"]} on-error={:set failed true; :log error \"mvpn acme-eu/hamburg: version record not removed\"}\n:if (\$failed) do={:log error \"mvpn acme-eu/hamburg: not everything was removed (see above); run it again\"} else={\n  :log info \"mvpn acme-eu/hamburg: removed\"\n  :do {/system script remove [find where name=\"mvpn_acme-eu_hamburg_uninstall\"]} on-error={:log error \"mvpn acme-eu/hamburg: uninstall script not removed\"}\n}\n}\n"
:do {
  :local id [/system script find where name="mvpn_acme-eu_hamburg_uninstall"]
  :if ([:len $id] = 0) do={
    /system script add name="mvpn_acme-eu_hamburg_uninstall" source=$un comment="mvpn:acme-eu/hamburg #0905a794"
  } else={
    :if ([/system script get $id comment] != "mvpn:acme-eu/hamburg #0905a794") do={
      /system script set $id name="mvpn_acme-eu_hamburg_uninstall" source=$un comment="mvpn:acme-eu/hamburg #0905a794"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: uninstall script not applied"}
# The CA certificate: imported once (under a name that carries its content hash) until complete.
:do {:if ([:len [/certificate find where name="mvpn_acme-eu_hamburg_ca_5b129de7" and trusted]] = 0) do={
  # What a failed run may have left half imported goes first.
  /certificate remove [find where name="mvpn_acme-eu_hamburg_ca_5b129de7"]
  /file add name="mvpn_acme-eu_hamburg_ca_5b129de7.crt" contents="-----BEGIN CERTIFICATE-----\nMIIBfjCCASOgAwIBAgIUc2eFmNZAFAannJOLEvrdi0D3deowCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPbXZwbiBhY21lLWV1IENBMCAXDTI0MDEwMTAwMDAwMFoYDzIw\nOTkxMjMxMjM1OTU5WjAaMRgwFgYDVQQDDA9tdnBuIGFjbWUtZXUgQ0EwWTATBgcq\nhkjOPQIBBggqhkjOPQMBBwNCAAQrx2VXsaGxRGEzBNY+sraGYHJpt+0KkWC8R3nX\nBCBeLhm7LVDxSFP8dYJ5DBHWgWO99mwcHEQWfhftIWml8mslo0UwQzASBgNVHRMB\nAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQURFbhr0wnpIvT\ntEEKcFV+d09+d7QwCgYIKoZIzj0EAwIDSQAwRgIhAJcezDYW7EB23sC2FaO3LHCU\ne3zO8E4es6gkyXLA77utAiEAoa/wAJKGk4N0jSNgzCGFSNhhP9q+3GfcfJeQVSUy\nzmU=\n-----END CERTIFICATE-----\n"
  # Let the flash write settle before the import reads the file.
  :delay 1s
  /certificate import file-name="mvpn_acme-eu_hamburg_ca_5b129de7.crt" name="mvpn_acme-eu_hamburg_ca_5b129de7" passphrase=""
  /certificate set [find where name="mvpn_acme-eu_hamburg_ca_5b129de7"] trusted=yes
}} on-error={:set failed true; :set certs false; :log error "mvpn acme-eu/hamburg: CA certificate not imported"}
# No key file is left on the flash, even when the import failed.
:do {/file remove [find where name~"^mvpn_acme-eu_hamburg_ca_5b129de7\\.(crt|key)\$"]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: files mvpn_acme-eu_hamburg_ca_5b129de7.* not removed"}
# The site certificate: imported once (under a name that carries its content hash) until complete.
:do {:if ([:len [/certificate find where name="mvpn_acme-eu_hamburg_08a4b1c9" and private-key]] = 0) do={
  # What a failed run may have left half imported goes first.
  /certificate remove [find where name="mvpn_acme-eu_hamburg_08a4b1c9"]
  /file add name="mvpn_acme-eu_hamburg_08a4b1c9.crt" contents="-----BEGIN CERTIFICATE-----\nMIIBpTCCAUugAwIBAgIUZ5H8AvBWcrOuhuH5Y3I10bKB7FEwCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPbXZwbiBhY21lLWV1IENBMCAXDTI0MDEwMTAwMDAwMFoYDzIw\nOTkxMjMxMjM1OTU5WjASMRAwDgYDVQQDDAdoYW1idXJnMFkwEwYHKoZIzj0CAQYI\nKoZIzj0DAQcDQgAEV+AtSodMola9DXaeI7rrmhCBNJ0nwy7ckkArugiSrqteuAJr\nq1eqV/+Mi4xhy7kUQ/XCWMsADoTG7X4eAhu/3aN1MHMwDAYDVR0TAQH/BAIwADAO\nBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHwYDVR0jBBgwFoAU\nRFbhr0wnpIvTtEEKcFV+d09+d7QwHQYDVR0OBBYEFAejwAXeJm7LiGglc0HUtdSS\n5141MAoGCCqGSM49BAMCA0gAMEUCIFdyNHbrgLmOYSSCvpc0f6hQaLtXvAmP0iEL\nPJLQ3bI3AiEAgg9QweMDpBlVgTgggrxshZSUHVULGEli/VqdUswqLuo=\n-----END CERTIFICATE-----\n"
  /file add name="mvpn_acme-eu_hamburg_08a4b1c9.key" contents="-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOJKMGXq5UNGTdeRG\nY5MXl2Beg76RDlJW6x5iUKtfWIChRANCAARX4C1Kh0yiVr0Ndp4juuuaEIE0nSfD\nLtySQCu6CJKuq164AmurV6pX/4yLjGHLuRRD9cJYywAOhMbtfh4CG7/d\n-----END PRIVATE KEY-----\n"
  # Let the flash write settle before the import reads the file.
  :delay 1s
  /certificate import file-name="mvpn_acme-eu_hamburg_08a4b1c9.crt" name="mvpn_acme-eu_hamburg_08a4b1c9" passphrase=""
  /certificate import file-name="mvpn_acme-eu_hamburg_08a4b1c9.key" name="mvpn_acme-eu_hamburg_08a4b1c9" passphrase=""
}} on-error={:set failed true; :set certs false; :log error "mvpn acme-eu/hamburg: site certificate not imported"}
# No key file is left on the flash, even when the import failed.
:do {/file remove [find where name~"^mvpn_acme-eu_hamburg_08a4b1c9\\.(crt|key)\$"]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: files mvpn_acme-eu_hamburg_08a4b1c9.* not removed"}
# Switched to a certificate only once it is complete: a half-imported one is never in use.
:if (!$certs) do={:log error "mvpn acme-eu/hamburg: OpenVPN client ovpn-acme-eu not applied (no certificate)"} else={
:do {
  :local id [/interface ovpn-client find where comment~$tag]
  :if ([:len $id] = 0) do={
    /interface ovpn-client add name="ovpn-acme-eu" connect-to="acme-eu.vpn.example.net" port=1194 protocol=udp mode=ip user="hamburg" certificate="mvpn_acme-eu_hamburg_08a4b1c9" verify-server-certificate=yes cipher=aes256-gcm auth=null add-default-route=no route-nopull=yes comment="mvpn:acme-eu/hamburg #630f21d3"
  } else={
    :if ([/interface ovpn-client get $id comment] != "mvpn:acme-eu/hamburg #630f21d3") do={
      /interface ovpn-client set $id name="ovpn-acme-eu" connect-to="acme-eu.vpn.example.net" port=1194 protocol=udp mode=ip user="hamburg" certificate="mvpn_acme-eu_hamburg_08a4b1c9" verify-server-certificate=yes cipher=aes256-gcm auth=null add-default-route=no route-nopull=yes comment="mvpn:acme-eu/hamburg #630f21d3"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: OpenVPN client ovpn-acme-eu not applied"}
}
:do {
  :local id [/interface list member find where comment~$tag]
  :if ([:len $id] = 0) do={
    /interface list member add list="mvpn" interface="ovpn-acme-eu" comment="mvpn:acme-eu/hamburg #c9b6e68f"
  } else={
    :if ([/interface list member get $id comment] != "mvpn:acme-eu/hamburg #c9b6e68f") do={
      /interface list member set $id list="mvpn" interface="ovpn-acme-eu" comment="mvpn:acme-eu/hamburg #c9b6e68f"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: interface list member mvpn not applied"}
:do {
  :local id [/ip address find where comment~$tag]
  :if ([:len $id] = 0) do={
    /ip address add address=10.254.0.10/24 interface="ovpn-acme-eu" comment="mvpn:acme-eu/hamburg #2c10df90"
  } else={
    :if ([/ip address get $id comment] != "mvpn:acme-eu/hamburg #2c10df90") do={
      /ip address set $id address=10.254.0.10/24 interface="ovpn-acme-eu" comment="mvpn:acme-eu/hamburg #2c10df90"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: tunnel address not applied"}
:local gw "ovpn-acme-eu"
:local rc "mvpn:acme-eu/hamburg #84ee40ad"
:local rl "mvpn acme-eu/hamburg: route not applied: "
# Routes found by their tag and dst-address; those whose comment is stale (a new interface or
# description) are set in place, missing ones added.
:do {/ip route set [find where comment~$tag and comment!=$rc] gateway=$gw comment=$rc} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: routes not updated"}
:do {/ipv6 route set [find where comment~$tag and comment!=$rc] gateway=$gw comment=$rc} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: IPv6 routes not updated"}
:do {:if ([:len [/ip route find where comment~$tag and dst-address=10.0.0.0/16]] = 0) do={/ip route add dst-address=10.0.0.0/16 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "10.0.0.0/16")}
:do {:if ([:len [/ip route find where comment~$tag and dst-address=10.16.0.0/12]] = 0) do={/ip route add dst-address=10.16.0.0/12 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "10.16.0.0/12")}
:do {:if ([:len [/ip route find where comment~$tag and dst-address=10.255.0.0/24]] = 0) do={/ip route add dst-address=10.255.0.0/24 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "10.255.0.0/24")}
:do {
  :local id [/ip dns static find where comment~$tag and name="corp.example"]
  :if ([:len $id] = 0) do={
    /ip dns static add name="corp.example" type=FWD forward-to=10.254.0.1 match-subdomain=yes comment="mvpn:acme-eu/hamburg #30c51b4c"
  } else={
    :if ([/ip dns static get $id comment] != "mvpn:acme-eu/hamburg #30c51b4c") do={
      /ip dns static set $id name="corp.example" type=FWD forward-to=10.254.0.1 match-subdomain=yes comment="mvpn:acme-eu/hamburg #30c51b4c"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: DNS forwarder corp.example not applied"}
# Make-before-break: what is no longer wanted goes last, and only when everything above worked.
:if ($failed) do={:log error "mvpn acme-eu/hamburg: not every object was applied; nothing removed, version not recorded"} else={
  :do {/ip route remove [find where comment~$tag and dst-address!=10.0.0.0/16 and dst-address!=10.16.0.0/12 and dst-address!=10.255.0.0/24]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: old routes not removed"}
  :do {/ipv6 route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: old IPv6 routes not removed"}
  :do {/ip dns static remove [find where comment~$tag and name!="corp.example"]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: old DNS forwarders not removed"}
  :do {/ipv6 address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: old IPv6 address not removed"}
  :do {/interface wireguard peers remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: old WireGuard peer not removed"}
  :do {/interface wireguard remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: old WireGuard interface not removed"}
  :do {/certificate remove [find where name~"^mvpn_acme-eu_hamburg_(ca_)\?[0-9a-f]{8}\$" and name!="mvpn_acme-eu_hamburg_ca_5b129de7" and name!="mvpn_acme-eu_hamburg_08a4b1c9"]} on-error={:set failed true; :log error "mvpn acme-eu/hamburg: old certificates not removed"}
  # The version, recorded last: /system script print where name="mvpn_acme-eu_hamburg"
  :if (!$failed) do={:do {
    :local id [/system script find where name="mvpn_acme-eu_hamburg"]
    :if ([:len $id] = 0) do={
      /system script add name="mvpn_acme-eu_hamburg" source=":return \"46cdd570aaee\"" comment="mvpn:acme-eu/hamburg #6ff42640"
    } else={
      :if ([/system script get $id source] != ":return \"46cdd570aaee\"") do={
        /system script set $id source=":return \"46cdd570aaee\"" comment="mvpn:acme-eu/hamburg #6ff42640"
      }
    }
  } on-error={:set failed true; :log error "mvpn acme-eu/hamburg: version not recorded"}}
}
}
