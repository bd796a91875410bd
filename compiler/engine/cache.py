"""The build cache: what the previous compile wrote, so unchanged work is not redone.

Layout: ``<output's parent>/.mvpn-cache/`` (mode 0700), one ``build-<id>.json`` (0600) per
output folder. The file holds **no artifact bytes and no key material**: per instance the
*input key* (a SHA-256 over the compiler fingerprint, a secret id, the QR flag, ``vpn.yaml``
and the instance's files), where its fragment lies in ``manifest.json`` (read back from the
verified manifest: the fragments are most of the state's bytes, and the manifest has them
anyway), and per file the SHA-256 that ``manifest.json`` publishes anyway plus the inode,
size, mtime and mode the file had when written. The spare build's record names an instance
it shares with the build as ``"="`` instead of repeating it. Unchanged artifacts are taken
from the previous build itself, and only after every file of it was found exactly as written
(same inode, size, mtime, mode; nothing added) — so an edited, replaced or deleted output
file makes the compile fall back to comparing bytes.

Trust rules: the state is ignored (and rebuilt) when it is unreadable, truncated, fails its
checksum, was made by another compiler (source, templates, dependencies or Python differ),
another secret, or another QR setting, or when the cache folder is not private to this user.
Deleting ``.mvpn-cache/`` is always safe: the next compile is a cold one, same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import shutil
import stat
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from compiler import COMPILER_ID
from compiler.checks.cross import EAGER
from compiler.engine.layout import cache_dir, spare_of, state_file
from compiler.engine.scan import Listing, Scanner, scan_files, take_early
from compiler.render.env import TEMPLATES

FORMAT = 7
_PACKAGE = Path(__file__).resolve().parents[1]
_DEPENDENCIES = ("jinja2", "cryptography", "zxing-cpp", "pydantic", "PyYAML")


class Entry(NamedTuple):
    """A file as found on disk: inode, size, mtime (ns) and mode bits."""

    ino: int
    size: int
    mtime_ns: int
    mode: int


def entry(st: os.stat_result) -> Entry:
    """The entry of a file from its status."""
    return Entry(st.st_ino, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))


def files_digest(files: dict[str, Entry]) -> str:
    """One digest over the entries of an instance's files (what the cache keeps of them)."""
    lines = "".join(f"{rel}\0{e.ino}\0{e.size}\0{e.mtime_ns}\0{e.mode}\n"
                    for rel, e in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


class StateError(Exception):
    """A part of the state read only when needed turned out not to be what was recorded."""


class LazySummary(Mapping[str, Any]):
    """A recorded cross-instance summary: its small parts at hand, the rest decoded if asked.

    A recompile reads every instance's summary, but most of one (its site subnets: 6.4 of
    the 6.5 MB of state at 100k peers) only of the instances near a changed one
    (:data:`compiler.checks.cross.EAGER`). Immutable: ``line`` stays its JSON, written back
    as is.
    """

    def __init__(self, eager: dict[str, Any], line: bytes) -> None:
        self.eager, self.line = eager, line
        self._all: dict[str, Any] | None = None

    def full(self) -> dict[str, Any]:
        """The whole summary (decoded once)."""
        if self._all is None:
            try:
                decoded = json.loads(self.line)
            except ValueError:
                decoded = None
            if not isinstance(decoded, dict) or any(decoded.get(k) != v
                                                    for k, v in self.eager.items()):
                raise StateError("a summary that is not the one recorded")
            self._all = decoded
        return self._all

    def __getitem__(self, key: str) -> Any:
        if key in self.eager:
            return self.eager[key]
        return self.full()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.full())

    def __len__(self) -> int:
        return len(self.full())

    def __bool__(self) -> bool:
        return True  # never empty: it has its eager parts (without decoding the rest)

    def __eq__(self, other: object) -> bool:
        """Equal to the same summary; one not as recorded equals nothing (it is not known)."""
        if isinstance(other, LazySummary):
            return self.line == other.line and self.eager == other.eager
        try:
            return self.full() == other
        except StateError:
            return False

    __hash__ = None  # type: ignore[assignment]  # a mapping: never a key


def _plain(value: Any) -> Any:
    """JSON for what :func:`json.dumps` does not know: a summary as read."""
    if isinstance(value, LazySummary):
        try:
            return value.full()
        except StateError:
            return None  # not known: as for an instance without one, it is checked again
    raise TypeError(f"not JSON: {type(value).__name__}")


@dataclasses.dataclass
class InstanceState:
    """One instance of a written build; ``files`` are its files on disk (not saved).

    Of a build verified by its digests (:meth:`BuildCache.load`), ``files`` is empty until
    :func:`instance_files` reads them, and ``count`` says how many there are.
    """

    name: str
    key: str
    fragment: str  # its part of manifest.json
    files: dict[str, Entry]
    written: int = 0
    unchanged: int = 0
    removed: int = 0  # files of the previous build's instance it no longer has (rendered)
    summary: Mapping[str, Any] | None = None  # what cross-instance checks need (incremental)
    #: Its own diagnostics (warnings), valid while ``key`` is: [code, message, file, line,
    #: column], the file relative to the tree (see compiler.incremental).
    diagnostics: list[list[Any]] = dataclasses.field(default_factory=list)
    digest: str = ""  # files_digest(files), once known
    stat_key: str | None = None  # the instance folder's stat key when its key was taken
    #: Where ``fragment`` lies in the build's ``manifest.json``: (byte offset, length).
    span: tuple[int, int] | None = None
    count: int = 0  # how many files, when ``files`` was not read (a verified digest)

    def file_count(self) -> int:
        """How many files the instance has."""
        return len(self.files) if self.files else self.count

    def files_digest(self) -> str:
        """The digest of this instance's files (worked out once)."""
        if not self.digest:
            self.digest = files_digest(self.files)
        return self.digest


@dataclasses.dataclass
class BuildState:
    """A written build: manifest head, instances, and the manifest file's own entry."""

    head: dict[str, Any]
    instances: dict[str, InstanceState]
    manifest: Entry | None = None
    spare: BuildState | None = None  # the build kept beside (see engine), once verified
    #: The spare's record as loaded, until :meth:`BuildCache.verify_spare` (saved back as is
    #: when it was not needed: a no-op leaves the spare as it was).
    spare_record: dict[str, Any] | None = None
    #: Keys of the tests.yaml assertions that held (see compiler.incremental.assertion_key).
    assertions: list[str] = dataclasses.field(default_factory=list)
    #: Whether the cross-instance checks found nothing over the recorded summaries.
    across_clean: bool = False
    #: Each instance's folders as the verification found them (see
    #: :func:`compiler.engine.scan.scan_spare`): recorded when this build becomes the spare.
    folders: dict[str, str | None] = dataclasses.field(default_factory=dict)

    def files(self) -> set[str]:
        """Every artifact and VERSION file (not the manifest), by path in the build."""
        return {rel for inst in self.instances.values() for rel in inst.files}


@cache
def compiler_fingerprint() -> str:
    """Changes with any change to the compiler's code, templates, dependencies or Python."""
    digest = hashlib.sha256(f"{COMPILER_ID}\0{sys.version}\0".encode())
    for name in _DEPENDENCIES:
        try:
            digest.update(f"{name}={importlib.metadata.version(name)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name}=?\0".encode())
    # *.xz: the RouterOS command trees, which decide routeros-unsupported.
    for base, pattern in ((_PACKAGE, "*.py"), (_PACKAGE, "*.xz"), (TEMPLATES, "*.j2")):
        for path in sorted(base.rglob(pattern)):
            digest.update(path.relative_to(base).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def private_dir(path: Path) -> bool:
    """Create ``path`` 0700 if missing; true when it is a folder only this user can use."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


class BuildCache:
    """The state of one output folder, in the cache folder beside it."""

    def __init__(self, out: Path, context: str, folder: Path | None = None) -> None:
        """``context`` names the secret id and options the state is valid for."""
        self.out = out.absolute()
        self.folder = folder if folder is not None else cache_dir(self.out)
        self.path = state_file(self.out, self.folder)
        self.context = f"{compiler_fingerprint()}/{context}"
        self.scanner: Scanner | None = None

    def start_scan(self) -> None:
        """Start scanning the build and its spare in a child (when there is a state to verify).

        The scans are most of a recompile's cost and need nothing but the folders: the child
        works while this process reads and checks the tree (see :mod:`compiler.engine.scan`).
        """
        if self.scanner is None and self.path.is_file():
            out, spare = str(self.out), str(spare_of(self.out))
            # Started by the process entry before the compiler was imported, when valid.
            self.scanner = take_early(out, spare, str(self.path)) or Scanner(
                out, spare, state=str(self.path))

    def close(self) -> None:
        """Stop the scanning child, if any (idempotent)."""
        if self.scanner is not None:
            self.scanner.close()

    def _scanner(self) -> Scanner:
        if self.scanner is None:  # no child started: scan here, when asked
            self.scanner = Scanner(str(self.out), str(spare_of(self.out)), fork=False,
                                   state=str(self.path))
        return self.scanner

    def read(self) -> tuple[BuildState, dict[str, str]] | None:
        """The recorded state and its instances' digests, not yet verified (see :meth:`load`)."""
        if not self.folder.is_dir():  # created by save(): a compile that fails leaves none
            return None
        if not private_dir(self.folder):
            return None
        try:
            raw = self.path.read_bytes()
            checksum, rest = raw.split(b"\n", 1)
            if hashlib.sha256(rest).hexdigest().encode() != checksum:
                return None
            _hint_line, head, *lines = rest.split(b"\n")  # see save
            data = json.loads(head)
            if data["format"] != FORMAT or data["context"] != self.context:
                return None
            if len(lines) != len(data["instances"]):
                return None
            for record, line in zip(data["instances"].values(), lines, strict=True):
                eager = record.pop("eager")
                record["summary"] = LazySummary(eager, line) if isinstance(eager, dict) else None
            state, digests = _decode(data)
            state.spare_record = data["spare"]
            state.assertions = [str(key) for key in data["assertions"]]
            state.across_clean = data["across_clean"] is True
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return state, digests

    def load(self, record: tuple[BuildState, dict[str, str]] | None = None,
             ) -> BuildState | None:
        """The verified state of the build in ``out``, or None (never trusted blindly).

        ``record``: what :meth:`read` gave (read now when None).
        """
        record = record if record is not None else self.read()
        if record is None:
            return None
        state, digests = record
        # Read while the child still scans (the main process would wait for it idle): the
        # manifest must be the file the state recorded, which the scan then verifies.
        if not _read_fragments(self.out, state):
            return None
        listing = self._scanner().build()
        if not _intact(listing, state, digests):
            return None
        assert listing is not None
        state.folders = {name: listing.instances[name][2]  # type: ignore[index]
                         for name in state.instances}
        if state.spare_record is not None:
            try:
                state.spare_record = _expand_spare(state.spare_record, state)
            except (KeyError, TypeError, AttributeError):
                state.spare_record = None  # a broken spare record: the build does without
        return state

    def verify_spare(self, state: BuildState) -> bool:
        """Verify the spare build of a loaded ``state``; true when it becomes ``state.spare``.

        Only a build that renders or links something needs the spare (a stat per file, as
        many as the output has), so a no-op compile does not verify it.
        """
        record, state.spare_record = state.spare_record, None
        if record is None:
            return False
        try:
            spare = _decode(record, inline=True)
            folders = _folders(record.get("folders"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        if spare_intact(self._scanner().spare(), *spare, folders, state):
            state.spare = spare[0]
        return state.spare is not None

    def save(self, state: BuildState) -> None:
        """Record ``state`` (atomically; a failure only means a cold compile next time)."""
        if not private_dir(self.folder):
            return
        spare = _shared(_encode(state.spare, inline=True) if state.spare is not None
                        else state.spare_record, state)
        build = _encode(state)
        # Lines: the hint the scanning child reads before the state is verified
        # (scan.read_hint: the folders of the spare's instances that have the build's files);
        # the record, with each of the build's summaries' eager parts; then each whole summary
        # on a line of its own. Summaries are nearly all of the state (6.4 of 6.5 MB at 100k
        # peers): one read is decoded only when needed (LazySummary), and written back as read.
        summaries = []
        for record in build["instances"].values():
            summary = record.pop("summary")
            summaries.append(summary)
            record["eager"] = ({key: summary[key] for key in EAGER if key in summary}
                               if summary is not None else None)
        lines = [
            json.dumps({"spare_folders": _hint(spare)}, separators=(",", ":")).encode(),
            json.dumps({"format": FORMAT, "context": self.context, **build, "spare": spare,
                        "assertions": state.assertions, "across_clean": state.across_clean},
                       separators=(",", ":"), default=_plain).encode(),
            *(summary.line if isinstance(summary, LazySummary)
              else json.dumps(summary, separators=(",", ":")).encode() for summary in summaries),
        ]
        checksum = hashlib.sha256()
        for i, line in enumerate(lines):
            checksum.update(b"\n" + line if i else line)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(checksum.hexdigest().encode() + b"\n")
                fh.write(b"\n".join(lines))
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)

    def forget(self) -> None:
        """Drop the state (before a build that may fail half-way)."""
        try:
            self.path.unlink(missing_ok=True)
        except IsADirectoryError:
            shutil.rmtree(self.path, ignore_errors=True)
        except OSError:
            pass


def _hint(spare: dict[str, Any] | None) -> dict[str, str]:
    """The folders' digest of each instance the spare shares with the build (``"="``)."""
    if spare is None:
        return {}
    folders = spare.get("folders") or {}
    return {name: folders[name] for name, rec in spare["instances"].items()
            if rec == "=" and isinstance(folders.get(name), str)}


def _folders(value: Any) -> dict[str, str]:
    """The spare record's folder digests (None or junk: none)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _record(i: InstanceState, inline: bool) -> dict[str, Any]:
    where: dict[str, Any] = {"fragment": i.fragment} if inline else {"span": i.span}
    return {"key": i.key, **where, "digest": i.files_digest(), "summary": i.summary,
            "stat": i.stat_key, "diagnostics": i.diagnostics}


def _encode(state: BuildState, inline: bool = False) -> dict[str, Any]:
    """The record of ``state``; fragments as spans of its manifest unless ``inline``.

    The spare's fragments are inline: the spare's own manifest is replaced when it is reused.
    """
    record = {
        "head": state.head,
        "manifest": state.manifest,
        "instances": {name: _record(i, inline or i.span is None)
                      for name, i in state.instances.items()},
    }
    if inline:  # the spare's: what its verification found of its folders (see scan_spare)
        record["folders"] = state.folders
    return record


def _shared(spare: dict[str, Any] | None, state: BuildState) -> dict[str, Any] | None:
    """The spare's record with each instance it shares with ``state`` written as ``"="``.

    The spare is the previous build: all its instances but the changed ones are the build's
    own (hard links, the same entries), so this halves the state.
    """
    if spare is None:
        return None
    mine = {name: _record(i, True) for name, i in state.instances.items()}
    return {**spare, "instances": {
        name: "=" if mine.get(name) == rec else rec for name, rec in spare["instances"].items()}}


def _expand_spare(spare: dict[str, Any], state: BuildState) -> dict[str, Any]:
    """The spare's record with every ``"="`` replaced by the build's instance it names."""
    def one(name: str, rec: Any) -> Any:
        if rec != "=":
            return rec
        return _record(state.instances[name], True)  # KeyError: a broken state, not used
    return {**spare, "instances": {name: one(name, rec)
                                   for name, rec in spare["instances"].items()}}


def fragment_ahead(out: Path, inst: InstanceState) -> str | None:
    """An instance's fragment as read from ``manifest.json`` before the build is verified.

    Only the bytes of its span are read (the manifest is ~50 MB at 100k peers); for
    rendering ahead (:func:`compiler.engine.engine.render_ahead`), which the compile uses only
    when the verified fragment turns out the same. None when it cannot be read.
    """
    if inst.span is None:
        return inst.fragment or None
    start, length = inst.span
    try:
        fd = os.open(out / "manifest.json", os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.pread(fd, length, start) if start >= 0 and length >= 0 else b""
        finally:
            os.close(fd)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(data) == length and _names(text, inst.name) else None


def _names(fragment: str, name: str) -> bool:
    """Whether ``fragment`` is the one of instance ``name`` (a span may point elsewhere)."""
    return fragment.startswith(f"    {json.dumps(name)}: ")


def _read_fragments(out: Path, state: BuildState) -> bool:
    """Fill in each instance's fragment from ``out``'s ``manifest.json``, the recorded file.

    False unless the file read has the inode, size, mtime and mode the state recorded (the
    scan holds the build to the same; see :meth:`BuildCache.load`).
    """
    try:
        # Read before the scan has looked at it: a FIFO put there must not block the compile.
        fd = os.open(out / "manifest.json",
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if entry(st) != state.manifest:
            return False
        # A read per fragment, not one of the whole file (~50 MB at 100k peers, whose
        # newly allocated pages cost more than the copy).
        for inst in state.instances.values():
            if inst.span is None:
                continue
            start, length = inst.span
            if start < 0 or length < 0 or start + length > st.st_size:
                return False
            data = os.pread(fd, length, start)
            inst.fragment = data.decode("utf-8")
            if len(data) != length or not _names(inst.fragment, inst.name):
                return False
    except (OSError, UnicodeDecodeError):
        return False
    finally:
        os.close(fd)
    return True


def _decode(data: dict[str, Any], inline: bool = False,
            ) -> tuple[BuildState, dict[str, str]]:
    """A state (files still unknown) and the digest of each instance's files.

    ``inline``: every fragment must be in the record (the spare's: its manifest is gone).
    """
    if inline and not all(isinstance(i.get("fragment"), str) for i in data["instances"].values()):
        raise ValueError("a spare instance without its fragment")
    state = BuildState(data["head"], {
        name: InstanceState(name, i["key"], str(i.get("fragment", "")), {},
                            summary=i["summary"], stat_key=i["stat"],
                            diagnostics=list(i["diagnostics"]), span=_span(i.get("span")))
        for name, i in data["instances"].items()
    }, Entry(*data["manifest"]))
    return state, {name: str(i["digest"]) for name, i in data["instances"].items()}


def _span(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    start, length = value
    if type(start) is not int or type(length) is not int:
        raise ValueError("a fragment's span is two integers")
    return start, length


def _intact(listing: Listing | None, state: BuildState, digests: dict[str, str]) -> bool:
    """The listing of a build is exactly ``state``: every file as written, nothing else.

    Sets each instance's digest and file count on success (``files`` stays unread).
    """
    if listing is None or listing.top != {"manifest.json", *state.instances}:
        return False
    if listing.manifest is None or Entry(*listing.manifest) != state.manifest:
        return False
    found = {name: listing.instances.get(name) for name in state.instances}
    if any(value is None or value[0] != digests[name] for name, value in found.items()):
        return False
    for name, inst in state.instances.items():
        inst.digest, inst.count = digests[name], found[name][1]  # type: ignore[index]
    return True


def spare_intact(listing: Listing | None, spare: BuildState, digests: dict[str, str],
                 folders: dict[str, str], build: BuildState) -> bool:
    """The listing of the spare is exactly ``spare`` (like :func:`_intact`).

    An instance the child did not list (digest ``""``) is intact when the spare's record
    gives it the files of the verified ``build`` (the same digest: hard links to the same
    inodes, whose status the output's scan just found as written) and its folders are as
    recorded when they were last verified file by file (``folders``): nothing was added,
    removed or renamed in them since.
    """
    if listing is None:
        return False
    mine = build.instances
    listed = {}
    for name, value in listing.instances.items():
        listed[name] = value
        if value is not None and value[0] == "" and name in digests:
            if not (value[2] is not None and folders.get(name) == value[2]
                    and name in mine and mine[name].digest == digests[name]):
                return False
            listed[name] = (digests[name], mine[name].count, value[2])
    return _intact(Listing(listing.top, listing.manifest, listed), spare, digests)


def instance_files(build: Path, inst: InstanceState) -> dict[str, Entry] | None:
    """The files of an instance of a verified build, one by one; None if they changed since.

    Verified builds are checked by digests only (:func:`_intact`): the files of the few
    instances rendered or linked again are read here, and must give the same digest.
    """
    if inst.files:
        return inst.files
    found = scan_files(str(build / inst.name), f"{inst.name}/")
    if found is None:
        return None
    files = {rel: Entry(*values) for rel, values in found.items()}
    if files_digest(files) != inst.digest:
        return None
    inst.files = files
    return files
