"""Write a build atomically: stage beside the old one, then swap it in.

The new build is written into a sibling staging folder; files whose bytes and
mode are unchanged are hard-linked from the previous build instead of being
rewritten. The swap is one ``renameat2(RENAME_EXCHANGE)`` where the kernel has
it (the old build stays complete until the instant it is replaced), else two
renames. An interrupted build leaves only a staging folder, removed next time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Final, NamedTuple

from compiler.diagnostics import UsageError
from compiler.engine import layout, portable


@dataclasses.dataclass
class WriteStats:
    """What a write did: files written anew, reused unchanged, removed."""

    written: int = 0
    unchanged: int = 0
    removed: int = 0


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths where the platform can; False where it cannot."""
    return portable.exchange(a, b)


def _dead(path: Path) -> bool:
    pid = layout.owner_pid(path)
    return not (pid is not None and pid != os.getpid() and portable.alive(pid))


def _clean_stale(out: Path) -> None:
    """Remove what killed builds left; a backup is the previous build if ``out`` is gone."""
    for backup in layout.backups(out):
        if _dead(backup):
            if not out.exists():
                backup.rename(out)  # killed between the two renames of the fallback swap
            else:
                shutil.rmtree(backup, ignore_errors=True)
    for stale in layout.stages(out):
        if _dead(stale):
            shutil.rmtree(stale, ignore_errors=True)


def _old_files(out: Path) -> set[str]:
    if not out.is_dir():
        return set()
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def check_output_dir(out: Path) -> None:
    """Refuse to replace anything that is not an earlier mvpn build (or empty)."""
    if not out.exists():
        return
    if not out.is_dir() or out.is_symlink():
        raise UsageError(f"output '{out}' exists and is not a directory")
    if any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise UsageError(
            f"output '{out}' is not empty and holds no mvpn manifest.json; "
            "refusing to replace it (choose another -o DIR)"
        )
    if (out / "manifest.json").is_file() and not _looks_like_a_build(out):
        raise UsageError(
            f"output '{out}' holds a manifest.json that mvpn did not write; "
            "refusing to replace it (choose another -o DIR)"
        )


#: How every manifest.json mvpn writes begins (see build.manifest).
_MANIFEST_HEAD = b'{\n  "format": '


def _looks_like_a_build(out: Path) -> bool:
    """Whether ``out`` is an earlier mvpn build, which a compile may replace.

    A web app's ``manifest.json`` must not make a project folder look like one (the swap
    would delete it). The manifest's head says so; if it was damaged, the folder still
    is a build when everything else in it is an instance folder with its VERSION file.
    """
    with contextlib.suppress(OSError):
        with open(out / "manifest.json", "rb") as handle:
            head = handle.read(256)
        if head.startswith(_MANIFEST_HEAD) and b'"compiler": "mvpn ' in head:
            return True
        return all(p.name == "manifest.json" or (p.is_dir() and not p.is_symlink()
                                                 and (p / "VERSION").is_file())
                   for p in out.iterdir())
    return False


def check_output(out: Path, root: Path) -> None:
    """Refuse an output folder mvpn must never build into, before anything is created.

    The build is staged beside ``out`` and swapped in by renaming, and the cache lives
    beside it too, so ``out`` must be a folder of its own inside a real parent: not ``/``,
    not a mount point (a mount cannot be renamed), not a symlink (dangling or not: the
    swap would replace the link, not its target), not the config tree or a folder inside
    it or around it (every artifact would then be read as input: ``secret-in-repo``), and
    not a folder that holds something other than an earlier mvpn build.
    """
    if out.is_symlink():
        raise UsageError(f"output '{out}' is a symlink; give the folder it should be "
                         "(a build is swapped in by renaming, which would replace the link)")
    absolute = Path(os.path.abspath(out))
    if absolute.parent == absolute:
        raise UsageError(f"output '{out}' is the root folder; choose a folder of its own, "
                         "e.g. -o build")
    real = Path(os.path.realpath(absolute.parent)) / absolute.name
    tree = Path(os.path.realpath(root))
    if real == tree or tree.is_relative_to(real) or real.is_relative_to(tree):
        raise UsageError(f"output '{out}' overlaps the config tree '{root}'; build outside "
                         "it (artifacts hold keys, which must never be in the tree)")
    if os.path.ismount(real):
        raise UsageError(f"output '{out}' is a mount point; a build is swapped in by "
                         f"renaming, so build into a folder inside it, e.g. {out}/build")
    check_output_dir(out)


def prepare_stage(out: Path, base: Path | None = None) -> Path:
    """Check ``out``, clean what killed builds left, and create this process's stage.

    With ``base`` (a spare build), the stage is that folder, renamed: an interrupted build
    then leaves a stale stage, removed next time, never a half-updated spare.
    """
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out)
    stage = layout.stage_of(out)
    shutil.rmtree(stage, ignore_errors=True)
    if base is not None:
        base.rename(stage)
    else:
        stage.mkdir()
        os.chmod(stage, 0o755)
    return stage


#: Artifacts that are programs (the hub's installer), by their path inside an instance.
EXECUTABLE: Final = frozenset({"hub/apply.sh"})


def file_mode(rel: str, secret: bool) -> int:
    """The mode of a build file: 0600 with a secret, 0755 for a program, else 0644."""
    if secret:
        return 0o600
    return 0o755 if rel.partition("/")[2] in EXECUTABLE else 0o644


def write_new(target: Path | str, data: bytes | Iterable[bytes], mode: int) -> os.stat_result:
    """Create ``target`` with ``data`` (or its pieces) and exactly ``mode``; returns its status.

    Plain ``os.write`` calls, no buffered file object: at 100k peers this runs 200k times,
    and the object (its buffer, flush, close) and an ``fchmod`` per file took 40 µs a file
    where this takes 30 µs (10,000 files of 11.6 KB, file creation included). The mode is
    set again only when the file did not get it (a umask or a default ACL narrowed it): the
    status is read anyway, so the common case costs no ``fchmod``.
    """
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        for piece in (data,) if isinstance(data, bytes) else data:
            _write_all(fd, piece)
        status = os.fstat(fd)
        if status.st_mode & 0o7777 != mode:
            os.fchmod(fd, mode)  # the artifact's mode is exact, whatever narrowed it
            status = os.fstat(fd)
        return status
    except OSError as exc:  # a full disk fails the write, which names no file: name it
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, os.fspath(target)) from None
        raise
    finally:
        os.close(fd)


class Tail(NamedTuple):
    """The end of a file to write over one whose start is known (see :func:`rewrite`)."""

    at: int  # the file's bytes before this offset already are the new ones...
    expect: tuple[int, int, int, int]  # ...if the file is still this: inode, size, mtime, mode
    data: Iterable[bytes]  # the new bytes from ``at`` on


def rewrite(target: Path | str, data: bytes | Iterable[bytes], mode: int,
            tail: Tail | None = None) -> os.stat_result:
    """Write ``target`` anew with ``data`` and exactly ``mode``, over the file there if any.

    For the manifest of a stage made from the spare build (about 50 MB at 100k peers): on
    the build machines, writing it into a new file cost 65-110 ms (every page of it newly
    allocated) and overwriting the spare's own copy 7 ms. The file is written over only
    when it is a regular file with that mode, owned by this user, and linked nowhere else
    (else another path would see it change); otherwise it is replaced by a new file.

    ``tail``: when the file written over is still exactly ``tail.expect`` (a file whose bytes
    the caller knows), only ``tail.data`` is written, from ``tail.at`` on: the bytes before it
    are left as they are (the manifest of a site added: about half of it is not written
    again). Otherwise all of ``data`` is written.
    """
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return write_new(target, data, mode)
    except OSError:  # a symlink, a folder...: not ours to write through
        _remove(target)
        return write_new(target, data, mode)
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == os.geteuid()
                and stat.S_IMODE(st.st_mode) == mode):
            os.close(fd)
            fd = -1
            _remove(target)
            return write_new(target, data, mode)
        size = 0
        if tail is not None and tail.expect == (st.st_ino, st.st_size, st.st_mtime_ns,
                                                stat.S_IMODE(st.st_mode)):
            size, data = tail.at, tail.data
            os.lseek(fd, size, os.SEEK_SET)
        for piece in (data,) if isinstance(data, bytes) else data:
            _write_all(fd, piece)
            size += len(piece)
        os.ftruncate(fd, size)  # what is left of a longer old file
        return os.fstat(fd)
    except OSError as exc:  # a full disk fails the write, which names no file: name it
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, os.fspath(target)) from None
        raise
    finally:
        if fd >= 0:
            os.close(fd)


def _remove(path: Path | str) -> None:
    """Remove whatever ``path`` is (a folder with its contents)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``: a write may take only part (a signal, a nearly full disk)."""
    done = os.write(fd, data)
    if done == len(data):
        return
    view = memoryview(data)
    while done < len(data):
        wrote = os.write(fd, view[done:])
        if wrote == 0:  # no progress and no error: the device takes nothing more
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += wrote


def link_file(source: Path | str, target: Path | str) -> None:
    """Keep an unchanged file: hard-link the very same file into the stage."""
    os.link(source, target)


def swap_in(stage: Path, out: Path) -> Path | None:
    """Swap the finished ``stage`` in for ``out``; returns where the previous build now is."""
    if not out.exists():
        stage.rename(out)
        return None
    if _exchange(stage, out):
        return stage
    backup = layout.backup_of(out)
    out.rename(backup)
    try:
        stage.rename(out)
    except BaseException:
        backup.rename(out)  # put the previous build back before failing
        raise
    return backup


def same_parts(path: Path, parts: Iterable[bytes], mode: int, size: int | None = None) -> bool:
    """Whether the file at ``path`` has ``mode`` and is exactly ``parts``, joined.

    Read a piece at a time: the file may be the 75 MB manifest of a 100k-peer build.
    ``size``: the length of ``parts`` joined, when known: a file of another size is not
    read (nor ``parts`` made).
    """
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_mode & 0o777 != mode or (size is not None and st.st_size != size):
            return False
        return all(fh.read(len(part)) == part for part in parts) and fh.read(1) == b""
    return False


def _same(path: Path, data: bytes, mode: int) -> bool:
    with contextlib.suppress(OSError):
        st = path.stat()
        if st.st_size != len(data) or (st.st_mode & 0o777) != mode:
            return False
        return path.read_bytes() == data
    return False
