#!/usr/bin/env bash
# Fetch the official OASIS SARIF 2.1.0 schema for the output tests. No wheel ships it, but the
# sarif-pydantic sdist on PyPI does; extract it into the venv (not the repo).
set -euo pipefail
venv=${1:-.venv}
dest="$venv/share/sarif-schema-2.1.0.json"
[ -s "$dest" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/pip" download -q --no-deps --no-binary :all: -d "$tmp" "sarif-pydantic==0.6.2"
mkdir -p "$(dirname "$dest")"
tar -xzf "$tmp"/sarif_pydantic-*.tar.gz -C "$tmp"
found=$(find "$tmp" -name 'sarif-schema-2.1.0.json' | head -n 1)
[ -n "$found" ] || { echo "sarif-schema-2.1.0.json not found in the sarif-pydantic sdist" >&2; exit 1; }
cp "$found" "$dest"
