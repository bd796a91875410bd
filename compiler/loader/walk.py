"""Walk a config tree safely: nothing outside ROOT, nothing special, nothing huge.

Layout (SPEC §2)::

    ROOT/vpn.yaml
    ROOT/tests.yaml                       (reachability assertions, SPEC §8)
    ROOT/<instance>/instance.yaml
    ROOT/<instance>/peers/<peer>.yaml
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Final

from compiler.diagnostics import Diagnostics
from compiler.loader.names import NAME_RE
from compiler.loader.source import MAX_BYTES, OtherFile, SourceFile
from compiler.loader.yamlread import YamlError, decode, parse

YAML_SUFFIXES: Final = (".yaml", ".yml")


def shown(name: str) -> str:
    """A file name safe to print on one line: control characters as escapes."""
    if name.isprintable():
        return name
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


def _name_ok(name: str) -> bool:
    # fullmatch, not match: NAME_RE ends in `$`, which also matches before a final newline.
    return NAME_RE.fullmatch(name) is not None


@dataclasses.dataclass
class RawInstance:
    """An instance folder as found on disk."""

    name: str
    dir: Path
    name_ok: bool
    source: SourceFile | None = None
    peers: dict[str, SourceFile] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RawTree:
    """Everything the loader read: parsed YAML files and other files (for the secret scan)."""

    root: Path
    vpn: SourceFile | None = None
    tests: SourceFile | None = None
    instances: dict[str, RawInstance] = dataclasses.field(default_factory=dict)
    #: Files outside the layout, each an :class:`OtherFile`: stat'ed only, never kept in memory
    #: (typed as their base class so they sit in one list with the YAML sources).
    others: list[SourceFile] = dataclasses.field(default_factory=list)
    #: Files of instances not read (``skip``), read only to quote the diagnostics recorded
    #: of them (see :func:`read_quoted`): not parsed, not part of their instance.
    quoted: list[SourceFile] = dataclasses.field(default_factory=list)

    def sources(self) -> list[SourceFile]:
        """Every parsed YAML file (and each file read to quote a diagnostic), in a stable order."""
        out = [s for s in (self.vpn, self.tests) if s is not None]
        for inst in self.instances.values():
            if inst.source is not None:
                out.append(inst.source)
            out.extend(inst.peers.values())
        return out + self.quoted


def _is_yaml(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES)


def _follows_to_dir(entry: os.DirEntry[str]) -> bool:
    """A directory, or a symlink that resolves to one (a symlink loop resolves to nothing)."""
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


class _Walker:
    """One walk of a tree; :func:`walk` is the entry point."""

    def __init__(self, root: Path, diags: Diagnostics, parse: bool = True,
                 skip: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.diags = diags
        self.parse = parse
        self.skip = skip
        #: Real paths of the folders being walked (root first): a symlink to one is a loop.
        self.open: list[Path] = [root]
        #: Real paths of folders already walked as "other" files: each is walked once.
        self.seen: set[Path] = set()

    def _inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def safe_target(self, entry: os.DirEntry[str], path: Path | None = None) -> Path | None:
        """The real path of an entry if it may be read, else ``None`` (with a diagnostic)."""
        path = Path(entry.path) if path is None else path
        if entry.is_symlink():
            real = Path(os.path.realpath(path))
            if not self._inside(real) or not real.exists():
                self.diags.add(
                    "file-unsafe",
                    f"'{shown(entry.name)}' is a symlink that leaves the config tree "
                    "(or dangles); replace it with the file itself",
                    path,
                )
                return None
            if real in self.open:
                self.diags.add(
                    "file-unsafe",
                    f"'{shown(entry.name)}' is a symlink loop: it points to "
                    f"'{shown(real.name)}', a folder that contains it; remove it",
                    path,
                )
                return None
            return real
        return path

    def _open(self, entry: os.DirEntry[str], real: Path, path: Path) -> int | None:
        """A read-only descriptor of a regular file of at most 1 MiB, else None (reported)."""
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            self.diags.add("file-unsafe",
                           f"cannot open '{shown(entry.name)}': {exc.strerror}", path)
            return None
        st = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(st.st_mode):
            problem = f"'{shown(entry.name)}' is not a regular file; it was not read"
        elif st.st_size > MAX_BYTES:
            problem = (f"'{shown(entry.name)}' is {st.st_size} bytes, over the 1 MiB limit; "
                       "it was not read")
        if problem is not None:
            os.close(fd)
            self.diags.add("file-unsafe", problem, path)
            return None
        return fd

    def read_file(self, entry: os.DirEntry[str], folder: Path) -> SourceFile | None:
        """Read a YAML file of at most 1 MiB; refuse anything else without reading it.

        ``folder`` is the one ``entry`` was listed in: its path joined with the name shares
        the folder's parts (``Path(entry.path)`` parsed them anew, twice): at 100k files
        7 MiB and about 0.4 s less.
        """
        path = folder / entry.name
        real = self.safe_target(entry, path)
        if real is None:
            return None
        fd = self._open(entry, real, path)
        if fd is None:
            return None
        try:
            # os.read, not a buffered file object: this runs once per peer file.
            chunks = [os.read(fd, MAX_BYTES + 1)]
            while chunks[-1] and sum(map(len, chunks)) <= MAX_BYTES:
                chunks.append(os.read(fd, MAX_BYTES + 1))
            data = b"".join(chunks)
        finally:
            os.close(fd)
        try:
            text = decode(data)
        except YamlError as exc:
            self.diags.add("yaml-syntax", exc.message, path, exc.line, exc.column)
            return SourceFile(path, data.decode("utf-8", errors="replace"), ok=False)
        source = SourceFile(path, text)
        if self.parse:
            parse_source(source, self.diags)
        else:
            source.ok = False  # not parsed yet: see parse_source
        return source

    def scan(self, directory: Path) -> list[os.DirEntry[str]]:
        """Entries of a directory, hidden ones included, in name order."""
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            self.diags.add(
                "file-unsafe", f"cannot list '{shown(directory.name)}': {exc.strerror}",
                directory,
            )
            return []
        return sorted(entries, key=lambda e: e.name)

    def is_dir(self, entry: os.DirEntry[str], report: bool = True) -> bool:
        """A directory we may descend into (an in-tree symlink to one, not a loop, counts).

        ``report=False`` only asks "is this a folder to treat as one?": it reports nothing and
        says no to a loop, which the caller then hands to :meth:`other` to be reported.
        """
        if not _follows_to_dir(entry):
            return False
        if not report and entry.is_symlink():
            return Path(os.path.realpath(entry.path)) not in self.open
        return self.safe_target(entry) is not None

    def _descend(self, entry: os.DirEntry[str]) -> Path | None:
        """Enter a folder for :meth:`other`: its real path, or None when seen or refused."""
        real = self.safe_target(entry)
        if real is None:
            return None
        real = Path(os.path.realpath(real))
        if real in self.seen:
            return None  # reached again through an in-tree symlink: walked once is enough
        self.seen.add(real)
        return real

    def other(self, entry: os.DirEntry[str], tree: RawTree, where: str) -> None:
        """A file outside the layout: a stray YAML file warns; the rest is secret-scanned.

        Hidden folders (``.git``) are not entered; hidden files are treated like the others
        (SPEC §2: "a YAML file in an unexpected place, hidden ones included, warns").
        """
        if _follows_to_dir(entry):
            if entry.name.startswith("."):
                return
            real = self._descend(entry)
            if real is not None:
                self.open.append(real)
                try:
                    for sub in self.scan(Path(entry.path)):
                        self.other(sub, tree, where)
                finally:
                    self.open.pop()
            return
        if _is_yaml(entry.name):
            hidden = " (a hidden file)" if entry.name.startswith(".") else ""
            self.diags.add(
                "file-unexpected",
                f"'{shown(entry.name)}'{hidden} is not part of the tree layout ({where}); "
                "it was ignored",
                Path(entry.path),
            )
        if entry.is_symlink():
            real = Path(os.path.realpath(entry.path))
            if not self._inside(real) or not real.exists():
                return  # never read outside ROOT; an ignored file needs no diagnostic
        else:
            real = Path(entry.path)
        try:
            st = os.stat(real, follow_symlinks=False)
        except OSError:
            return
        # Only regular files of at most 1 MiB are scanned for secrets, later and in bounded
        # chunks; a big file (a PDF) is skipped: a leaked private key is a few hundred bytes.
        if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_BYTES:
            tree.others.append(OtherFile(Path(entry.path), real, st.st_size))

    def once(self, found: SourceFile | None, entry: os.DirEntry[str], what: str) -> bool:
        """Whether ``entry`` is the first of ``x.yaml``/``x.yml``; a second one is an error."""
        if found is None:
            return True
        self.diags.add(
            "name-invalid",
            f"{what} is defined twice ({found.path.name} and {shown(entry.name)}); keep one",
            Path(entry.path),
        )
        return False

    def instance(self, entry: os.DirEntry[str], tree: RawTree) -> None:
        """Load one instance folder: ``instance.yaml`` and ``peers/*.yaml``."""
        name = entry.name
        ok = _name_ok(name)
        inst = RawInstance(name, Path(entry.path), ok)
        if name in self.skip:  # known unchanged (see compiler.incremental): not read
            tree.instances[name] = inst
            return
        if not ok:
            self.diags.add(
                "name-invalid",
                f"instance folder name '{shown(name)}' is not a safe identifier "
                "(lower-case letters, digits and inner hyphens, 1-32 characters)",
                inst.dir,
            )
        self.open.append(Path(os.path.realpath(inst.dir)))
        try:
            for sub in self.scan(inst.dir):
                if sub.name in ("instance.yaml", "instance.yml"):
                    if self.once(inst.source, sub, f"instance '{shown(name)}'"):
                        inst.source = self.read_file(sub, inst.dir)
                elif sub.name == "peers" and _follows_to_dir(sub):
                    if self.is_dir(sub):  # refuses a symlink that leaves the tree or loops
                        self.peers(Path(sub.path), inst, tree)
                elif sub.name == "peers":
                    self.diags.add(
                        "schema",
                        "'peers' must be a folder holding one <peer>.yaml per peer, but it is "
                        "not a folder; no peer of this instance was loaded",
                        Path(sub.path),
                    )
                else:
                    self.other(sub, tree, "expected instance.yaml and peers/")
        finally:
            self.open.pop()
        if inst.source is None and not any(
            (inst.dir / n).exists() for n in ("instance.yaml", "instance.yml")
        ):
            self.diags.add(
                "schema",
                f"instance folder '{shown(name)}' has no instance.yaml; add one "
                "(see `mvpn init`)",
                inst.dir,
            )
        tree.instances[name] = inst

    def peers(self, directory: Path, inst: RawInstance, tree: RawTree) -> None:
        """Load the peer files of one instance."""
        self.open.append(Path(os.path.realpath(directory)))
        try:
            for sub in self.scan(directory):
                if (not _is_yaml(sub.name) or sub.name.startswith(".")
                        or self.is_dir(sub, report=False)):
                    self.other(sub, tree, "peers/ holds one <peer>.yaml per peer")
                    continue
                stem = sub.name.rsplit(".", 1)[0]
                if not _name_ok(stem):
                    self.diags.add(
                        "name-invalid",
                        f"peer file name '{shown(stem)}' is not a safe identifier "
                        "(lower-case letters, digits and inner hyphens, 1-32 characters)",
                        Path(sub.path),
                    )
                    continue
                found = inst.peers.get(stem)
                if not self.once(found, sub, f"peer '{stem}'"):
                    continue
                src = self.read_file(sub, directory)
                if src is not None:
                    inst.peers[stem] = src
        finally:
            self.open.pop()


def parse_source(source: SourceFile, diags: Diagnostics) -> None:
    """Parse a YAML file that was read with ``walk(..., parse=False)``."""
    try:
        source.data, source.ok = parse(source.text), True
    except YamlError as exc:
        diags.add("yaml-syntax", exc.message, source.path, exc.line, exc.column)
        source.data, source.ok = None, False


def read_quoted(root: Path, rel: str, since: int) -> SourceFile | None:
    """The text of ``root/rel``, a file of an instance folder that is not read, for a quote.

    A recompile does not read an unchanged instance folder (:func:`walk`'s ``skip``), but
    prints the warnings it recorded of it with their lines: only the files they quote are
    read. None (read the folder, then) unless each part of the path is a plain folder and
    the file a regular one of at most 1 MiB, unchanged since ``since`` (ns: its folder's
    stat key vouches for its older state), and valid text.
    """
    parts = rel.split("/")
    if len(parts) < 2 or any(part in ("", ".", "..") for part in parts):
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fds: list[int] = []
    try:
        fds.append(os.open(root, flags | os.O_DIRECTORY))
        for part in parts[:-1]:
            fds.append(os.open(part, flags | os.O_DIRECTORY, dir_fd=fds[-1]))
        fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fds[-1])
        fds.append(fd)
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES
                or max(st.st_mtime_ns, st.st_ctime_ns) > since):
            return None
        data = os.read(fd, MAX_BYTES + 1)
        return SourceFile(root / rel, decode(data), ok=False) if len(data) == st.st_size else None
    except (OSError, YamlError):
        return None
    finally:
        for each in fds:
            os.close(each)


def walk(
    root: Path, diags: Diagnostics, parse: bool = True, skip: frozenset[str] = frozenset()
) -> RawTree:
    """Read a config tree rooted at ``root`` (an existing directory).

    With ``parse=False`` YAML files are read and decoded but not parsed (``ok`` is
    False until :func:`parse_source`): an incremental compile parses only what changed.
    Instance folders named in ``skip`` are not read at all (they stay empty).
    """
    root = Path(os.path.realpath(root))
    walker = _Walker(root, diags, parse, skip)
    tree = RawTree(root)
    for entry in walker.scan(root):
        name = entry.name
        if name in ("vpn.yaml", "vpn.yml"):
            if walker.once(tree.vpn, entry, "vpn.yaml"):
                tree.vpn = walker.read_file(entry, root)
        elif name in ("tests.yaml", "tests.yml"):
            if walker.once(tree.tests, entry, "tests.yaml"):
                tree.tests = walker.read_file(entry, root)
        elif name.startswith("."):
            walker.other(entry, tree, "ROOT holds vpn.yaml, tests.yaml and one folder per instance")
        elif walker.is_dir(entry, report=False):
            if walker.safe_target(entry) is None:
                continue
            path = Path(entry.path)
            if any((path / n).exists() for n in ("instance.yaml", "instance.yml", "peers")):
                walker.instance(entry, tree)
            else:
                walker.other(entry, tree, "a folder without instance.yaml is not an instance")
        else:
            walker.other(entry, tree,
                         "ROOT holds vpn.yaml, tests.yaml and one folder per instance")
    return tree
