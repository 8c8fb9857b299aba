"""Writers on several hosts sharing one database: who works on which video.

On PostgreSQL a writer claims a video with a session-level advisory lock keyed by its path
(``pg_try_advisory_lock``) on one connection it keeps for the run. A claim is held while the
video is decoded, encoded and committed, then released; if the writer dies, its connection
closes and the server releases its claims, so nothing is left locked for the next run. Claims
are taken only for the videos in flight (a few per decoder), never for a whole file list, so
the server's lock table stays small however large the library.

On SQLite there is one writer at a time (the library's writer lock): every claim succeeds.
"""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy import Connection, Engine, text

from vsearch.db.engine import is_sqlite

MIGRATION_KEY = "vsearch:migrate"


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (blake2b; collisions ~ 2^-64)."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_for_migration(conn: Connection) -> None:
    """Serialise schema upgrades of a shared database (held until the transaction ends)."""
    if not is_sqlite(conn.engine):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(MIGRATION_KEY)})


class VideoClaims:
    """Claims on videos by path for one writer; thread-safe (decoders claim as they start)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.shared = not is_sqlite(engine)
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def _connection(self) -> Connection:
        if self._conn is None:
            # Autocommit: the connection holds locks, never an open transaction (which would
            # hold back vacuum on the server for the whole run).
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def claim(self, path: str) -> bool:
        """Take ``path`` for this writer; False when another writer has it."""
        if not self.shared:
            return True
        with self._mutex:
            if path in self._held:
                return True
            got = self._connection().execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key("video:" + path)}
            )
            if got.scalar():
                self._held.add(path)
                return True
            return False

    def release(self, path: str) -> None:
        if not self.shared:
            return
        with self._mutex:
            if path in self._held and self._conn is not None:
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key("video:" + path)}
                )
                self._held.discard(path)

    @property
    def held(self) -> set[str]:
        with self._mutex:
            return set(self._held)

    def close(self) -> None:
        """Release every claim (closing the connection releases them on the server)."""
        with self._mutex:
            if self._conn is not None:
                # The connection goes back to the engine's pool, still open: unlock first.
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._conn.close()
                self._conn = None
            self._held.clear()
