#!/usr/bin/env python3
"""Derive mvpn's compact RouterOS command-tree data from the crawled inspect files.

    scripts/routeros-data.py [--source DIR] [--out DIR] [--check]

The source is the read-only reference folder of the people building mvpn (by default
``../shared/routeros`` beside the repository: ``versions/<v>-inspect.json.xz`` for every
RouterOS minor version 7.9-7.24, ``7.22.3-deep-inspect.json`` for enum values, LICENSE and
PROVENANCE.md). Nothing else in the project reads that folder: the derived form lives in
``compiler/routeros/data/`` and ships inside the package.

What is derived (``tree.json.xz``, format 1):

* ``tree``: the union of the menus, commands and arguments of all versions, each with a
  bit mask of the versions that have it (bit i = ``versions[i]``; 0 means "same as its
  parent"), so one load serves every version. 61 % of the nodes exist in every version, so
  this is about 1/16 of 16 separate trees. Argument descriptions are dropped.
* ``enums``: the legal values of enum arguments, decided here once (the rules are in
  :func:`_enum`) from the 7.22.3 deep-inspect completions, the only version crawled with them.
* ``properties``: per menu, the property names ``get value-name`` completes in 7.22.3
  (``where`` clauses and ``get`` may use them).
* ``sources``: the sha256 of every source file, also recorded in ``MANIFEST.json`` with the
  sha256 of the derived file (``tests/test_routeros_data.py`` checks both).

``--check`` derives into memory and exits 1 if the committed data differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import re
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "routeros"
DEFAULT_OUT = ROOT / "compiler" / "routeros" / "data"
DEEP = "7.22.3-deep-inspect.json"
FORMAT = 1

_JsonDict = dict[str, Any]
PROVENANCE = """\
# Provenance of tree.json.xz

`tree.json.xz` is derived by `scripts/routeros-data.py` from the RouterOS command-tree data
described below (public domain, The Unlicense: see LICENSE here). It keeps the names of the
menus, commands and arguments of every version with the versions that have them, the enum
values of the deep-inspect crawl and the property names of its menus; it drops the argument
descriptions. `MANIFEST.json` records the sha256 of every source file and of the derived file.

The source files' own provenance follows.

"""
_OPEN_NAME_ARGS = frozenset({"chain", "jump-target"})  # user-chosen names, never enums
_ALLOWED_METAS = frozenset({"!", ",", "!,"})
_ENUM_DESC = re.compile(r"[\w.-]+(\|[\w.-]+)*(\[,\w+\*\])?")
_NUMBER = re.compile(r"-?\d+|0x[0-9a-fA-F]+")
_TYPE_CODE = {"dir": "d", "path": "p", "cmd": "c", "arg": "a"}


def version_key(name: str) -> tuple[int, ...]:
    """``7.9.2-inspect.json.xz`` -> (7, 9, 2)."""
    return tuple(int(p) for p in name.split("-", maxsplit=1)[0].split("."))


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _children(node: _JsonDict) -> dict[str, _JsonDict]:
    return {k: v for k, v in node.items() if not k.startswith("_") and isinstance(v, dict)}


def _merge(union: _JsonDict, node: _JsonDict, bit: int) -> None:
    """Add ``node``'s children to ``union`` (name -> {"t", "m", "c"}), setting ``bit``."""
    for name, child in _children(node).items():
        typ = _TYPE_CODE[child["_type"]]
        entry = union.setdefault(name, {"t": typ, "m": 0, "c": {}})
        if entry["t"] != typ:  # never happens in 7.9-7.24; refuse rather than guess
            raise SystemExit(f"{name}: type changes between versions ({entry['t']}, {typ})")
        entry["m"] |= bit
        _merge(entry["c"], child, bit)


def _encode(union: _JsonDict, parent_mask: int) -> _JsonDict:
    """The compact form: menus ``[t, mask, {children}]``, commands ``["c", mask, args, {}]``.

    A command's arguments that exist whenever the command does are one space-separated
    string; only the others get a mask of their own. ``mask`` 0 means the parent's mask.
    """
    out: _JsonDict = {}
    for name in sorted(union):
        entry = union[name]
        mask = 0 if entry["m"] == parent_mask else entry["m"]
        if entry["t"] == "c":
            args = entry["c"]
            common = " ".join(a for a in sorted(args) if args[a]["m"] == entry["m"])
            extra = {a: args[a]["m"] for a in sorted(args) if args[a]["m"] != entry["m"]}
            out[name] = ["c", mask, common, extra]
        else:
            out[name] = [entry["t"], mask, _encode(entry["c"], entry["m"])]
    return out


def _get(root: _JsonDict, path: list[str]) -> _JsonDict | None:
    node: Any = root
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _object_names(deep: _JsonDict) -> tuple[frozenset[str], frozenset[str]]:
    """Names of objects on the crawled router (``numbers`` completions) and its interfaces."""
    names: set[str] = set()
    stack = [deep]
    while stack:
        node = stack.pop()
        for key, child in _children(node).items():
            if child.get("_type") == "arg":
                if key in ("numbers", "number"):
                    names.update(child.get("_completion") or ())
            else:
                stack.append(child)
    iface = _get(deep, ["interface", "set", "numbers"]) or {}
    return frozenset(names), frozenset(iface.get("_completion") or ())


def _enum(deep_arg: _JsonDict, desc: str | None, name: str,
          objects: tuple[frozenset[str], frozenset[str]]) -> list[str] | None:
    """``[negatable flag, values...]`` if the argument is an enum, else None.

    An argument counts as an enum only when all of: its completion exists, has at least two
    values, all of style ``arg``/``none`` (object names, file paths and other syntax metas
    disqualify it; ``!`` negation and ``,`` lists are allowed); its description is absent or
    an ``a|b|c`` pattern (otherwise the completions are only special keywords of a richer
    type); the values are not all numbers; they do not look like objects of the crawled
    router (not all names of existing items, none an interface name); and it is not an
    argument that takes user-chosen names (``chain``, ``jump-target``).
    """
    completion: _JsonDict = deep_arg.get("_completion") or {}
    if name in _OPEN_NAME_ARGS or not completion:
        return None
    metas = {k for k, v in completion.items() if v.get("style") == "syntax-meta"}
    styles = {v.get("style") for k, v in completion.items() if k not in metas}
    if not metas <= _ALLOWED_METAS or not styles <= {"arg", "none"}:
        return None
    values = {k.strip('"') for k in completion if k not in metas}
    desc = desc or deep_arg.get("desc")
    if desc:
        if not _ENUM_DESC.fullmatch(desc):
            return None
        values |= set(desc.split("[")[0].split("|"))
    if len(values) < 2 or all(_NUMBER.fullmatch(v) for v in values):
        return None
    names, interfaces = objects
    if values <= names or values & interfaces:
        return None
    negatable = "!" in metas or "!," in metas
    return ["!" if negatable else "", *sorted(values)]


def _deep_data(deep: _JsonDict, newest: _JsonDict) -> tuple[_JsonDict, _JsonDict]:
    """(enums keyed ``"menu/path cmd arg"``, properties keyed ``"menu/path"``)."""
    objects = _object_names(deep)
    enums: _JsonDict = {}
    props: _JsonDict = {}

    def visit(node: _JsonDict, path: list[str]) -> None:
        for name, child in _children(node).items():
            typ = child.get("_type")
            if typ == "cmd":
                for arg, spec in _children(child).items():
                    desc = (_get(newest, [*path, name, arg]) or {}).get("desc")
                    enum = _enum(spec, desc, arg, objects)
                    if enum is not None:
                        enums[f"{'/'.join(path)} {name} {arg}"] = enum
                if name == "get":
                    completion = (child.get("value-name") or {}).get("_completion")
                    if completion:
                        props["/".join(path)] = " ".join(sorted(completion))
            elif typ in ("dir", "path"):
                visit(child, [*path, name])

    visit(deep, [])
    return dict(sorted(enums.items())), dict(sorted(props.items()))


def derive(source: Path) -> tuple[bytes, _JsonDict]:
    """(the xz-compressed data, its manifest) from the reference folder ``source``."""
    files = sorted((source / "versions").glob("*-inspect.json.xz"),
                   key=lambda p: version_key(p.name))
    if not files:
        raise SystemExit(f"no versions/*-inspect.json.xz in {source}")
    versions = [p.name.split("-")[0] for p in files]
    union: _JsonDict = {}
    newest: _JsonDict = {}
    for i, path in enumerate(files):
        newest = json.loads(lzma.decompress(path.read_bytes()))
        _merge(union, newest, 1 << i)
    deep = json.loads((source / DEEP).read_bytes())
    enums, props = _deep_data(deep, newest)
    sources = {f"versions/{p.name}": sha256(p) for p in files}
    sources[DEEP] = sha256(source / DEEP)
    data = {
        "format": FORMAT, "versions": versions, "deep_version": DEEP.split("-", maxsplit=1)[0],
        "sources": sources, "tree": _encode(union, (1 << len(files)) - 1),
        "enums": enums, "properties": props,
    }
    text = json.dumps(data, separators=(",", ":"), sort_keys=False).encode()
    # xz's output is a pure function of its input and preset: the file is reproducible.
    blob = lzma.compress(text, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=9 | lzma.PRESET_EXTREME)
    manifest = {
        "format": FORMAT, "versions": versions, "sources": sources,
        "derived": {"tree.json.xz": hashlib.sha256(blob).hexdigest()},
        "json_sha256": hashlib.sha256(text).hexdigest(),
    }
    return blob, manifest


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or ``--check``) ``compiler/routeros/data``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    blob, manifest = derive(args.source)
    manifest_text = json.dumps(manifest, indent=2) + "\n"
    if args.check:
        old = args.out / "tree.json.xz"
        # The JSON inside is compared, not the xz bytes: another liblzma may compress
        # the same text differently.
        same = old.is_file() and lzma.decompress(old.read_bytes()) == lzma.decompress(blob)
        print("up to date" if same else f"{args.out} differs from {args.source}")
        return 0 if same else 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tree.json.xz").write_bytes(blob)
    (args.out / "MANIFEST.json").write_text(manifest_text, encoding="utf-8")
    shutil.copyfile(args.source / "LICENSE", args.out / "LICENSE")
    original = (args.source / "PROVENANCE.md").read_text(encoding="utf-8")
    (args.out / "PROVENANCE.md").write_text(PROVENANCE + original, encoding="utf-8")
    print(f"wrote {args.out}: {len(blob)} bytes for {len(manifest['versions'])} versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
