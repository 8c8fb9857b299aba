"""Alembic environment for vsearch libraries.

vsearch runs migrations in code when a library is opened (``vsearch.db.migrate``); the
connection is handed over through ``config.attributes["connection"]``. No alembic.ini needed.
"""

from __future__ import annotations

from alembic import context

from vsearch.db.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        url = config.get_main_option("sqlalchemy.url")
        with create_engine(url).connect() as conn:
            _run(conn)
            conn.commit()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
