#!/usr/bin/env bash
# Install the real VPN software the end-to-end tests drive (plus dnsmasq and dig for the DNS
# tests, openssh and shellcheck for the deploy tests, and Graphviz, which checks
# `mvpn graph --format dot`) from Debian packages, when missing.
# Under CI=true a missing tool is a failure; on a laptop without root it is a loud warning
# and those tests skip with the reason.
set -uo pipefail
declare -A pkg=(
  [wg]=wireguard-tools [wg-quick]=wireguard-tools [wireguard-go]=wireguard-go [dot]=graphviz
  [openvpn]=openvpn [nft]=nftables [ip]=iproute2 [ss]=iproute2 [ping]=iputils-ping
  [openssl]=openssl [sysctl]=procps [resolvconf]=openresolv [dnsmasq]=dnsmasq-base
  [dig]=bind9-dnsutils [sshd]=openssh-server [ssh]=openssh-client [shellcheck]=shellcheck
)
missing=()
for cmd in "${!pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 \
    || missing+=("${pkg[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo -n"
if command -v apt-get >/dev/null && { [ -z "$sudo" ] || $sudo true 2>/dev/null; }; then
  echo "installing system packages for the end-to-end tests: ${missing[*]}"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null && exit 0
fi
echo "!! cannot install ${missing[*]} (need root and apt-get)." >&2
if [ "${CI:-}" = "true" ]; then
  echo "!! CI=true: the real-tunnel tests must run, so this is an error." >&2
  exit 1
fi
echo "!! The real-tunnel tests will SKIP on this machine; CI runs them." >&2
exit 0
