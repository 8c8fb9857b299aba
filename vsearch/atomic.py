"""Replacing a file the library owns without ever leaving half of it (stdlib only).

Write a new file under a temporary name that only vsearch uses, flush it to disk, then rename
it over the old one; a crash leaves either the old file or the new one, plus at worst a
temporary file that the next writer removes. Files that vsearch did not create are never
touched: only names made by ``temp_name_prefix`` count as vsearch's temporary files.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_MARK = ".vsearch-tmp."
# ".NAME.vsearch-tmp.RANDOM.tmp": what mkstemp makes from temp_name_prefix and ".tmp"
_OWN_TEMP = re.compile(r"^\..+\.vsearch-tmp\.[A-Za-z0-9_]+\.tmp$")


def temp_name_prefix(path: Path) -> str:
    return f".{path.name}{TEMP_MARK}"


def is_own_temp_file(name: str) -> bool:
    """True for the temporary names ``atomic_write`` makes, and only those."""
    return _OWN_TEMP.match(name) is not None


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Write through ``write(tmp_path)`` then rename over ``path``: readers never see half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
