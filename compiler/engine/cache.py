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
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from compiler import COMPILER_ID
from compiler.engine.layout import cache_dir, spare_of
from compiler.render.env import TEMPLATES

FORMAT = 6
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


@dataclasses.dataclass
class InstanceState:
    """One instance of a written build; ``files`` are its files on disk (not saved)."""

    name: str
    key: str
    fragment: str  # its part of manifest.json
    files: dict[str, Entry]
    written: int = 0
    unchanged: int = 0
    summary: dict[str, Any] | None = None  # what cross-instance checks need (incremental)
    #: Its own diagnostics (warnings), valid while ``key`` is: [code, message, file, line,
    #: column], the file relative to the tree (see compiler.incremental).
    diagnostics: list[list[Any]] = dataclasses.field(default_factory=list)
    digest: str = ""  # files_digest(files), once known
    stat_key: str | None = None  # the instance folder's stat key when its key was taken
    #: Where ``fragment`` lies in the build's ``manifest.json``: (byte offset, length).
    span: tuple[int, int] | None = None

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
        name = hashlib.sha256(str(self.out).encode()).hexdigest()[:16]
        self.path = self.folder / f"build-{name}.json"
        self.context = f"{compiler_fingerprint()}/{context}"

    def load(self) -> BuildState | None:
        """The verified state of the build in ``out``, or None (never trusted blindly)."""
        if not self.folder.is_dir():  # created by save(): a compile that fails leaves none
            return None
        if not private_dir(self.folder):
            return None
        try:
            raw = self.path.read_bytes()
            checksum, body = raw.split(b"\n", 1)
            if hashlib.sha256(body).hexdigest().encode() != checksum:
                return None
            data = json.loads(body)
            if data["format"] != FORMAT or data["context"] != self.context:
                return None
            state, digests = _decode(data)
            state.spare_record = data["spare"]
            state.assertions = [str(key) for key in data["assertions"]]
            state.across_clean = data["across_clean"] is True
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _intact(self.out, state, digests) or not _read_fragments(self.out, state):
            return None
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
        except (ValueError, KeyError, TypeError):
            return False
        verified = {e.ino: e for i in state.instances.values() for e in i.files.values()}
        if _intact(spare_of(self.out), *spare, verified):
            state.spare = spare[0]
        return state.spare is not None

    def save(self, state: BuildState) -> None:
        """Record ``state`` (atomically; a failure only means a cold compile next time)."""
        if not private_dir(self.folder):
            return
        body = json.dumps({
            "format": FORMAT,
            "context": self.context,
            **_encode(state),
            "spare": _shared(_encode(state.spare, inline=True) if state.spare is not None
                             else state.spare_record, state),
            "assertions": state.assertions,
            "across_clean": state.across_clean,
        }, separators=(",", ":")).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                # Two writes, not one joined copy of the body (~80 MB at 100k peers).
                fh.write(hashlib.sha256(body).hexdigest().encode() + b"\n")
                fh.write(body)
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


def _record(i: InstanceState, inline: bool) -> dict[str, Any]:
    where: dict[str, Any] = {"fragment": i.fragment} if inline else {"span": i.span}
    return {"key": i.key, **where, "digest": i.files_digest(), "summary": i.summary,
            "stat": i.stat_key, "diagnostics": i.diagnostics}


def _encode(state: BuildState, inline: bool = False) -> dict[str, Any]:
    """The record of ``state``; fragments as spans of its manifest unless ``inline``.

    The spare's fragments are inline: the spare's own manifest is replaced when it is reused.
    """
    return {
        "head": state.head,
        "manifest": state.manifest,
        "instances": {name: _record(i, inline or i.span is None)
                      for name, i in state.instances.items()},
    }


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


def _read_fragments(out: Path, state: BuildState) -> bool:
    """Fill in each instance's fragment from the (verified) ``manifest.json`` of ``out``."""
    try:
        raw = (out / "manifest.json").read_bytes()
        for inst in state.instances.values():
            if inst.span is None:
                continue
            start, length = inst.span
            if start < 0 or length < 0 or start + length > len(raw):
                return False
            inst.fragment = raw[start:start + length].decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
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


def _scan(folder: str, prefix: str, found: dict[str, Entry],
          known: dict[int, Entry] | None = None) -> bool:
    """Entries of every file below ``folder``; False at anything but 0755 folders and files.

    ``known`` maps inodes already verified (the current build's, when scanning the spare:
    most of its files are hard links to them) to their entries, saving a stat each.
    """
    with os.scandir(folder) as entries:
        for item in entries:
            if known is not None and item.is_file(follow_symlinks=False) and (
                same := known.get(item.inode())
            ) is not None:
                found[prefix + item.name] = same
                continue
            st = item.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if stat.S_IMODE(st.st_mode) != 0o755 or not _scan(
                    item.path, f"{prefix}{item.name}/", found, known
                ):
                    return False
            elif stat.S_ISREG(st.st_mode):
                found[prefix + item.name] = entry(st)
            else:
                return False
    return True


def _intact(out: Path, state: BuildState, digests: dict[str, str],
            known: dict[int, Entry] | None = None) -> bool:
    """Every file of ``out`` is exactly as written, and there is nothing else.

    Fills in each instance's ``files`` from the scan on success.
    """
    try:
        with os.scandir(out) as entries:
            top = {item.name: item for item in entries}
        if set(top) != {"manifest.json", *state.instances}:
            return False
        if entry(top["manifest.json"].stat(follow_symlinks=False)) != state.manifest:
            return False
        for name, inst in state.instances.items():
            item = top[name]
            if not item.is_dir(follow_symlinks=False) or stat.S_IMODE(
                item.stat(follow_symlinks=False).st_mode
            ) != 0o755:
                return False
            files: dict[str, Entry] = {}
            if not _scan(item.path, f"{name}/", files, known) or files_digest(files) != digests[
                name
            ]:
                return False
            inst.files, inst.digest = files, digests[name]
    except OSError:
        return False
    return True
