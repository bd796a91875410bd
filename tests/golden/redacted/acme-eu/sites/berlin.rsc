# mvpn acme-eu sites/berlin.rsc version 88833c0bcec0; generated, do not edit
# Site berlin-office -> hub acme-eu.vpn.example.net over wireguard, RouterOS 7.18
# Berlin "HQ" office, budget $5 [rack 2]
# Converges in place: objects tagged "mvpn:acme-eu/berlin" are added when missing and set
# when their values changed; tagged objects no longer wanted are removed last, and only when
# everything else was applied. Running it again changes nothing.
# Run it in safe mode (Ctrl-X) from a path other than this tunnel: /import file-name=berlin.rsc
# To remove everything it created: /system script run mvpn_acme-eu_berlin_uninstall
# The tunnel interface wg-acme-eu joins the interface list "mvpn": allow that list in
# your firewall (e.g. /ip firewall filter add chain=input in-interface-list=mvpn action=accept).
{
:local tag "^mvpn:acme-eu/berlin( |\$)"
:local failed false
# WireGuard handshakes and certificate checks need the right time (a hEX S has no RTC).
:do {:if ([/system ntp client get status] != "synchronized") do={:log warning "mvpn acme-eu/berlin: the clock is not synchronised by NTP; the tunnel needs the right time"}} on-error={:log warning "mvpn acme-eu/berlin: cannot read the NTP client status; the tunnel needs the right time"}
:do {:if ([:len [/interface list find where name="mvpn"]] = 0) do={/interface list add name="mvpn" comment="mvpn tunnels"}} on-error={:set failed true; :log error "mvpn acme-eu/berlin: interface list mvpn not applied"}
# The uninstaller, first (it removes what the steps below add): /system script run mvpn_acme-eu_berlin_uninstall
:local un "{\n:local tag \"^mvpn:acme-eu/berlin( |\\\$)\"\n:local failed false\n:do {/ip route remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: routes not removed\"}\n:do {/ipv6 route remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: IPv6 routes not removed\"}\n:do {/ip dns static remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: DNS forwarders not removed\"}\n:do {/ip address remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: tunnel address not removed\"}\n:do {/ipv6 address remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: tunnel IPv6 address not removed\"}\n:do {/interface list member remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: interface list member not removed\"}\n:do {/interface wireguard peers remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: WireGuard peer not removed\"}\n:do {/interface wireguard remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: WireGuard interface not removed\"}\n:do {/interface ovpn-client remove [find where comment~\$tag]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: OpenVPN client not removed\"}\n:do {/certificate remove [find where name~\"^mvpn_acme-eu_berlin_(ca_)\\\?[0-9a-f]{8}\\\$\"]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: certificates not removed\"}\n:do {/system script remove [find where name=\"mvpn_acme-eu_berlin\"]} on-error={:set failed true; :log error \"mvpn acme-eu/berlin: version record not removed\"}\n:if (\$failed) do={:log error \"mvpn acme-eu/berlin: not everything was removed (see above); run it again\"} else={\n  :log info \"mvpn acme-eu/berlin: removed\"\n  :do {/system script remove [find where name=\"mvpn_acme-eu_berlin_uninstall\"]} on-error={:log error \"mvpn acme-eu/berlin: uninstall script not removed\"}\n}\n}\n"
:do {
  :local id [/system script find where name="mvpn_acme-eu_berlin_uninstall"]
  :if ([:len $id] = 0) do={
    /system script add name="mvpn_acme-eu_berlin_uninstall" source=$un comment="mvpn:acme-eu/berlin #3dee50f7 Berlin \"HQ\" office, budget \$5 [rack 2]"
  } else={
    :if ([/system script get $id comment] != "mvpn:acme-eu/berlin #3dee50f7 Berlin \"HQ\" office, budget \$5 [rack 2]") do={
      /system script set $id name="mvpn_acme-eu_berlin_uninstall" source=$un comment="mvpn:acme-eu/berlin #3dee50f7 Berlin \"HQ\" office, budget \$5 [rack 2]"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/berlin: uninstall script not applied"}
:do {
  :local id [/interface wireguard find where comment~$tag]
  :if ([:len $id] = 0) do={
    /interface wireguard add name="wg-acme-eu" listen-port=23757 private-key="REDACTED-wireguard-peer-private-key.acme-eu.berlin.epoch-1" comment="mvpn:acme-eu/berlin #1a2c1ac0 Berlin \"HQ\" office, budget \$5 [rack 2]"
  } else={
    :if ([/interface wireguard get $id comment] != "mvpn:acme-eu/berlin #1a2c1ac0 Berlin \"HQ\" office, budget \$5 [rack 2]") do={
      /interface wireguard set $id name="wg-acme-eu" listen-port=23757 private-key="REDACTED-wireguard-peer-private-key.acme-eu.berlin.epoch-1" comment="mvpn:acme-eu/berlin #1a2c1ac0 Berlin \"HQ\" office, budget \$5 [rack 2]"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/berlin: WireGuard interface wg-acme-eu not applied"}
:do {
  :local id [/interface wireguard peers find where comment~$tag]
  :if ([:len $id] = 0) do={
    /interface wireguard peers add interface="wg-acme-eu" public-key="REDACTED-wireguard-hub-public-key.acme-eu.epoch-1" preshared-key="REDACTED-wireguard-preshared-key.acme-eu.berlin.epoch-1" endpoint-address="acme-eu.vpn.example.net" endpoint-port=51820 allowed-address=0.0.0.0/0,::/0 persistent-keepalive=25s comment="mvpn:acme-eu/berlin #d05b3f47 Berlin \"HQ\" office, budget \$5 [rack 2]"
  } else={
    :if ([/interface wireguard peers get $id comment] != "mvpn:acme-eu/berlin #d05b3f47 Berlin \"HQ\" office, budget \$5 [rack 2]") do={
      /interface wireguard peers set $id interface="wg-acme-eu" public-key="REDACTED-wireguard-hub-public-key.acme-eu.epoch-1" preshared-key="REDACTED-wireguard-preshared-key.acme-eu.berlin.epoch-1" endpoint-address="acme-eu.vpn.example.net" endpoint-port=51820 allowed-address=0.0.0.0/0,::/0 persistent-keepalive=25s comment="mvpn:acme-eu/berlin #d05b3f47 Berlin \"HQ\" office, budget \$5 [rack 2]"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/berlin: WireGuard peer (the hub) not applied"}
:do {
  :local id [/interface list member find where comment~$tag]
  :if ([:len $id] = 0) do={
    /interface list member add list="mvpn" interface="wg-acme-eu" comment="mvpn:acme-eu/berlin #69d46f96 Berlin \"HQ\" office, budget \$5 [rack 2]"
  } else={
    :if ([/interface list member get $id comment] != "mvpn:acme-eu/berlin #69d46f96 Berlin \"HQ\" office, budget \$5 [rack 2]") do={
      /interface list member set $id list="mvpn" interface="wg-acme-eu" comment="mvpn:acme-eu/berlin #69d46f96 Berlin \"HQ\" office, budget \$5 [rack 2]"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/berlin: interface list member mvpn not applied"}
:do {
  :local id [/ip address find where comment~$tag]
  :if ([:len $id] = 0) do={
    /ip address add address=10.255.0.10/24 interface="wg-acme-eu" comment="mvpn:acme-eu/berlin #f2946311 Berlin \"HQ\" office, budget \$5 [rack 2]"
  } else={
    :if ([/ip address get $id comment] != "mvpn:acme-eu/berlin #f2946311 Berlin \"HQ\" office, budget \$5 [rack 2]") do={
      /ip address set $id address=10.255.0.10/24 interface="wg-acme-eu" comment="mvpn:acme-eu/berlin #f2946311 Berlin \"HQ\" office, budget \$5 [rack 2]"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/berlin: tunnel address not applied"}
:do {
  :local id [/ipv6 address find where comment~$tag]
  :if ([:len $id] = 0) do={
    /ipv6 address add address=fd00:255::10/64 interface="wg-acme-eu" advertise=no comment="mvpn:acme-eu/berlin #c8659524 Berlin \"HQ\" office, budget \$5 [rack 2]"
  } else={
    :if ([/ipv6 address get $id comment] != "mvpn:acme-eu/berlin #c8659524 Berlin \"HQ\" office, budget \$5 [rack 2]") do={
      /ipv6 address set $id address=fd00:255::10/64 interface="wg-acme-eu" advertise=no comment="mvpn:acme-eu/berlin #c8659524 Berlin \"HQ\" office, budget \$5 [rack 2]"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/berlin: tunnel IPv6 address not applied"}
:local gw "wg-acme-eu"
:local rc "mvpn:acme-eu/berlin #71867365 Berlin \"HQ\" office, budget \$5 [rack 2]"
:local rl "mvpn acme-eu/berlin: route not applied: "
# Routes found by their tag and dst-address; those whose comment is stale (a new interface or
# description) are set in place, missing ones added.
:do {/ip route set [find where comment~$tag and comment!=$rc] gateway=$gw comment=$rc} on-error={:set failed true; :log error "mvpn acme-eu/berlin: routes not updated"}
:do {/ipv6 route set [find where comment~$tag and comment!=$rc] gateway=$gw comment=$rc} on-error={:set failed true; :log error "mvpn acme-eu/berlin: IPv6 routes not updated"}
:do {:if ([:len [/ip route find where comment~$tag and dst-address=10.0.0.0/16]] = 0) do={/ip route add dst-address=10.0.0.0/16 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "10.0.0.0/16")}
:do {:if ([:len [/ip route find where comment~$tag and dst-address=10.16.0.0/12]] = 0) do={/ip route add dst-address=10.16.0.0/12 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "10.16.0.0/12")}
:do {:if ([:len [/ip route find where comment~$tag and dst-address=10.254.0.0/24]] = 0) do={/ip route add dst-address=10.254.0.0/24 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "10.254.0.0/24")}
:do {:if ([:len [/ipv6 route find where comment~$tag and dst-address=2001:db8:20::/48]] = 0) do={/ipv6 route add dst-address=2001:db8:20::/48 gateway=$gw comment=$rc}} on-error={:set failed true; :log error ($rl . "2001:db8:20::/48")}
:do {
  :local id [/ip dns static find where comment~$tag and name="corp.example"]
  :if ([:len $id] = 0) do={
    /ip dns static add name="corp.example" type=FWD forward-to=10.255.0.1 match-subdomain=yes comment="mvpn:acme-eu/berlin #670e1317 Berlin \"HQ\" office, budget \$5 [rack 2]"
  } else={
    :if ([/ip dns static get $id comment] != "mvpn:acme-eu/berlin #670e1317 Berlin \"HQ\" office, budget \$5 [rack 2]") do={
      /ip dns static set $id name="corp.example" type=FWD forward-to=10.255.0.1 match-subdomain=yes comment="mvpn:acme-eu/berlin #670e1317 Berlin \"HQ\" office, budget \$5 [rack 2]"
    }
  }
} on-error={:set failed true; :log error "mvpn acme-eu/berlin: DNS forwarder corp.example not applied"}
# Make-before-break: what is no longer wanted goes last, and only when everything above worked.
:if ($failed) do={:log error "mvpn acme-eu/berlin: not every object was applied; nothing removed, version not recorded"} else={
  :do {/ip route remove [find where comment~$tag and dst-address!=10.0.0.0/16 and dst-address!=10.16.0.0/12 and dst-address!=10.254.0.0/24]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: old routes not removed"}
  :do {/ipv6 route remove [find where comment~$tag and dst-address!=2001:db8:20::/48]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: old IPv6 routes not removed"}
  :do {/ip dns static remove [find where comment~$tag and name!="corp.example"]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: old DNS forwarders not removed"}
  :do {/interface ovpn-client remove [find where comment~$tag]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: old OpenVPN client not removed"}
  :do {/certificate remove [find where name~"^mvpn_acme-eu_berlin_(ca_)\?[0-9a-f]{8}\$"]} on-error={:set failed true; :log error "mvpn acme-eu/berlin: old certificates not removed"}
  # The version, recorded last: /system script print where name="mvpn_acme-eu_berlin"
  :if (!$failed) do={:do {
    :local id [/system script find where name="mvpn_acme-eu_berlin"]
    :if ([:len $id] = 0) do={
      /system script add name="mvpn_acme-eu_berlin" source=":return \"88833c0bcec0\"" comment="mvpn:acme-eu/berlin #6ff42640 Berlin \"HQ\" office, budget \$5 [rack 2]"
    } else={
      :if ([/system script get $id source] != ":return \"88833c0bcec0\"") do={
        /system script set $id source=":return \"88833c0bcec0\"" comment="mvpn:acme-eu/berlin #6ff42640 Berlin \"HQ\" office, budget \$5 [rack 2]"
      }
    }
  } on-error={:set failed true; :log error "mvpn acme-eu/berlin: version not recorded"}}
}
}
