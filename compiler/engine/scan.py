"""What a build folder holds, per instance: one digest over its files' status, one pass.

The cache trusts an unchanged instance of the previous build only after every file of it was
found exactly as written (:mod:`compiler.engine.cache`). That is a status per file: 212,840
of them at 100k peers, for the output and again for the spare build kept beside it, which is
most of what a recompile costs. So the scan is made cheap and taken off the critical path:

- a folder is listed once and each name is looked up relative to the open folder
  (``fstatat``: no path walked from ``/`` per file), and each file becomes one line of text
  of the digest (:func:`compiler.engine.cache.files_digest`'s lines, so the same digest),
  not an object;
- the spare's files are mostly hard links to the output's (same inode): their lines are
  taken from the output's scan by inode, without a second status call;
- :class:`Scanner` runs both scans in a forked child from the start of the compile, while
  this process reads the tree, checks and renders what changed. The child returns per
  instance a digest and a count (a few KB), never the files; the few instances whose files
  are needed (those rendered or linked again) are scanned once more where they are needed
  (:func:`scan_files`) and held to the same digest.

Without ``fork`` (:func:`compiler.engine.portable.can_fork`) the scans run here, when they
are first needed: the same results, one core.

``mvpn compile`` starts the child even earlier, from the process entry before the compiler is
imported (:func:`start_early`, about 0.35 s sooner); the compile adopts it only for the same
folders and an unchanged state file, i.e. when no other compile ran in between
(:func:`take_early`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import stat
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from compiler.engine import layout, portable
from compiler.loader.status import RACY_NS, stat_keys

_FMT = stat.S_IFMT
_IFMT = 0o170000  # the file type bits (S_IFMT as a mask: no call per file)
_DIR, _REG = stat.S_IFDIR, stat.S_IFREG


@dataclasses.dataclass(frozen=True)
class Listing:
    """A build folder as found: top-level names, ``manifest.json``'s status, each instance.

    ``manifest`` is (inode, size, mtime, mode) or None when it is not a file. An instance is
    (digest, file count, folders), or None when its folder holds anything but 0755 folders
    and files. ``folders`` digests its folders' status (:func:`_folders_digest`; None when
    one changed in the last two seconds). Of the spare, an instance the child did not list
    because its folders are as the state recorded has the digest ``""`` (see
    :func:`scan_spare`): the cache then holds it to the output's files.
    """

    top: frozenset[str]
    manifest: tuple[int, int, int, int] | None
    instances: dict[str, tuple[str, int, str | None] | None]

    def encode(self) -> bytes:
        """One line of JSON (what the child sends)."""
        return json.dumps([sorted(self.top), self.manifest, self.instances],
                          separators=(",", ":")).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> Listing:
        """The listing of :meth:`encode`; ValueError (and the like) when it is not one."""
        top, manifest, instances = json.loads(line)
        return cls(frozenset(top), tuple(manifest) if manifest is not None else None,
                   {name: _value(value) for name, value in instances.items()})


def _value(value: Any) -> tuple[str, int, str | None] | None:
    if value is None:
        return None
    digest, count, folders = value
    if not isinstance(digest, str) or type(count) is not int or not (
            folders is None or isinstance(folders, str)):
        raise ValueError("not an instance's listing")
    return digest, count, folders


#: An inode of the output to the tail of its digest line (see :func:`scan_spare`).
Known = dict[int, str]


class _Found(NamedTuple):
    """What the scan of one instance of the output found (kept in the child for the spare's)."""

    digest: str
    files: int  # how many
    folders: str | None  # :func:`_folders_digest`
    rels: list[str]  # its folders, from the build's top ("one/", "one/hub/")
    lines: list[str]  # its files' digest lines

    def value(self) -> tuple[str, int, str | None]:
        return self.digest, self.files, self.folders

    def known(self) -> Known:
        """Its files' lines by inode (the spare's hard links to them need no status call)."""
        known: Known = {}
        for line in self.lines:
            tail = line[line.index("\0"):]
            known[int(tail.split("\0", 2)[1])] = tail
        return known


def _folders_digest(folders: list[tuple[str, os.stat_result]], now: int) -> str | None:
    """One digest over the status of an instance's folders, taken *before* they are listed.

    While it holds, nothing was added to, removed from or renamed in any of them since
    (inode, mtime and ctime, which no one can set back): the spare's copy of an instance,
    verified file by file once, is then verified by its folders alone (:func:`scan_spare`).
    None when a folder changed in the last two seconds: another change within the same
    timestamp tick would leave it unchanged.
    """
    lines = []
    for rel, st in folders:
        if max(st.st_mtime_ns, st.st_ctime_ns) > now - RACY_NS:
            return None
        lines.append(f"{rel}\0{st.st_ino}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n")
    lines.sort()
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _instance(path: str, prefix: str, known: Known | None, now: int) -> _Found | None:
    """The files below ``path`` (names from ``prefix``) and its folders; None if odd."""
    lines: list[str] = []
    folders: list[tuple[str, os.stat_result]] = []
    todo = [(path, prefix)]
    lstat = os.stat
    while todo:
        folder, rel = todo.pop()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            folders.append((rel, os.fstat(fd)))  # before it is listed: see _folders_digest
            statuses: list[os.stat_result | None]
            if known is None:  # the output's: a status per name (the loop is the scan's cost)
                names = os.listdir(fd)
                statuses = [lstat(name, dir_fd=fd, follow_symlinks=False) for name in names]
            else:
                with os.scandir(fd) as items:
                    pairs = [(item.name, item.inode()) for item in items]
                names = [name for name, _ino in pairs]
                statuses = _statuses(fd, rel, pairs, known, lines)
            for name, st in zip(names, statuses, strict=True):
                if st is None:  # a hard link to a file of the output: its line is taken
                    continue
                mode = st.st_mode
                if mode & _IFMT == _REG:
                    lines.append(f"{rel}{name}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
                                 f"\0{mode & 0o7777}\n")
                elif mode & _IFMT == _DIR and mode & 0o7777 == 0o755:
                    todo.append((f"{folder}/{name}", f"{rel}{name}/"))
                else:
                    return None
        finally:
            os.close(fd)
    lines.sort()
    digest = hashlib.sha256("".join(lines).encode()).hexdigest()
    return _Found(digest, len(lines), _folders_digest(folders, now),
                  [rel for rel, _st in folders], lines)


def _statuses(fd: int, rel: str, pairs: list[tuple[str, int]], known: Known,
              lines: list[str]) -> list[os.stat_result | None]:
    """The status of each name of a spare's folder; None (its line added) for a known inode."""
    found: list[os.stat_result | None] = []
    for name, ino in pairs:
        tail = known.get(ino)
        if tail is not None:  # a hard link to a file of the output: same status
            lines.append(f"{rel}{name}{tail}")
            found.append(None)
        else:
            found.append(os.stat(name, dir_fd=fd, follow_symlinks=False))
    return found


def _top(folder: str) -> tuple[dict[str, os.DirEntry[str]], tuple[int, int, int, int] | None]:
    """A build folder's entries by name, and ``manifest.json``'s status (None: not a file)."""
    with os.scandir(folder) as entries:
        top = {item.name: item for item in entries}
    manifest = None
    if "manifest.json" in top:
        st = top["manifest.json"].stat(follow_symlinks=False)
        if _FMT(st.st_mode) == _REG:
            manifest = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode & 0o7777)
    return top, manifest


def _is_folder(item: os.DirEntry[str]) -> bool:
    st = item.stat(follow_symlinks=False)
    return _FMT(st.st_mode) == _DIR and st.st_mode & 0o7777 == 0o755


def scan_output(folder: str, now: int | None = None, claim: Callable[[int], bool] | None = None,
                reverse: bool = False) -> tuple[Listing, dict[str, _Found]] | None:
    """The listing of the build in ``folder``, and what was found of each instance.

    None when it cannot be listed. ``now`` (ns): when the scan started (for
    :func:`_folders_digest`). ``claim``: the instances are shared with another process (by
    position in name order, :class:`compiler.engine.portable.Claims`); only those it grants
    are in the listing (the other process has the rest), from the last one when ``reverse``.
    """
    now = time.time_ns() if now is None else now
    try:
        top, manifest = _top(folder)
        found: dict[str, _Found] = {}
        instances: dict[str, tuple[str, int, str | None] | None] = {}
        names = sorted(name for name in top if name != "manifest.json")
        for i in range(len(names) - 1, -1, -1) if reverse else range(len(names)):
            if claim is not None and not claim(i):
                continue
            name, item = names[i], top[names[i]]
            one = _instance(item.path, f"{name}/", None, now) if _is_folder(item) else None
            if one is not None:
                found[name] = one
            instances[name] = one.value() if one is not None else None
    except OSError:
        return None
    return Listing(frozenset(top), manifest, instances), found


def scan_spare(folder: str, output: dict[str, _Found], hint: dict[str, str],
               only: Collection[str] | None = None) -> Listing | None:
    """The listing of the spare build in ``folder``, after the output's scan found ``output``.

    ``hint``: the folders' digest the state recorded of each spare instance that has the
    output's files (hard links to them). Such an instance whose folders are still as
    recorded is not listed (digest ``""``): its files are the output's, just verified. This
    is only a hint, read by the child before the state is verified: the cache holds the
    answer to the verified state (:func:`compiler.engine.cache.spare_intact`), so a wrong
    hint costs a listing or the spare, never a wrong build. Any other instance is listed,
    its hard links to the output's files taken by inode without a status call. ``only``:
    the instances listed (those of the output this process scanned).
    """
    try:
        top, manifest = _top(folder)
        instances: dict[str, tuple[str, int, str | None] | None] = {}
        for name, item in top.items():
            if name == "manifest.json" or (only is not None and name not in only):
                continue
            mine = output.get(name)
            if mine is not None and name in hint and _folders_at(folder,
                                                                 mine.rels) == hint[name]:
                instances[name] = ("", 0, hint[name])
                continue
            one = (_instance(item.path, f"{name}/", mine.known() if mine is not None else {},
                             time.time_ns()) if _is_folder(item) else None)
            instances[name] = one.value() if one is not None else None
    except OSError:
        return None
    return Listing(frozenset(top), manifest, instances)


def _folders_at(build: str, rels: list[str]) -> str | None:
    """The folders' digest of ``rels`` in ``build`` as they are now (None: not all 0755 folders).

    Each folder's ancestors within the instance are among ``rels``, so a symlink on the way
    fails its own status.
    """
    folders = []
    for rel in rels:
        try:
            st = os.stat(f"{build}/{rel}", follow_symlinks=False)
        except OSError:
            return None
        if _FMT(st.st_mode) != _DIR or st.st_mode & 0o7777 != 0o755:
            return None
        folders.append((rel, st))
    lines = sorted(f"{rel}\0{st.st_ino}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n"
                   for rel, st in folders)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def read_hint(state: str | None) -> dict[str, str]:
    """The spare's folder digests from the state file's second line ({} when there are none).

    Read by the child before the state is verified; see :func:`scan_spare`.
    """
    if state is None:
        return {}
    try:  # a regular file only (a FIFO put there would block the child, and the compile)
        fd = os.open(state, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {}
            fh.readline(100)
            hint = json.loads(fh.readline(_HINT_MAX))["spare_folders"]
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    if not isinstance(hint, dict):
        return {}
    return {k: v for k, v in hint.items() if isinstance(k, str) and isinstance(v, str)}


#: The longest hint line read (about 80 bytes an instance).
_HINT_MAX = 16 << 20


def scan_files(folder: str, prefix: str) -> dict[str, tuple[int, int, int, int]] | None:
    """Every file below ``folder`` by name (from ``prefix``): (inode, size, mtime, mode).

    None at anything but 0755 folders and files, or when it cannot be listed. For the one
    instance of a build whose files are needed one by one (the digest says whether they are
    still the ones the scan found).
    """
    found: dict[str, tuple[int, int, int, int]] = {}
    todo = [(folder, prefix)]
    try:
        top = os.lstat(folder).st_mode
        if _FMT(top) != _DIR or top & 0o7777 != 0o755:
            return None
        while todo:
            path, rel = todo.pop()
            with os.scandir(path) as entries:
                for item in entries:
                    st = item.stat(follow_symlinks=False)
                    kind = _FMT(st.st_mode)
                    if kind == _REG:
                        found[rel + item.name] = (st.st_ino, st.st_size, st.st_mtime_ns,
                                                  st.st_mode & 0o7777)
                    elif kind == _DIR and st.st_mode & 0o7777 == 0o755:
                        todo.append((item.path, f"{rel}{item.name}/"))
                    else:
                        return None
    except OSError:
        return None
    return found


class _Forked:
    """A forked child that sends lines down a pipe, then exits; :meth:`close` kills and reaps it.

    Ctrl-C reaches the whole process group: the child ignores SIGINT (the parent ends it), and
    it dies with its parent (:func:`compiler.engine.portable.die_with_parent`).
    """

    pid: int | None = None
    pipe: IO[bytes] | None = None
    claims: portable.Claims | None = None  # the work it shares with this process, if any

    def _spawn(self, lines: Callable[[], Iterator[bytes]]) -> None:
        """Fork a child that writes each of ``lines()``; without a child, nothing happens."""
        read, write = os.pipe()
        # SIGINT stays blocked from before the fork until the child ignores it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        parent = os.getpid()
        try:
            pid = os.fork()
            if pid == 0:  # the child: never returns
                _child(read, write, lines, parent)
        except OSError:  # no process to spare (EAGAIN, ENOMEM): the work is done here
            os.close(read)
            return
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(write)
        self.pid, self.pipe = pid, os.fdopen(read, "rb")

    def _line(self) -> bytes:
        """The child's next line (b"" when it died or ended)."""
        return self.pipe.readline() if self.pipe is not None else b""

    def claim(self, item: int) -> bool:
        """Whether this process takes ``item`` of the work shared with the child (alone: all)."""
        return self.claims is None or self.claims.claim(item)

    def close(self) -> None:
        """Stop the child if it still runs, and reap it."""
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None
        if self.claims is not None:  # a compile per process call would leak a descriptor
            self.claims.close()


def _child(read: int, write: int, lines: Callable[[], Iterator[bytes]], parent: int) -> Any:
    """A forked child's life: ``lines()`` down the pipe, then exit (no clean-up of the heap)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        portable.die_with_parent(parent)
        os.close(read)
        for line in lines():
            data = line
            while data:
                data = data[os.write(write, data):]
        code = 0
    finally:
        os._exit(code)


class Scanner(_Forked):
    """The listings of a build and its spare, made in a forked child (or here, on demand).

    The child starts scanning at once; :meth:`build` and :meth:`spare` wait for its answer.
    :meth:`close` stops it (a no-op compile does not wait for the spare's scan) and reaps it.
    A child that dies or answers nonsense gives None: nothing is then trusted (a cold build).
    """

    def __init__(self, out: str, spare: str, fork: bool | None = None,
                 state: str | None = None) -> None:
        """Start scanning ``out`` then ``spare``; ``fork`` None: wherever the OS can fork.

        ``state``: the cache state file, whose hint spares listing most of the spare.
        """
        self.out, self.spare_path, self.state = out, spare, state
        self.results: list[Listing | None] = []
        self.found: dict[str, _Found] = {}
        # self.claims: the instances, shared with the child: what it has not come to when
        # the compile asks for the listing, the compile scans itself (it would only wait).
        if portable.can_fork() if fork is None else fork:
            self.claims = portable.Claims()
            self._spawn(self._listings)

    def _scan(self) -> Listing | None:
        """The next scan (the output's, then the spare's), made in this process."""
        if not self.results:
            scanned = scan_output(self.out)
            if scanned is None:
                return None
            listing, self.found = scanned
            return listing
        found, self.found = self.found, {}  # only the spare's scan needs it
        return scan_spare(self.spare_path, found, read_hint(self.state))

    def _listings(self) -> Iterator[bytes]:
        """In the child: the instances it claims of both builds, a line each; then it waits.

        It holds its claims until it is stopped: ended, they would go with it, and the
        compile would scan those instances again.
        """
        assert self.claims is not None
        scanned = scan_output(self.out, claim=self.claims.claim)
        yield scanned[0].encode() if scanned is not None else b"null\n"
        if scanned is not None:
            found = scanned[1]
            spare = scan_spare(self.spare_path, found, read_hint(self.state), only=found)
            yield spare.encode() if spare is not None else b"null\n"
        while True:
            signal.pause()

    def _theirs(self) -> Listing | None:
        """The child's next listing (None when it died or answered nonsense)."""
        line = self._line()
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            if line.endswith(b"\n"):
                return None if line == b"null\n" else Listing.decode(line)
        return None

    def _shared_build(self) -> Listing | None:
        """The output's listing: what the child scanned, and the rest, scanned here."""
        claims = self.claims
        now = time.time_ns()
        mine = scan_output(self.out, now, reverse=True,
                           claim=claims.claim if claims is not None else lambda _i: False)
        theirs = self._theirs()
        if mine is None or theirs is None:
            return None
        self.found = dict(mine[1])

        def rest(name: str) -> tuple[str, int, str | None] | None:
            one = _instance_at(self.out, name, None, now)
            if one is not None:
                self.found[name] = one
            return one.value() if one is not None else None

        return _merged(mine[0], theirs, rest)

    def _shared_spare(self) -> Listing | None:
        """The spare's listing: the child's instances, and those scanned here."""
        found, self.found = self.found, {}
        mine = scan_spare(self.spare_path, found, read_hint(self.state), only=found)
        theirs = self._theirs()
        if mine is None or theirs is None:
            return None
        now = time.time_ns()

        def rest(name: str) -> tuple[str, int, str | None] | None:
            one = _instance_at(self.spare_path, name, {}, now)  # stat'ed file by file
            return one.value() if one is not None else None

        return _merged(mine, theirs, rest)

    def build(self) -> Listing | None:
        """The output's listing."""
        if not self.results:
            self.results.append(self._scan() if self.pipe is None else self._shared_build())
        return self.results[0]

    def spare(self) -> Listing | None:
        """The spare's listing (after the output's)."""
        if self.build() is None:
            return None
        if len(self.results) < 2:
            self.results.append(self._scan() if self.pipe is None else self._shared_spare())
        return self.results[1]


def _instance_at(build: str, name: str, known: Known | None, now: int) -> _Found | None:
    """An instance of the build in ``build`` scanned by name (None: not a 0755 folder, or odd)."""
    try:
        st = os.stat(f"{build}/{name}", follow_symlinks=False)
        if _FMT(st.st_mode) != _DIR or st.st_mode & 0o7777 != 0o755:
            return None
        return _instance(f"{build}/{name}", f"{name}/", known, now)
    except OSError:
        return None


def _merged(mine: Listing, theirs: Listing,
            rest: Callable[[str], tuple[str, int, str | None] | None]) -> Listing | None:
    """Two processes' listings of one build, and ``rest(name)`` of what neither scanned.

    None when they did not find the same build (it changed while they scanned).
    """
    if mine.top != theirs.top or mine.manifest != theirs.manifest:
        return None
    instances = {**theirs.instances, **mine.instances}
    for name in sorted(mine.top - {"manifest.json"} - instances.keys()):
        instances[name] = rest(name)
    return Listing(mine.top, mine.manifest, instances)


class _StatKeys(_Forked):
    """The stat keys of a tree (:func:`compiler.loader.status.stat_keys`), taken in a child."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.started = time.time_ns()  # the keys are taken later than this
        #: The folders, shared with the compile (see :func:`take_early_keys`).
        self.claims = portable.Claims()
        self._spawn(self._keys)

    def _keys(self) -> Iterator[bytes]:
        keys = stat_keys(Path(self.root), claim=self.claim)
        yield json.dumps(keys, separators=(",", ":")).encode() + b"\n"
        # Then wait, holding the claims, until the compile has read the keys and stops this
        # child (close): ended, its claims would go with it, and the compile would key
        # those folders again.
        while True:
            signal.pause()

    def keys(self) -> dict[str, str | None] | None:
        """The child's keys; None when it gave none (it died, or could not be forked)."""
        line = self._line()
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            keys = json.loads(line)
            if isinstance(keys, dict) and all(
                    isinstance(k, str) and (v is None or isinstance(v, str))
                    for k, v in keys.items()):
                return keys
        return None


@dataclasses.dataclass
class _Early:
    """What the process entry started before the compile knew it wanted it, and for what."""

    scanner: Scanner | None  # None once the compile took it
    out: str
    spare: str
    state: tuple[int, int, int] | None
    keys: _StatKeys | None  # None once the compile took them

    def close(self) -> None:
        for child in (self.scanner, self.keys):
            if child is not None:
                child.close()


#: What :func:`start_early` started, until the compile takes or drops it.
_early: list[_Early] = []


def _identity(path: str) -> tuple[int, int, int] | None:
    """The state file as found (inode, size, mtime), or None when it is not a file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def start_early(out: str, root: str | None) -> None:
    """Take ``root``'s stat keys, and scan the build in ``out``, in children, from now.

    Called with the folders ``mvpn compile`` was given, before the rest of the compiler is
    imported: both run (on the other cores) while this process imports. Every compile with
    the cache takes stat keys; only a recompile (a cache state for ``out`` exists) scans.
    """
    if _early or not portable.can_fork():
        return
    path = os.path.abspath(out)
    state_path = str(layout.state_file(Path(path)))
    state = _identity(state_path)
    spare = str(layout.spare_of(Path(path)))
    keys = _StatKeys(os.path.abspath(root)) if root is not None else None
    scanner = Scanner(path, spare, state=state_path) if state is not None else None
    _early.append(_Early(scanner, path, spare, state, keys))


def take_early(out: str, spare: str, state: str) -> Scanner | None:
    """The early scan, if it was started for these folders and the state is unchanged.

    It began before the output lock was taken: another compile may have changed the build
    meanwhile. One that did saved or removed the state file, so its identity tells. A scan
    not taken is stopped (the stat keys stay: they do not depend on the build).
    """
    early = _early[0] if _early else None
    if early is None or early.scanner is None:
        return None
    scanner, early.scanner = early.scanner, None
    if (early.out, early.spare) == (out, spare) and early.state == _identity(state):
        return scanner
    scanner.close()
    return None


class TakenKeys(NamedTuple):
    """Stat keys, and a time (ns) no later than when they were taken."""

    keys: dict[str, str | None]
    taken: int


def take_early_keys(root: Path) -> TakenKeys | None:
    """The stat keys taken early, if they are ``root``'s (None: take them now).

    This process keys the folders the child has not come to yet (from the last one back,
    while the child goes on from the first): it would only wait for them otherwise. Any
    folder neither keyed (a child that died, a folder made meanwhile) is keyed here after.
    """
    if not _early or _early[0].keys is None:
        return None
    child, _early[0].keys = _early[0].keys, None
    try:
        if child.root != os.path.abspath(root):
            return None
        mine = stat_keys(root, claim=child.claim, reverse=True)
        keys = {**(child.keys() or {}), **mine}
        with os.scandir(root) as entries:
            folders = {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        if folders - keys.keys():
            keys.update(stat_keys(root, only=folders - keys.keys()))
        return TakenKeys({name: keys.get(name) for name in folders}, child.started)
    finally:
        child.close()


def drop_early() -> None:
    """Stop what the entry started and nothing took (a compile that stops, or waits)."""
    while _early:
        _early.pop().close()
