"""A damaged library database: say what is wrong and what can be saved, and rebuild it.

``check_database`` reads the file read-only (SQLite's integrity check, then a row count per
table). ``repair_database`` copies every row that can still be read into a new database
made by the migrations, skipping unreadable pages; checks the copy; keeps the damaged file
as ``library.db.damaged-TIME``; and only then puts the copy in its place. The index files
need no repair of their own: they are tied to the library id (copied with the rest) and
agree with the database again when next opened (vectors of lost rows leave them).
Videos whose frames were lost are marked so that the next ``vsearch index`` decodes them
again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from vsearch.db.engine import create_db_engine
from vsearch.db.migrate import upgrade_database
from vsearch.db.schema import Base
from vsearch.errors import LibraryError
from vsearch.store.locking import WriterLock
from vsearch.types import JSONObject

log = logging.getLogger(__name__)

DB_NAME = "library.db"
CHUNK = 500  # rows copied per write
TABLES = [t.name for t in Base.metadata.sorted_tables]  # parents before children
REINDEX_NOTE = "frames lost in a database repair: decoded again by the next `vsearch index`"


@dataclass
class DatabaseHealth:
    path: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    rows: dict[str, int | None] = field(default_factory=dict)  # None: table unreadable

    def summary(self) -> str:
        if self.ok:
            return f"{self.path}: integrity check passed"
        readable = ", ".join(
            f"{name} {'unreadable' if n is None else n}" for name, n in self.rows.items()
        )
        what = f"; readable rows: {readable}" if self.rows else ""
        return (
            f"{self.path} is damaged ({'; '.join(self.problems[:3])}){what}. "
            "`vsearch doctor --repair` copies what can be read into a new database "
            "(the damaged file is kept)"
        )

    def to_dict(self) -> JSONObject:
        return {"path": self.path, "ok": self.ok, "problems": self.problems, "rows": self.rows}


def _read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode=ro"
    return sqlite3.connect(uri, uri=True)


def check_database(path: Path) -> DatabaseHealth:
    """SQLite's integrity check of the library database, and the rows each table still gives."""
    health = DatabaseHealth(str(path), ok=True)
    try:
        conn = _read_only(path)
    except sqlite3.Error as exc:
        return DatabaseHealth(str(path), ok=False, problems=[str(exc)])
    try:
        try:
            found = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        except sqlite3.DatabaseError as exc:
            found = [str(exc)]
        if found != ["ok"]:
            health.ok = False
            health.problems = found
        if not health.ok:
            for table in TABLES:
                try:
                    health.rows[table] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[
                        0
                    ]
                except sqlite3.DatabaseError:
                    health.rows[table] = None
    finally:
        conn.close()
    return health


@dataclass
class RepairReport:
    original: str
    backup: str
    rows: dict[str, int] = field(default_factory=dict)  # rows copied per table
    unreadable: dict[str, int] = field(default_factory=dict)  # stretches skipped per table
    reindex: list[str] = field(default_factory=list)  # videos to decode again
    dropped_orphans: int = 0

    def to_dict(self) -> JSONObject:
        return {
            "original": self.original,
            "backup": self.backup,
            "rows": self.rows,
            "unreadable_stretches": self.unreadable,
            "videos_to_reindex": self.reindex,
            "orphan_rows_dropped": self.dropped_orphans,
        }


def repair_database(root: Path) -> RepairReport:
    """Rebuild ``root/library.db`` from what can be read; the original is kept beside it."""
    db = root / DB_NAME
    lock = WriterLock(root)
    lock.acquire(0.0)
    try:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        tmp = root / f".{DB_NAME}.vsearch-tmp.repair{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        report = RepairReport(str(db), str(root / f"{DB_NAME}.damaged-{stamp}"))
        try:
            _build_copy(db, tmp, report)
            _verify(tmp)
            _swap(db, tmp, Path(report.backup))
        finally:
            tmp.unlink(missing_ok=True)
        return report
    finally:
        lock.release()


def _build_copy(db: Path, tmp: Path, report: RepairReport) -> None:
    engine = create_db_engine(tmp)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    try:
        src = _read_only(db)
    except sqlite3.Error as exc:
        raise LibraryError(f"{db}: cannot be opened at all ({exc}); nothing to repair") from exc
    dst = sqlite3.connect(os.fsencode(tmp))
    try:
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("PRAGMA foreign_keys=OFF")
        for table in TABLES:
            kept, skipped = _copy_table(src, dst, table)
            report.rows[table] = kept
            if skipped:
                report.unreadable[table] = skipped
        dst.commit()
        meta = dict(dst.execute("SELECT key, value FROM library_meta").fetchall())
        if "encoder" not in meta:
            raise LibraryError(
                f"{db}: the library's model record is unreadable, so its vectors cannot be "
                "used; re-create the library with `vsearch index` (the damaged file is untouched)"
            )
        report.dropped_orphans = _drop_orphans(dst)
        report.reindex = _mark_incomplete_videos(dst)
        dst.commit()
    finally:
        src.close()
        dst.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Copy the readable rows of ``table`` in rowid order; return (rows copied, stretches
    skipped). A read that hits a damaged page is retried further on, jumping farther each
    time, so one bad page costs the rows on it, not the rest of the table."""
    try:
        wanted = set(_columns(dst, table))
        cols = [c for c in _columns(src, table) if c in wanted]
    except sqlite3.DatabaseError:
        return 0, 1
    if not cols:
        return 0, 1 if table != "alembic_version" else 0
    names = ", ".join(f'"{c}"' for c in cols)
    insert = f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(cols))})'
    if table == "alembic_version":
        return 0, 0  # the copy is made at head by the migrations
    try:
        top = src.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0]
    except sqlite3.DatabaseError:
        top = None
    select = f'SELECT rowid, {names} FROM "{table}" WHERE rowid >= ? ORDER BY rowid'
    start, copied, skipped = -(2**63), 0, 0
    while True:
        last, batch = None, []
        try:
            for row in src.execute(select, (start,)):  # row by row: keep all before a fault
                batch.append(row[1:])
                last = row[0]
                if len(batch) >= CHUNK:
                    dst.executemany(insert, batch)
                    copied, batch = copied + len(batch), []
            dst.executemany(insert, batch)
            return copied + len(batch), skipped
        except sqlite3.DatabaseError:
            dst.executemany(insert, batch)
            copied += len(batch)
            skipped += 1
            begin = start if last is None else last + 1
            resume = None if top is None else _next_readable(src, table, begin, top)
            if resume is None:
                return copied, skipped
            start = max(resume, begin + 1)


def _next_readable(src: sqlite3.Connection, table: str, after: int, top: int) -> int | None:
    """The first rowid from which ``table`` reads again past a damaged page: probe ahead in
    growing steps, then narrow down between the last failing and the first working probe."""

    def readable(rowid: int) -> bool:
        try:
            src.execute(
                f'SELECT * FROM "{table}" WHERE rowid >= ? ORDER BY rowid LIMIT 1', (rowid,)
            ).fetchall()
            return True
        except sqlite3.DatabaseError:
            return False

    low, step = max(after, 0), 1
    high = low + step
    while not readable(high):
        if high > top:
            return None
        low, step = high, step * 2
        high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        if readable(middle):
            high = middle
        else:
            low = middle
    return high


def _drop_orphans(dst: sqlite3.Connection) -> int:
    dropped = 0
    for table in TABLES:
        if table != "videos" and "video_id" in _columns(dst, table):
            cur = dst.execute(
                f'DELETE FROM "{table}" WHERE video_id NOT IN (SELECT id FROM videos)'
            )
            dropped += cur.rowcount
    return dropped


def _mark_incomplete_videos(dst: sqlite3.Connection) -> list[str]:
    """Videos that lost frames: their clips are dropped (made again from the frames) and
    their fingerprint cleared, so the next ``vsearch index`` decodes them again."""
    rows = dst.execute(
        "SELECT v.id, v.path FROM videos v LEFT JOIN frames f ON f.video_id = v.id "
        "WHERE v.status != 'failed' GROUP BY v.id HAVING count(f.id) != v.n_frames"
    ).fetchall()
    for video_id, _path in rows:
        dst.execute("DELETE FROM clips WHERE video_id = ?", (video_id,))
        dst.execute(
            "UPDATE videos SET size = -1, mtime = -1, status = 'partial', error = ?, "
            "n_frames = (SELECT count(*) FROM frames WHERE video_id = ?) WHERE id = ?",
            (REINDEX_NOTE, video_id, video_id),
        )
    return [p.decode("utf-8", "surrogateescape") if isinstance(p, bytes) else p for _id, p in rows]


def _verify(tmp: Path) -> None:
    conn = sqlite3.connect(os.fsencode(tmp))
    try:
        found = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        orphans = conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
    if found != ["ok"] or orphans:
        raise LibraryError(f"the repaired copy failed its own check ({found[:3]}); not used")


def _swap(db: Path, tmp: Path, backup: Path) -> None:
    """Keep the damaged file (and its WAL) as ``backup``, then put the copy in its place.

    The damaged database's WAL must not meet the new file (SQLite would replay it into it):
    it is copied to the backup and removed before the atomic rename of the copy.
    """
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    shutil.copy2(db, backup)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{db}{suffix}")
        if side.exists():
            if suffix == "-wal":
                shutil.copy2(side, f"{backup}{suffix}")
            side.unlink()
    os.replace(tmp, db)
    dir_fd = os.open(db.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    log.warning("library database rebuilt; the damaged one is kept as %s", backup)


def is_damage(exc: BaseException) -> bool:
    """True for the errors SQLite gives on a damaged (not a locked or full) database."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(
        word in text for word in ("malformed", "not a database", "file is encrypted", "disk image")
    )


__all__ = ["DatabaseHealth", "RepairReport", "check_database", "is_damage", "repair_database"]
