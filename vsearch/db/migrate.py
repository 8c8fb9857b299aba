"""Alembic applied in code: every library database is brought to head when it is opened."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from sqlalchemy import Engine, inspect

from vsearch.db.claims import lock_for_migration
from vsearch.db.engine import is_sqlite
from vsearch.errors import LibraryError, SchemaTooNewError

log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """The Alembic script folder: inside the installed wheel, else the source tree's."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise LibraryError("this vsearch installation is missing its database migrations")


def _config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_REVISION = re.compile(r'^(down_revision|revision)\s*(?::[^=]*)?=\s*["\']?([\w-]+|None)', re.M)


def at_head(engine: Engine) -> bool:
    """True when the database is stamped with the one head of the migration files.

    Read with plain SQL and a scan of the ``revision``/``down_revision`` lines; anything
    unusual (no stamp, several heads, unreadable files) answers False and Alembic decides.
    """
    try:
        revisions, parents = set(), set()
        for path in (migrations_dir() / "versions").glob("*.py"):
            found: dict[str, str] = {
                m.group(1): m.group(2) for m in _REVISION.finditer(path.read_text())
            }
            if "revision" not in found:
                return False
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", "None"))
        heads = revisions - parents
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except Exception:  # no table yet, odd files: let Alembic look  # noqa: BLE001
        return False
    return len(heads) == 1 and [r[0] for r in rows] == list(heads)


def upgrade_database(engine: Engine, revision: str = "head") -> bool:
    """Upgrade to ``revision``; return True when something was applied.

    Refuses a database stamped with a revision this vsearch does not know (written by a newer
    version) instead of touching it.
    """
    if revision == "head" and at_head(engine):
        return False  # the common case, decided without importing Alembic (~0.3 s of start-up)
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = _config()
    script = ScriptDirectory.from_config(cfg)
    current = current_revision(engine)
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaTooNewError(
            f"the library's database is at schema revision {current}, which this vsearch does "
            "not know: it was written by a newer vsearch; upgrade vsearch to open it"
        )
    target = script.get_current_head() if revision == "head" else revision
    if current == target:
        return False
    if current is None and inspect(engine).has_table("videos"):
        raise LibraryError("the database has vsearch tables but no schema revision: not touched")
    log.info("migrating library database %s -> %s", current, target)
    sqlite = is_sqlite(engine)
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            # Several hosts may open a shared database at once: one upgrades, the others
            # wait here and then find it at head (Alembic reads the revision after the lock).
            lock_for_migration(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    return True
