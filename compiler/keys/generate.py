"""``mvpn secret new FILE``: a fresh organisation secret, written so only its owner can read it.

The secret is the root of every key (SPEC §4), so it is made from the operating system's
CSPRNG, written once (an existing file is never replaced: that would orphan every key
derived from the old secret) with mode 0600 from the moment the file exists, and never
printed.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from compiler.diagnostics import UsageError
from compiler.keys.secret import MIN_SECRET_BYTES


def new_secret_file(path: Path) -> None:
    """Write a new base64 secret of :data:`MIN_SECRET_BYTES` random bytes to ``path``.

    Raises :class:`UsageError` when ``path`` exists (also as a dangling symlink) or cannot
    be created.
    """
    text = base64.b64encode(secrets.token_bytes(MIN_SECRET_BYTES)) + b"\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"'{path}' already exists; a secret is never overwritten (every "
                         "key is derived from it): choose another file name") from None
    except OSError as exc:
        raise UsageError(f"cannot create '{path}': {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask said
        os.write(fd, text)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise UsageError(f"cannot write '{path}': {exc.strerror}") from None
    os.close(fd)
