"""64-bit ids and file sizes on database servers (PostgreSQL's INTEGER is 32-bit).

SQLite stores every INTEGER in 64 bits already: nothing changes there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = [
    ("videos", "id"),
    ("videos", "size"),
    ("frames", "id"),
    ("frames", "video_id"),
    ("clips", "id"),
    ("clips", "video_id"),
    ("labels", "video_id"),
    ("predictions", "video_id"),
]


SEQUENCES = ["videos", "frames", "clips"]  # their ids come from a sequence (SERIAL)


def _alter(to_type, from_type, sequence_type: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=to_type, existing_type=from_type)
    for table in SEQUENCES:  # a SERIAL's sequence is typed too, and stops at its type's max
        op.execute(
            f"DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s AS {sequence_type}', "
            f"pg_get_serial_sequence('{table}', 'id')); END $$"
        )


def upgrade() -> None:
    _alter(sa.BigInteger(), sa.Integer(), "bigint")


def downgrade() -> None:
    _alter(sa.Integer(), sa.BigInteger(), "integer")
