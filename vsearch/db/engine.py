"""Engines and session factories: a library's SQLite file, or a shared PostgreSQL server."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from vsearch.errors import UsageError

SERVER_DIALECTS = ("postgresql",)  # shared metadata servers vsearch supports


def create_db_engine(path: Path, *, readonly: bool = False) -> Engine:
    """SQLite in WAL mode: readers see the last committed state while a writer works.

    The database is opened by a creator function, never through a URL built from the path:
    a library folder may contain '?', '#', '%' or bytes that are not UTF-8, and must name
    that file, not another one or a URI parameter.
    """
    raw = os.fsencode(os.path.abspath(path))
    if readonly:
        # Nothing waiting in a WAL file: read it as immutable, which needs no -shm file, so a
        # library on read-only storage (or a read-only directory) can still be searched.
        immutable = "&immutable=1" if not os.path.exists(raw + b"-wal") else ""
        uri = f"file:{quote(raw)}?mode=ro{immutable}"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

    else:

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(raw, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool, future=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        if not readonly:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def create_server_engine(url: str) -> Engine:
    """An engine on a shared database server (``postgresql+psycopg://user@host/db``)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"not a database URL: {redact_url(url)} ({exc})") from None
    if parsed.get_backend_name() not in SERVER_DIALECTS:
        raise UsageError(
            f"unsupported database {parsed.get_backend_name()!r} in {redact_url(url)}: "
            f"use postgresql+psycopg://USER@HOST/DB, or leave the URL empty for SQLite"
        )
    try:
        return create_engine(parsed, future=True, pool_pre_ping=True)
    except ImportError as exc:  # the driver is an extra
        raise UsageError(
            f"no driver for {redact_url(url)} ({exc}): pip install 'vsearch-video[postgres]'"
        ) from None


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session
