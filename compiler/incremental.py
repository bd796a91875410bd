"""Incremental check for ``mvpn compile``: parse and check only what changed, say all of it.

Every check but a few looks at one instance (with ``vpn.yaml``): schema, addresses, routes
within the instance, its firewall rules, its site scripts. What such a check finds depends
only on the instance's *input key*, so the cache keeps, per instance, its own diagnostics
(the warnings of a tree that compiled) next to the key and re-emits them while the key holds.
The checks that look across instances are registered in :mod:`compiler.checks.cross` and run
over small per-instance summaries. A ``tests.yaml`` assertion's verdict reads one instance
(the policy of the instance it starts from, :func:`compiler.checks.reach.decide`), so an
assertion that held is not evaluated again while its text and that instance's key are the
same (:func:`assertion_key`). A compile:

1. reads every file (no parsing; unchanged folders not even that, see
   :func:`compiler.loader.status.stat_keys`) and computes each instance's input key,
2. parses and checks, as a sub-tree, the instances whose key changed and those an
   assertion without a recorded verdict starts from (with ``vpn.yaml`` and ``tests.yaml``),
3. runs the cross-instance checks over all summaries, and adds the recorded diagnostics of
   the instances it did not check.

The diagnostics are then exactly those of ``mvpn check`` (the same set, so the same sorted
output). Where that could not be guaranteed it gives up and the compile runs the full check:
at any error (nothing is built then anyway), a tree without instances (``tree-empty``), a
diagnostic outside every instance folder that a check (not the walk) found, and whenever a
cross-instance check finds something — the summaries hold no positions, and such findings
are rare. :class:`Memo` is what a compile records for the next one, after either check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from compiler.checks import cross, run_checks
from compiler.diagnostics import CODES, Diagnostic, Diagnostics
from compiler.engine.cache import BuildState
from compiler.loader import status
from compiler.loader.source import SourceFile
from compiler.loader.walk import RawTree, parse_source, read_quoted, walk
from compiler.model.access import Assertion
from compiler.model.estate import Estate, build_estate
from compiler.render.support import check_routeros

#: Codes the cross-instance checks report: never kept with one instance (they depend on others).
ACROSS = frozenset(check.code for check in cross.CROSS_INSTANCE)


def _text(source: SourceFile | None) -> str:
    return "\0absent" if source is None else source.text


def instance_keys(raw: RawTree, context: str) -> dict[str, str]:
    """The input key of each instance: everything its checks and artifacts depend on."""
    common = hashlib.sha256(f"{context}\0{_text(raw.vpn)}\0".encode())
    keys = {}
    for name, inst in raw.instances.items():
        digest = common.copy()
        digest.update(f"{name}\0{inst.name_ok}\0{_text(inst.source)}\0".encode())
        for peer, source in inst.peers.items():
            digest.update(f"{peer}\0{len(source.text)}\0{source.text}".encode())
        keys[name] = digest.hexdigest()
    return keys




def assertion_key(test: Assertion, keys: dict[str, str]) -> str | None:
    """What an assertion's verdict depends on; None when it starts from no instance.

    :func:`compiler.checks.reach.decide` reads the assertion (from, to, port; expect is
    compared with the verdict) and the policy of the instance the packet starts from: that
    instance's ``instance.yaml`` and peers, and nothing of any other instance. Its input key
    stands for all of that (it also covers ``vpn.yaml`` and the compiler). Where the assertion
    stands in ``tests.yaml`` is left out: one that holds reports nothing, at no position.
    """
    key = keys.get(test.from_[0])
    if key is None:
        return None
    return hashlib.sha256(f"{key}\0{test!r}".encode()).hexdigest()


def instance_of(diag: Diagnostic, root: Path, instances: Iterable[str]) -> str | None:
    """The instance whose folder holds the diagnostic's file (None: the tree's top)."""
    if not diag.file.is_relative_to(root):
        return None
    parts = diag.file.relative_to(root).parts
    return parts[0] if len(parts) > 1 and parts[0] in instances else None


def encode(diag: Diagnostic, root: Path) -> list[Any]:
    """A diagnostic as the cache keeps it: [code, message, file from the root, line, column]."""
    return [diag.code, diag.message, diag.file.relative_to(root).as_posix(), diag.line,
            diag.column]


def own_diagnostics(found: Iterable[Diagnostic], root: Path,
                    instances: Iterable[str]) -> tuple[dict[str, list[list[Any]]], bool]:
    """Each instance's own diagnostics (encoded), and whether any belongs to none or several.

    Cross-instance findings depend on other instances too: they are never kept with one.
    """
    own: dict[str, list[list[Any]]] = {}
    stray = False
    for diag in found:
        name = instance_of(diag, root, instances)
        if name is None or diag.code in ACROSS:
            stray = True
            continue
        own.setdefault(name, []).append(encode(diag, root))
    return own, stray


def decode(item: list[Any], root: Path) -> Diagnostic:
    """A diagnostic back from its encoded form (see :func:`own_diagnostics`)."""
    code, message, rel, line, column = item
    return Diagnostic(code, CODES[code].severity, message, root / rel, line, column)


@dataclasses.dataclass
class Memo:
    """What a compile without errors records for the next one's incremental check."""

    summaries: dict[str, Mapping[str, Any]]  # every instance's cross-instance summary
    diagnostics: dict[str, list[list[Any]]]  # each instance's own, from its checks (encoded)
    walked: set[str]  # instances the walk reported on: read again next time, not skipped
    assertions: list[str]  # the keys of every assertion of tests.yaml (all held)
    across_clean: bool  # the cross-instance checks found nothing

    def record(self, state: BuildState, stats: dict[str, str | None]) -> bool:
        """Put the memo into the state of the build just written (``stats``: its stat keys).

        Returns whether that changed the state (after a no-op compile it often does not).
        """
        before = _recorded(state)
        for name, inst in state.instances.items():
            inst.summary = self.summaries.get(name)
            inst.diagnostics = self.diagnostics.get(name, [])
            inst.stat_key = None if name in self.walked else stats.get(name)
        state.assertions = self.assertions
        state.across_clean = self.across_clean
        return _recorded(state) != before


def _recorded(state: BuildState) -> tuple[Any, ...]:
    """What :meth:`Memo.record` sets in a state."""
    return ([(name, i.summary, i.diagnostics, i.stat_key) for name, i in state.instances.items()],
            state.assertions, state.across_clean)


def assertion_keys(tests: list[tuple[int, Assertion]], keys: dict[str, str]) -> list[str]:
    """The keys of the assertions that start from an instance (see :func:`assertion_key`)."""
    return [key for _index, test in tests if (key := assertion_key(test, keys)) is not None]


def memo_of_check(estate: Estate, diags: Diagnostics, walked: int,
                  keys: dict[str, str]) -> Memo:
    """The memo of a full check without errors; its first ``walked`` diagnostics are the walk's."""
    assert diags.errors == 0
    found = list(diags)
    names = estate.raw.instances.keys()
    own, _stray = own_diagnostics(found[walked:], estate.root, names)
    return Memo(
        {name: cross.summary(inst) for name, inst in estate.instances.items()}, own,
        {owner for d in found[:walked]
         if (owner := instance_of(d, estate.root, names)) is not None},
        assertion_keys(estate.tests, keys),
        not any(d.code in ACROSS for d in found),
    )


@dataclasses.dataclass
class Incremental:
    """A tree checked incrementally: its diagnostics (those of ``mvpn check``), what to reuse."""

    estate: Estate  # the instances checked again; ``raw``: every file read (for quoting)
    diagnostics: Diagnostics
    keys: dict[str, str]  # input key of every instance
    reuse: set[str]  # unchanged instances whose build can be kept
    memo: Memo


def valid_tests(raw: RawTree) -> list[tuple[int, Assertion]]:
    """The valid assertions of tests.yaml (its diagnostics come with the sub-tree's check)."""
    if raw.tests is None:
        return []
    return build_estate(RawTree(raw.root, tests=raw.tests), Diagnostics()).tests


def _read(root: Path, raw: RawTree, names: set[str]) -> None:
    """Read the instances ``names``, skipped by their stat keys, into ``raw`` after all."""
    more = walk(root, Diagnostics(), parse=False,
                skip=frozenset(raw.instances.keys() - names))
    for name in names:
        raw.instances[name] = more.instances[name]


def check_incrementally(
    root: Path, context: str, previous: BuildState, stats: dict[str, str | None], taken: int
) -> Incremental | None:
    """Check ``root`` reusing ``previous``; None when the full check must say it.

    ``stats`` are this compile's :func:`compiler.loader.status.stat_keys`: instances whose
    stat key is the one recorded are not even read, but for the files their recorded
    diagnostics quote; ``taken`` (ns) is no later than when ``stats`` were taken.
    """
    diags = Diagnostics()
    old = previous.instances
    unread = frozenset(
        name for name, key in stats.items()
        if key is not None and name in old and old[name].stat_key == key
        and old[name].summary is not None
    )
    # An unread instance's recorded warnings are printed again with their lines: only the
    # files they quote are read (a folder where one changed since is read whole after all).
    # A file changed since its folder's key was taken is newer than this: the key allows
    # none changed in the two seconds before.
    real, since = Path(os.path.realpath(root)), taken - status.RACY_NS
    quoted: list[SourceFile] = []
    for name in sorted(unread):
        texts = [read_quoted(real, rel, since)
                 for rel in sorted({str(d[2]) for d in old[name].diagnostics})]
        if all(source is not None for source in texts):
            quoted.extend(source for source in texts if source is not None)
        else:
            unread -= {name}
    raw = walk(root, diags, parse=False, skip=unread)
    raw.quoted = quoted
    if diags.errors or not raw.instances:
        return None
    walked = len(diags)
    read = dataclasses.replace(raw, instances={
        name: inst for name, inst in raw.instances.items() if name not in unread})
    keys = {**instance_keys(read, context), **{name: old[name].key for name in unread}}
    reuse = {name for name, key in keys.items()
             if name in old and old[name].key == key and old[name].summary is not None}
    for source in (raw.vpn, raw.tests):
        if source is not None:
            parse_source(source, diags)
    tests = valid_tests(raw)
    held = set(previous.assertions)
    # Assertions that held over the same inputs hold again: only the others are evaluated,
    # so the instances they start from are checked (and read) even when unchanged.
    starts = {test.from_[0] for _index, test in tests if assertion_key(test, keys) not in held}
    checked = {name for name in raw.instances if name not in reuse or name in starts}
    if checked & unread:
        _read(root, raw, set(checked & unread))
    sub = dataclasses.replace(raw, instances={
        name: inst for name, inst in raw.instances.items() if name in checked})
    for inst in sub.instances.values():
        for source in [inst.source, *inst.peers.values()]:
            if source is not None:
                parse_source(source, diags)
    estate = build_estate(sub, diags)
    estate.tests = [(index, test) for index, test in estate.tests
                    if assertion_key(test, keys) not in held]
    run_checks(estate, diags)
    check_routeros(estate, diags)
    if diags.errors:
        return None
    found = list(diags)
    own, stray = own_diagnostics(found[walked:], raw.root, raw.instances)
    if stray:  # found by a check outside one instance's folder, or across instances
        return None
    fresh = {name: cross.summary(inst) for name, inst in estate.instances.items()}
    summaries = {name: old[name].summary or {} for name in raw.instances if name not in checked}
    summaries.update(fresh)
    # The last compile found these summaries clean: when every re-checked instance kept its
    # summary (and no instance came or went), the cross-instance checks would say the same.
    changed = frozenset(name for name, value in fresh.items()
                        if name not in old or old[name].summary != value)
    same = previous.across_clean and summaries.keys() == old.keys() and not changed
    # Clean last time, with the unchanged summaries among them: only what involves a changed
    # one can fail now (an instance gone only takes pairs away).
    if not same and not cross.clean(summaries, changed if previous.across_clean else None):
        return None
    for name in raw.instances.keys() - checked:
        own[name] = old[name].diagnostics
        diags.extend(decode(item, raw.root) for item in old[name].diagnostics)
    walk_owners = {owner for d in found[:walked]
                   if (owner := instance_of(d, raw.root, raw.instances)) is not None}
    memo = Memo(summaries, own, walk_owners, assertion_keys(tests, keys), True)
    return Incremental(dataclasses.replace(estate, raw=raw), diags, keys, reuse, memo)
