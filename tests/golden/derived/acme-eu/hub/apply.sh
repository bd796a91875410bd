#!/bin/sh
# mvpn acme-eu hub/apply.sh version a28225575845; generated, do not edit
# Installs this hub bundle on the hub without dropping established tunnels. Run as root from
# anywhere: sh apply.sh [--dry-run] [--force] [--rollback]
#   --dry-run   validate and print what would change; change nothing
#   --force     apply even a bundle older than the installed one
#   --rollback  re-apply the bundle installed before the current one
# Every file is validated before anything is touched; a failure changes nothing.
set -eu
umask 077
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

INSTANCE=acme-eu
HAS_WG=1
HAS_OVPN=1
HAS_DNS=1
# wg1: the new hub key for the peers moved to it during step 1 of a key rotation (next_port).
HAS_WG1=0
# The ports clients connect to, for the firewall warning (proto/port).
PORTS="udp/51820 udp/1194"

# Where things go (Debian's standard paths; wg-quick@ and openvpn-server@ units use them).
WG_DIR=/etc/wireguard
OVPN_DIR=/etc/openvpn/server
NFT_FILE=/etc/nftables.d/mvpn-$INSTANCE.nft
SYSCTL_FILE=/etc/sysctl.d/60-mvpn-$INSTANCE.conf
DNS_FILE=/etc/mvpn/dnsmasq-$INSTANCE.conf
UNIT_DIR=/etc/systemd/system
STATE=/var/lib/mvpn
RUN=/run/mvpn
LOG_DIR=/var/log/mvpn

DRY_RUN=0
FORCE=0
ROLLBACK=0
for arg in "$@"; do
	case $arg in
		--dry-run) DRY_RUN=1 ;;
		--force) FORCE=1 ;;
		--rollback) ROLLBACK=1 ;;
		*) echo "apply.sh: unknown option '$arg' (use --dry-run, --force, --rollback)" >&2; exit 2 ;;
	esac
done

say() { echo "apply.sh: $*"; }
warn() { echo "apply.sh: warning: $*" >&2; }
die() { echo "apply.sh: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the files go to /etc and the daemons are reloaded)"

BUNDLE=$(cd "$(dirname "$0")" && pwd)
if [ "$ROLLBACK" = 1 ]; then
	[ -f "$STATE/$INSTANCE/previous/VERSION" ] || die "no previous bundle of $INSTANCE to roll back to"
	BUNDLE=$STATE/$INSTANCE/previous
	FORCE=1
fi
[ -f "$BUNDLE/VERSION" ] || die "$BUNDLE/VERSION is missing: run apply.sh from inside a hub bundle"
NEW=$(cat "$BUNDLE/VERSION")
OLD=none
[ -f "$STATE/$INSTANCE.version" ] && OLD=$(cat "$STATE/$INSTANCE.version")

# One apply at a time: mkdir is atomic.
mkdir -p "$RUN"
if [ "$DRY_RUN" = 0 ]; then
	mkdir "$RUN/$INSTANCE.lock" 2>/dev/null || die "another apply of $INSTANCE runs ($RUN/$INSTANCE.lock)"
fi
trap 'exit 130' INT TERM
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; [ "$DRY_RUN" = 1 ] || rmdir "$RUN/$INSTANCE.lock" 2>/dev/null || true' EXIT

# ------------------------------------------------------------------ 1. validate
fail=0
bad() { echo "apply.sh: invalid: $*" >&2; fail=1; }
nft -c -f "$BUNDLE/nftables.conf" >"$WORK/nft.err" 2>&1 || bad "nftables.conf: $(cat "$WORK/nft.err")"
if [ "$HAS_WG" = 1 ]; then
	wg-quick strip "$BUNDLE/wireguard/wg0.conf" >"$WORK/wg0.strip" 2>"$WORK/wg.err" \
		|| bad "wireguard/wg0.conf: $(cat "$WORK/wg.err")"
fi
if [ "$HAS_WG1" = 1 ]; then
	wg-quick strip "$BUNDLE/wireguard/wg1.conf" >"$WORK/wg1.strip" 2>"$WORK/wg.err" \
		|| bad "wireguard/wg1.conf: $(cat "$WORK/wg.err")"
	# wg1 is the name of the rotation's second interface: never take over someone else's.
	if [ -e "$WG_DIR/wg1.conf" ] && ! grep -q "^# mvpn $INSTANCE hub/wireguard/wg1.conf " "$WG_DIR/wg1.conf"; then
		bad "$WG_DIR/wg1.conf is not this bundle's (no mvpn $INSTANCE header): the key rotation's second interface needs the name wg1"
	fi
fi
if [ "$HAS_OVPN" = 1 ]; then
	# --show-ciphers parses every option of the file (an unknown or malformed one fails), then
	# stops; the files it names are checked here, as OpenVPN would only on start.
	(cd "$BUNDLE/openvpn" && openvpn --config server.conf --show-ciphers) >"$WORK/ovpn.err" 2>&1 \
		|| bad "openvpn/server.conf: $(grep -i error "$WORK/ovpn.err" || cat "$WORK/ovpn.err")"
	for pem in ca.crt server.crt server.key crl.pem; do
		grep -q -- "-----BEGIN " "$BUNDLE/openvpn/pki/$pem" 2>/dev/null || bad "openvpn/pki/$pem: no PEM data"
	done
fi
if [ "$HAS_DNS" = 1 ]; then
	dnsmasq --test --conf-file="$BUNDLE/dns/dnsmasq.conf" >"$WORK/dns.err" 2>&1 \
		|| bad "dns/dnsmasq.conf: $(cat "$WORK/dns.err")"
fi
[ "$fail" = 0 ] || die "the bundle $NEW is invalid; nothing was changed"

# ------------------------------------------------------------------ 2. refuse an older bundle
# Versions are content hashes, which have no order: a bundle is older when its version was
# applied here before and replaced since (the history below). A never-seen version is new.
if [ "$FORCE" = 0 ] && [ "$NEW" != "$OLD" ] && grep -qx "$NEW" "$STATE/$INSTANCE.history" 2>/dev/null; then
	die "bundle $NEW is older than the installed $OLD (applied here before); use --force to apply it anyway"
fi

# ------------------------------------------------------------------ what changes
changed() { ! cmp -s "$1" "$2" 2>/dev/null; }
CHANGES=0
note() { CHANGES=$((CHANGES + 1)); say "$*"; }
WG_CHANGED=0
OVPN_RESTART=0
DNS_CHANGED=0
if changed "$BUNDLE/nftables.conf" "$NFT_FILE"; then note "firewall: $NFT_FILE (table inet mvpn)"; fi
if changed "$BUNDLE/sysctl.conf" "$SYSCTL_FILE"; then note "sysctl: $SYSCTL_FILE"; fi
if [ "$HAS_WG" = 1 ] && changed "$BUNDLE/wireguard/wg0.conf" "$WG_DIR/wg0.conf"; then
	WG_CHANGED=1; note "wireguard: $WG_DIR/wg0.conf (wg syncconf)"
fi
WG1_CHANGED=0
WG1_STALE=0
if [ "$HAS_WG1" = 1 ] && changed "$BUNDLE/wireguard/wg1.conf" "$WG_DIR/wg1.conf"; then
	WG1_CHANGED=1; note "wireguard: $WG_DIR/wg1.conf (the key rotation's second interface)"
elif [ "$HAS_WG1" = 0 ] && grep -q "^# mvpn $INSTANCE hub/wireguard/wg1.conf " "$WG_DIR/wg1.conf" 2>/dev/null; then
	# Step 2 of a key rotation: wg1's peers are back on wg0, which takes wg1's key and port.
	WG1_STALE=1; note "wireguard: remove $WG_DIR/wg1.conf (wg1 down: the key rotation's step 2)"
fi
if [ "$HAS_OVPN" = 1 ]; then
	for f in server.conf pki/ca.crt pki/server.crt pki/server.key; do
		if changed "$BUNDLE/openvpn/$f" "$OVPN_DIR/$f"; then OVPN_RESTART=1; note "openvpn: $OVPN_DIR/$f (restart)"; fi
	done
	changed "$BUNDLE/openvpn/pki/crl.pem" "$OVPN_DIR/pki/crl.pem" && note "openvpn: $OVPN_DIR/pki/crl.pem (read per connection)"
	for f in "$BUNDLE"/openvpn/ccd/*; do
		[ -e "$f" ] || continue
		changed "$f" "$OVPN_DIR/ccd/${f##*/}" && note "openvpn: $OVPN_DIR/ccd/${f##*/} (read per connection)"
	done
	for f in "$OVPN_DIR"/ccd/*; do
		[ -e "$f" ] || continue
		# A removed peer may still be connected: only a restart ends its session.
		if [ ! -e "$BUNDLE/openvpn/ccd/${f##*/}" ]; then OVPN_RESTART=1; note "openvpn: remove $f (restart)"; fi
	done
fi
if [ "$HAS_DNS" = 1 ] && changed "$BUNDLE/dns/dnsmasq.conf" "$DNS_FILE"; then
	DNS_CHANGED=1; note "dnsmasq: $DNS_FILE (restart)"
fi

if [ "$DRY_RUN" = 1 ]; then
	say "dry run: $INSTANCE $OLD -> $NEW, $CHANGES change(s); nothing was changed"
	exit 0
fi

# ------------------------------------------------------------------ 3. install
# Each file is written beside its target and renamed over it, so a reader never sees half.
put() { # put SRC DEST MODE
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2.mvpn-new"
	chmod "$3" "$2.mvpn-new"
	mv -f "$2.mvpn-new" "$2"
}
put "$BUNDLE/nftables.conf" "$NFT_FILE" 0644
put "$BUNDLE/sysctl.conf" "$SYSCTL_FILE" 0644
[ "$HAS_WG" = 1 ] && put "$BUNDLE/wireguard/wg0.conf" "$WG_DIR/wg0.conf" 0600
[ "$HAS_WG1" = 1 ] && put "$BUNDLE/wireguard/wg1.conf" "$WG_DIR/wg1.conf" 0600
if [ "$HAS_OVPN" = 1 ]; then
	put "$BUNDLE/openvpn/server.conf" "$OVPN_DIR/server.conf" 0644
	for f in ca.crt server.crt crl.pem; do put "$BUNDLE/openvpn/pki/$f" "$OVPN_DIR/pki/$f" 0644; done
	put "$BUNDLE/openvpn/pki/server.key" "$OVPN_DIR/pki/server.key" 0600
	# The ccd folder is replaced whole (a removed peer's file must go): build it, then swap.
	rm -rf "$OVPN_DIR/ccd.mvpn-new" "$OVPN_DIR/ccd.mvpn-old"
	mkdir -p "$OVPN_DIR/ccd.mvpn-new"
	for f in "$BUNDLE"/openvpn/ccd/*; do
		[ -e "$f" ] && put "$f" "$OVPN_DIR/ccd.mvpn-new/${f##*/}" 0644
	done
	chmod 0755 "$OVPN_DIR/ccd.mvpn-new"
	[ -d "$OVPN_DIR/ccd" ] && mv "$OVPN_DIR/ccd" "$OVPN_DIR/ccd.mvpn-old"
	mv "$OVPN_DIR/ccd.mvpn-new" "$OVPN_DIR/ccd"
	rm -rf "$OVPN_DIR/ccd.mvpn-old"
fi
[ "$HAS_DNS" = 1 ] && put "$BUNDLE/dns/dnsmasq.conf" "$DNS_FILE" 0644

# Units so the hub comes back after a reboot (used when systemd runs the host).
unit() { # unit NAME TEXT
	if ! printf '%s\n' "$2" | cmp -s - "$UNIT_DIR/$1"; then
		mkdir -p "$UNIT_DIR"
		printf '%s\n' "$2" >"$UNIT_DIR/$1.mvpn-new"
		chmod 0644 "$UNIT_DIR/$1.mvpn-new"
		mv -f "$UNIT_DIR/$1.mvpn-new" "$UNIT_DIR/$1"
	fi
}
unit "mvpn-$INSTANCE.service" "[Unit]
Description=mvpn $INSTANCE: forwarding and firewall table inet mvpn
After=nftables.service
Before=network-pre.target wg-quick@wg0.service wg-quick@wg1.service openvpn-server@server.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/sysctl -q -p $SYSCTL_FILE
ExecStart=/usr/sbin/nft -f $NFT_FILE
ExecReload=/usr/sbin/nft -f $NFT_FILE

[Install]
WantedBy=multi-user.target"
if [ "$HAS_DNS" = 1 ]; then
	unit "mvpn-dnsmasq-$INSTANCE.service" "[Unit]
Description=mvpn $INSTANCE: the VPN resolver
After=network.target wg-quick@wg0.service wg-quick@wg1.service openvpn-server@server.service

[Service]
ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file=$DNS_FILE
Restart=on-failure

[Install]
WantedBy=multi-user.target"
fi

# ------------------------------------------------------------------ 4. reload
SYSTEMD=0
[ -d /run/systemd/system ] && SYSTEMD=1
mkdir -p "$LOG_DIR"

sysctl -q -p "$SYSCTL_FILE" >/dev/null || warn "sysctl -p $SYSCTL_FILE failed"
# The file replaces table inet mvpn in one transaction; no other table is touched.
nft -f "$NFT_FILE"

# wg_up IFACE: sync a running WireGuard interface in place, or bring it up.
wg_up() {
	iface=$1
	if ip link show "$iface" >/dev/null 2>&1; then
		# syncconf changes only the peers that differ: other sessions keep their keys.
		wg syncconf "$iface" "$WORK/$iface.strip"
		# wg-quick routes every AllowedIPs prefix to the interface on `up` (unless a route of
		# it already covers it); syncconf does not, so the routes of added and removed peers
		# are done here. Only wg-quick's own routes (proto boot) are ever removed.
		wg show "$iface" allowed-ips | cut -f2 | tr -s '[:blank:]' '\n' | grep / >"$WORK/allowed" || true
		for family in -4 -6; do
			if [ "$family" = -4 ]; then host=/32; else host=/128; fi
			if [ "$family" = -4 ]; then grep -v : "$WORK/allowed"; else grep : "$WORK/allowed"; fi \
				>"$WORK/want" || true
			# The aggregates wg0.conf routes here (its PostUp lines) are wanted routes too.
			if [ "$iface" = wg0 ]; then
				printf '%s\n' 2001:db8:20::/48 \
					| if [ "$family" = -4 ]; then grep -v :; else grep :; fi >>"$WORK/want" || true
			fi
			while read -r net; do
				[ -n "$(ip "$family" route show dev "$iface" match "$net")" ] || ip "$family" route add "$net" dev "$iface"
			done <"$WORK/want"
			ip "$family" -o route show dev "$iface" proto boot | awk -v host="$host" \
				'{ print (index($1, "/") ? $1 : $1 host) }' >"$WORK/have"
			while read -r net; do
				grep -qx "$net" "$WORK/want" || ip "$family" route del "$net" dev "$iface" proto boot
			done <"$WORK/have"
		done
		# A changed Address (a renumbered tunnel network) is applied in place too.
		sed -n 's/^Address *= *//p' "$WG_DIR/$iface.conf" | tr ',' ' ' | tr -s ' ' '\n' | grep / >"$WORK/addr" || true
		ip -o address show dev "$iface" scope global | awk '{ print $4 }' >"$WORK/addr-now"
		while read -r addr; do
			grep -qx "$addr" "$WORK/addr-now" || ip address add "$addr" dev "$iface"
		done <"$WORK/addr"
		while read -r addr; do
			grep -qx "$addr" "$WORK/addr" || ip address del "$addr" dev "$iface"
		done <"$WORK/addr-now"
		[ "$2" = 1 ] && say "wireguard: $iface synced"
	elif [ "$SYSTEMD" = 1 ]; then
		systemctl enable --now "wg-quick@$iface" && say "wireguard: wg-quick@$iface started"
	else
		wg-quick up "$iface" >>"$LOG_DIR/wg-quick.log" 2>&1 </dev/null && say "wireguard: $iface up"
	fi
	[ "$SYSTEMD" = 1 ] && systemctl enable --quiet "wg-quick@$iface"
	return 0
}

if [ "$WG1_STALE" = 1 ]; then
	# First: wg0 is about to listen on wg1's port. wg-quick down reads the file to undo it.
	if [ "$SYSTEMD" = 1 ]; then systemctl disable --quiet --now wg-quick@wg1 || true; fi
	if ip link show wg1 >/dev/null 2>&1; then
		wg-quick down wg1 >>"$LOG_DIR/wg-quick.log" 2>&1 </dev/null || ip link del wg1
	fi
	rm -f "$WG_DIR/wg1.conf"
	say "wireguard: wg1 down"
fi
if [ "$HAS_WG" = 1 ]; then
	# wg0 first: peers moved to wg1 leave it (and their routes) before wg1 routes them.
	wg_up wg0 "$WG_CHANGED"
fi
if [ "$HAS_WG1" = 1 ]; then
	wg_up wg1 "$WG1_CHANGED"
fi

if [ "$HAS_OVPN" = 1 ]; then
	if [ "$SYSTEMD" = 1 ]; then
		systemctl enable --quiet openvpn-server@server
		if [ "$OVPN_RESTART" = 1 ] || ! systemctl is-active --quiet openvpn-server@server; then
			systemctl restart openvpn-server@server && say "openvpn: openvpn-server@server (re)started"
		fi
	else
		pidfile=$RUN/openvpn-$INSTANCE.pid
		running=0
		[ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && running=1
		if [ "$running" = 1 ] && [ "$OVPN_RESTART" = 1 ]; then
			kill "$(cat "$pidfile")"
			i=0
			while kill -0 "$(cat "$pidfile")" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
			running=0
		fi
		if [ "$running" = 0 ]; then
			openvpn --daemon "mvpn-openvpn-$INSTANCE" --cd "$OVPN_DIR" --config server.conf \
				--writepid "$pidfile" --log-append "$LOG_DIR/openvpn-$INSTANCE.log" \
				</dev/null >/dev/null
			say "openvpn: started"
		fi
	fi
fi

if [ "$HAS_DNS" = 1 ]; then
	# dnsmasq reads its configuration only at start; a restart takes milliseconds and no
	# tunnel depends on it.
	if [ "$SYSTEMD" = 1 ]; then
		systemctl daemon-reload
		systemctl enable --quiet "mvpn-dnsmasq-$INSTANCE"
		if [ "$DNS_CHANGED" = 1 ] || ! systemctl is-active --quiet "mvpn-dnsmasq-$INSTANCE"; then
			systemctl restart "mvpn-dnsmasq-$INSTANCE" && say "dnsmasq: restarted"
		fi
	else
		pidfile=$RUN/dnsmasq-$INSTANCE.pid
		if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			if [ "$DNS_CHANGED" = 1 ]; then kill "$(cat "$pidfile")"; sleep 0.2; else pidfile=; fi
		fi
		if [ -n "$pidfile" ]; then
			dnsmasq --conf-file="$DNS_FILE" --pid-file="$pidfile" </dev/null >>"$LOG_DIR/dnsmasq-$INSTANCE.log" 2>&1 \
				&& say "dnsmasq: started"
		fi
	fi
fi
if [ "$SYSTEMD" = 1 ]; then
	systemctl daemon-reload
	systemctl enable --quiet "mvpn-$INSTANCE"
fi

# ------------------------------------------------------------------ 5. what would block the hub
[ "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null)" = 1 ] \
	|| warn "IPv4 forwarding is off (net.ipv4.ip_forward): the hub routes nothing"
nft list ruleset 2>/dev/null | awk -v ports="$PORTS" '
	/^table / { table = $2 " " $3 }
	/hook forward/ && /policy drop/ && table != "inet mvpn" {
		print "apply.sh: warning: table " table " drops forwarded packets by default (policy drop): allow the VPN networks there (Docker and ufw do this)" > "/dev/stderr"
	}
	/hook input/ && /policy drop/ { input = input " " table }
	/dport/ { rules[++n] = $0 }
	END {
		if (input == "") exit
		count = split(ports, list, " ")
		for (i = 1; i <= count; i++) {
			split(list[i], pp, "/")
			found = 0
			for (j = 1; j <= n; j++) if (rules[j] ~ ("dport.*[ {,]" pp[2] "([ },]|$)")) found = 1
			if (!found)
				print "apply.sh: warning: the input policy of table" input " drops packets and no rule names " pp[1] " port " pp[2] ": clients cannot connect" > "/dev/stderr"
		}
	}'

# ------------------------------------------------------------------ 6. record
mkdir -p "$STATE/$INSTANCE"
if [ "$ROLLBACK" = 1 ]; then
	# The rolled-back-from bundle becomes the previous one, so a second rollback undoes this.
	rm -rf "$STATE/$INSTANCE/swap"
	mv "$STATE/$INSTANCE/current" "$STATE/$INSTANCE/swap"
	mv "$STATE/$INSTANCE/previous" "$STATE/$INSTANCE/current"
	mv "$STATE/$INSTANCE/swap" "$STATE/$INSTANCE/previous"
elif [ "$NEW" != "$OLD" ] || [ ! -d "$STATE/$INSTANCE/current" ]; then
	rm -rf "$STATE/$INSTANCE/next"
	cp -Rp "$BUNDLE" "$STATE/$INSTANCE/next"
	if [ -d "$STATE/$INSTANCE/current" ] && [ "$NEW" != "$OLD" ]; then
		rm -rf "$STATE/$INSTANCE/previous"
		mv "$STATE/$INSTANCE/current" "$STATE/$INSTANCE/previous"
	fi
	rm -rf "$STATE/$INSTANCE/current"
	mv "$STATE/$INSTANCE/next" "$STATE/$INSTANCE/current"
fi
grep -qx "$NEW" "$STATE/$INSTANCE.history" 2>/dev/null || echo "$NEW" >>"$STATE/$INSTANCE.history"
echo "$NEW" >"$STATE/$INSTANCE.version.mvpn-new"
chmod 0644 "$STATE/$INSTANCE.version.mvpn-new"
mv -f "$STATE/$INSTANCE.version.mvpn-new" "$STATE/$INSTANCE.version"
say "applied $INSTANCE $NEW (was $OLD)"
