"""Loading the organisation secret from ``--secret-file`` or ``MVPN_SECRET`` (SPEC §4).

Error messages name where the secret came from and what is wrong with it, never its
content: they end up in CI logs.
"""

from __future__ import annotations

import base64
import binascii
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from compiler.diagnostics import UsageError

#: The environment variable holding the base64 secret.
SECRET_ENV: Final = "MVPN_SECRET"

#: HKDF is only as strong as its input; 32 bytes matches SHA-256's output size.
MIN_SECRET_BYTES: Final = 32

# A secret file is a few dozen bytes; the cap keeps `--secret-file /dev/zero` (or a
# mistyped path to a disk image) from hanging or exhausting memory.
_MAX_FILE_BYTES: Final = 64 * 1024

_HINT: Final = "generate one with `openssl rand -base64 32`"


def load_secret(secret_file: Path | None, environ: Mapping[str, str]) -> bytes | None:
    """Return the decoded organisation secret, or ``None`` for a redacted build.

    ``secret_file`` wins over ``MVPN_SECRET``. Both hold base64 (whitespace and newlines
    allowed) of at least :data:`MIN_SECRET_BYTES` bytes. An empty or unset
    ``MVPN_SECRET`` means "no secret": GitHub Actions expands an unavailable secret (pull
    requests from forks) to the empty string, and those builds must still run, redacted.

    Raises:
        UsageError: the file cannot be read, or the value is not base64 or too short.

    """
    if secret_file is not None:
        return _decode(_read_file(secret_file), f"secret file {secret_file}")
    value = environ.get(SECRET_ENV, "")
    if not value.strip():
        return None
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError:
        raise UsageError(f"{SECRET_ENV} is not valid base64 ({_HINT})") from None
    return _decode(data, SECRET_ENV)


def _read_file(path: Path) -> bytes:
    """Read at most the size cap from ``path``; unreadable or oversized is a usage error."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read secret file {path}: {reason}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise UsageError(f"secret file {path} is larger than {_MAX_FILE_BYTES} bytes")
    return data


def _decode(data: bytes, source: str) -> bytes:
    """Decode whitespace-tolerant base64 and enforce the minimum length."""
    compact = b"".join(data.split())
    if not compact:
        raise UsageError(f"{source} is empty ({_HINT})")
    try:
        secret = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        # `from None`: the decoder's exception must not drag the input into a traceback.
        raise UsageError(f"{source} is not valid base64 ({_HINT})") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise UsageError(
            f"{source} decodes to {len(secret)} bytes; at least {MIN_SECRET_BYTES} "
            f"are required ({_HINT})"
        )
    return secret


def secret_file_mode(path: Path) -> int | None:
    """The permission bits of ``path`` when group or others have any access, else None.

    ssh refuses a private key such a file holds; mvpn still reads it (a CI runner's
    checkout may have it so), but says so.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None
