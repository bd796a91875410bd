"""Which names instances and peers may have: they are also the names of their folders and files.

Owned by the loader (it decides which files are instances and peers); the model validates the
same names with the same expression.
"""

from __future__ import annotations

import re
from typing import Final

NAME_RE: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
