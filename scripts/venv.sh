#!/usr/bin/env bash
# Create the project's virtualenv. Debian ships venv support in a separate package
# (python3-venv); install it when we may, otherwise say exactly what is missing.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
[ -x "$venv/bin/python" ] && exit 0
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "mvpn needs Python 3.11 or newer; $python is $("$python" --version 2>&1)" >&2
  exit 2
fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv" \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$python" -m venv "$venv"
  else
    echo "cannot create $venv: install Debian's python$ver-venv (apt-get install python3-venv)" >&2
    exit 2
  fi
fi
