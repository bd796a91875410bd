# mvpn acme-us sites/chicago.rsc version 7f7041209073; generated, do not edit
# Site chicago-office -> hub acme-us.vpn.example.net over openvpn, RouterOS 7.16
# Converges in place: objects tagged "mvpn:acme-us/chicago" are added when missing and set
# when their values changed; tagged objects no longer wanted are removed last, and only when
# everything else was applied. Running it again changes nothing.
# Run it in safe mode (Ctrl-X) from a path other than this tunnel: /import file-name=chicago.rsc
# To remove everything it created: /system script run mvpn_acme-us_chicago_uninstall
# The tunnel interface ovpn-acme-us joins the interface list "mvpn": allow that list in
# your firewall (e.g. /ip firewall filter add chain=input in-interface-list=mvpn action=accept).
{
:local tag "^mvpn:acme-us/chicago( |\$)"
:local failed false
:local certs true
# WireGuard handshakes and certificate checks need the right time (a hEX S has no RTC).
:do {:if ([/system ntp client get status] != "synchronized") do={:log warning "mvpn acme-us/chicago: the clock is not synchronised by NTP; the tunnel needs the right time"}} on-error={:log warning "mvpn acme-us/chicago: cannot read the NTP client status; the tunnel needs the right time"}
:do {:if ([:len [/interface list find where name="mvpn"]] = 0) do={/interface list add name="mvpn" comment="mvpn tunnels"}} on-error={:set failed true; :log error "mvpn acme-us/chicago: interface list mvpn not applied"}
# The uninstaller, first (it removes what the steps below add): /system script run mvpn_acme-us_chicago_uninstall
:local un "{\n:local tag \"^mvpn:acme-us/chicago( |\\\$)\"\n:local failed false\n:do {/ip route remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: routes not removed\"}\n:do {/ipv6 route remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: IPv6 routes not removed\"}\n:do {/ip dns static remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: DNS forwarders not removed\"}\n:do {/ip address remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: tunnel address not removed\"}\n:do {/ipv6 address remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: tunnel IPv6 address not removed\"}\n:do {/interface list member remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: interface list member not removed\"}\n:do {/interface wireguard peers remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: WireGuard peer not removed\"}\n:do {/interface wireguard remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: WireGuard interface not removed\"}\n:do {/interface ovpn-client remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: OpenVPN client not removed\"}\n:do {/certificate remove [find where name~\"^mvpn_acme-us_chicago_(ca_)\\\?[0-9a-f]{8}\\\$\"]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: certificates not removed\"}\n:do {/system script remove [find where name=\"mvpn_acme-us_chicago\"]} on-error={:set failed true; :log error \"mvpn acme-us/chicago: version record not removed\"}\n:if (\$failed) do={:log error \"mvpn acme-us/chicago: not everything was removed (see above); run it again\"} else={\n  :log info \"mvpn acme-us/chicago: removed\"\n  :do {/system script remove [find where name=\"mvpn_acme-us_chicago_uninstall\"]} on-error={:log error \"mvpn acme-us/chicago: uninstall script not removed\"}\n}\n}\n"
:do {
  :local id [/system script find where name="mvpn_acme-us_chicago_uninstall"]
  :if ([:len $id] = 0) do={
    /system script add name="mvpn_acme-us_chicago_uninstall" source=$un comment="mvpn:acme-us/chicago #7c133183"
  } else={
    :if ([/system script get $id comment] != "mvpn:acme-us/chicago #7c133183") do={
      /system script set $id name="mvpn_acme-us_chicago_uninstall" source=$un comment="mvpn:acme-us/chicago #7c133183"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-us/chicago: uninstall script not applied"}
# The CA certificate: imported once (under a name that carries its content hash) until complete.
:do {:if ([:len [/certificate find where name="mvpn_acme-us_chicago_ca_f5d8f849" and trusted]] = 0) do={
  # What a failed run may have left half imported goes first.
  /certificate remove [find where name="mvpn_acme-us_chicago_ca_f5d8f849"]
  /file add name="mvpn_acme-us_chicago_ca_f5d8f849.crt" contents="-----BEGIN CERTIFICATE-----\nREDACTED openvpn CA certificate acme-us epoch 1 (build without MVPN_SECRET)\n-----END CERTIFICATE-----\n"
  # Let the flash write settle before the import reads the file.
  :delay 1s
  /certificate import file-name="mvpn_acme-us_chicago_ca_f5d8f849.crt" name="mvpn_acme-us_chicago_ca_f5d8f849" passphrase=""
  /certificate set [find where name="mvpn_acme-us_chicago_ca_f5d8f849"] trusted=yes
}} on-error={:set failed true; :set certs false; :log error "mvpn acme-us/chicago: CA certificate not imported"}
# No key file is left on the flash, even when the import failed.
:do {/file remove [find where name~"^mvpn_acme-us_chicago_ca_f5d8f849\\.(crt|key)\$"]} on-error={:set failed true; :log error "mvpn acme-us/chicago: files mvpn_acme-us_chicago_ca_f5d8f849.* not removed"}
# The site certificate: imported once (under a name that carries its content hash) until complete.
:do {:if ([:len [/certificate find where name="mvpn_acme-us_chicago_75086126" and private-key]] = 0) do={
  # What a failed run may have left half imported goes first.
  /certificate remove [find where name="mvpn_acme-us_chicago_75086126"]
  /file add name="mvpn_acme-us_chicago_75086126.crt" contents="-----BEGIN CERTIFICATE-----\nREDACTED openvpn client certificate acme-us/chicago epoch 1 (instance epoch 1) (build without MVPN_SECRET)\n-----END CERTIFICATE-----\n"
  /file add name="mvpn_acme-us_chicago_75086126.key" contents="-----BEGIN PRIVATE KEY-----\nREDACTED openvpn client private key acme-us/chicago epoch 1 (instance epoch 1) (build without MVPN_SECRET)\n-----END PRIVATE KEY-----\n"
  # Let the flash write settle before the import reads the file.
  :delay 1s
  /certificate import file-name="mvpn_acme-us_chicago_75086126.crt" name="mvpn_acme-us_chicago_75086126" passphrase=""
  /certificate import file-name="mvpn_acme-us_chicago_75086126.key" name="mvpn_acme-us_chicago_75086126" passphrase=""
}} on-error={:set failed true; :set certs false; :log error "mvpn acme-us/chicago: site certificate not imported"}
# No key file is left on the flash, even when the import failed.
:do {/file remove [find where name~"^mvpn_acme-us_chicago_75086126\\.(crt|key)\$"]} on-error={:set failed true; :log error "mvpn acme-us/chicago: files mvpn_acme-us_chicago_75086126.* not removed"}
# Switched to a certificate only once it is complete: a half-imported one is never in use.
:if (!$certs) do={:log error "mvpn acme-us/chicago: OpenVPN client ovpn-acme-us not applied (no certificate)"} else={
:do {
  :local id [/interface ovpn-client find where comment~$tag]
  :if ([:len $id] = 0) do={
    /interface ovpn-client add name="ovpn-acme-us" connect-to="acme-us.vpn.example.net" port=443 protocol=tcp mode=ip user="chicago" certificate="mvpn_acme-us_chicago_75086126" verify-server-certificate=yes cipher=aes256-gcm auth=null add-default-route=no route-nopull=yes comment="mvpn:acme-us/chicago #d491cff3"
  } else={
    :if ([/interface ovpn-client get $id comment] != "mvpn:acme-us/chicago #d491cff3") do={
      /interface ovpn-client set $id name="ovpn-acme-us" connect-to="acme-us.vpn.example.net" port=443 protocol=tcp mode=ip user="chicago" certificate="mvpn_acme-us_chicago_75086126" verify-server-certificate=yes cipher=aes256-gcm auth=null add-default-route=no route-nopull=yes comment="mvpn:acme-us/chicago #d491cff3"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-us/chicago: OpenVPN client ovpn-acme-us not applied"}
}
:do {
  :local id [/interface list member find where comment~$tag]
  :if ([:len $id] = 0) do={
    /interface list member add list="mvpn" interface="ovpn-acme-us" comment="mvpn:acme-us/chicago #e689ffd3"
  } else={
    :if ([/interface list member get $id comment] != "mvpn:acme-us/chicago #e689ffd3") do={
      /interface list member set $id list="mvpn" interface="ovpn-acme-us" comment="mvpn:acme-us/chicago #e689ffd3"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-us/chicago: interface list member mvpn not applied"}
:do {
  :local id [/ip address find where comment~$tag]
  :if ([:len $id] = 0) do={
    /ip address add address=10.253.0.10/24 interface="ovpn-acme-us" comment="mvpn:acme-us/chicago #7aea9b76"
  } else={
    :if ([/ip address get $id comment] != "mvpn:acme-us/chicago #7aea9b76") do={
      /ip address set $id address=10.253.0.10/24 interface="ovpn-acme-us" comment="mvpn:acme-us/chicago #7aea9b76"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-us/chicago: tunnel address not applied"}
:local gw "ovpn-acme-us"
:local rc "mvpn:acme-us/chicago #61ece956"
:local rl "mvpn acme-us/chicago: route not applied: "
# Routes found by their tag and dst-address; those whose comment is stale (a new interface or
# description) are set in place, missing ones added.
:do {/ip route set [find where comment~$tag and comment!=$rc] gateway=$gw comment=$rc} on-error={:set failed true; :log error "mvpn acme-us/chicago: routes not updated"}
:do {/ipv6 route set [find where comment~$tag and comment!=$rc] gateway=$gw comment=$rc} on-error={:set failed true; :log error "mvpn acme-us/chicago: IPv6 routes not updated"}
:do {:if ([:len [/ip route find where comment~$tag and dst-address=10.1.0.0/16]] = 0) do={/ip route add dst-address=10.1.0.0/16 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "10.1.0.0/16")}
:do {
  :local id [/ip dns static find where comment~$tag and name="us.corp.example"]
  :if ([:len $id] = 0) do={
    /ip dns static add name="us.corp.example" type=FWD forward-to=10.1.0.53 match-subdomain=yes comment="mvpn:acme-us/chicago #223d6f86"
  } else={
    :if ([/ip dns static get $id comment] != "mvpn:acme-us/chicago #223d6f86") do={
      /ip dns static set $id name="us.corp.example" type=FWD forward-to=10.1.0.53 match-subdomain=yes comment="mvpn:acme-us/chicago #223d6f86"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-us/chicago: DNS forwarder us.corp.example not applied"}
# Make-before-break: what is no longer wanted goes last, and only when everything above worked.
:if ($failed) do={:log error "mvpn acme-us/chicago: not every object was applied; nothing removed, version not recorded"} else={
  :do {/ip route remove [find where comment~$tag and dst-address!=10.1.0.0/16]} on-error={:set failed true; :log error "mvpn acme-us/chicago: old routes not removed"}
  :do {/ipv6 route remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: old IPv6 routes not removed"}
  :do {/ip dns static remove [find where comment~$tag and name!="us.corp.example"]} on-error={:set failed true; :log error "mvpn acme-us/chicago: old DNS forwarders not removed"}
  :do {/ipv6 address remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: old IPv6 address not removed"}
  :do {/interface wireguard peers remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: old WireGuard peer not removed"}
  :do {/interface wireguard remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-us/chicago: old WireGuard interface not removed"}
  :do {/certificate remove [find where name~"^mvpn_acme-us_chicago_(ca_)\?[0-9a-f]{8}\$" and name!="mvpn_acme-us_chicago_ca_f5d8f849" and name!="mvpn_acme-us_chicago_75086126"]} on-error={:set failed true; :log error "mvpn acme-us/chicago: old certificates not removed"}
  # The version, recorded last: /system script print where name="mvpn_acme-us_chicago"
  :if (!$failed) do={:do {
    :local id [/system script find where name="mvpn_acme-us_chicago"]
    :if ([:len $id] = 0) do={
      /system script add name="mvpn_acme-us_chicago" source=":return \"7f7041209073\"" comment="mvpn:acme-us/chicago #6ff42640"
    } else={
      :if ([/system script get $id source] != ":return \"7f7041209073\"") do={
        /system script set $id source=":return \"7f7041209073\"" comment="mvpn:acme-us/chicago #6ff42640"
      }
    }
  } on-error={:set failed true; :log error "mvpn acme-us/chicago: version not recorded"}}
}
}
