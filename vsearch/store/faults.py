"""Keeping a library safe when things go wrong: stale files, read-only schemas, full disks.

The crash tests slow index saves down from outside (tests/reliability/slow_save_cli.py);
nothing here reads a test switch.
"""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import Engine

from vsearch.atomic import is_own_temp_file
from vsearch.db.migrate import current_revision, head_revision
from vsearch.errors import LibraryError, SchemaTooNewError, StorageError

log = logging.getLogger(__name__)


def remove_stale_temp_files(root: Path) -> list[Path]:
    """Delete the temporary files of index saves that a killed process left behind.

    Only the holder of the writer lock saves, so once a process holds it no other save is in
    progress and every temporary file vsearch made in the library folder is garbage. Files
    vsearch did not make are never deleted, whatever their name looks like.
    """
    removed: list[Path] = []
    try:
        candidates = [p for p in root.glob(".*.tmp") if is_own_temp_file(p.name)]
    except OSError:
        return removed
    for path in candidates:
        try:
            path.unlink()
            removed.append(path)
        except OSError as exc:
            log.debug("cannot remove stale %s: %s", path, exc)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted save", len(removed))
    return removed


def check_readonly_schema(engine: Engine, root: Path) -> None:
    """A read-only library is not migrated: refuse schemas this vsearch cannot read."""
    try:
        current = current_revision(engine)
    except Exception as exc:  # sqlite3 errors arrive wrapped in several SQLAlchemy types
        raise StorageError(f"{root}: cannot read the library database ({exc})") from exc
    head = head_revision()
    if current == head:
        return
    from alembic.script import ScriptDirectory

    from vsearch.db.migrate import _config

    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise SchemaTooNewError(
            f"the library's database is at schema revision {current}, which this vsearch does "
            "not know: it was written by a newer vsearch; upgrade vsearch to open it"
        )
    raise LibraryError(
        f"library {root} needs a database upgrade ({current} -> {head}) but is read-only: "
        "open it once with write access"
    )


def io_error_on_full_disk(path: Path, message: str) -> bool:
    """SQLite in WAL mode reports a full disk as "disk I/O error": tell the two apart."""
    if "i/o error" not in message.lower():
        return False
    try:
        return shutil.disk_usage(path.parent).free < 256 * 1024
    except OSError:
        return False


def storage_error(path: Path, exc: BaseException) -> StorageError:
    """Translate a failed write into a one-line StorageError (disk full, read-only...)."""
    text = str(exc)
    orig = getattr(exc, "orig", exc)
    if (
        isinstance(orig, OSError) and orig.errno == errno.ENOSPC or "full" in text.lower()
    ) or io_error_on_full_disk(path, text):
        return StorageError(f"{path}: disk full; nothing committed before was lost ({orig})")
    if (
        isinstance(orig, OSError) and orig.errno in (errno.EROFS, errno.EACCES)
    ) or "readonly" in text.lower().replace("-", "").replace(" ", ""):
        return StorageError(f"{path}: library is read-only ({orig})")
    if isinstance(orig, sqlite3.DatabaseError) and "malformed" in text:
        return StorageError(f"{path}: database is damaged ({orig})")
    return StorageError(f"{path}: write failed ({orig})")
