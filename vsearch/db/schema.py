"""SQLAlchemy 2.0 ORM classes of the library database.

The schema changes only through Alembic revisions in ``migrations/``; a test checks that a blank
database upgraded to head has no difference from these classes.
"""

from __future__ import annotations

import base64

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# 64-bit ids and sizes on a server (files over 2 GiB, more than 2^31 frames); on SQLite every
# INTEGER is already 64-bit and an autoincrement key must be spelt INTEGER.
BigInt = BigInteger().with_variant(Integer(), "sqlite")

# A name that is not valid UTF-8, on a server whose TEXT must be UTF-8 (PostgreSQL): stored as
# this prefix and the base64 of its bytes. Stored paths are absolute, so no real one starts so.
UNDECODABLE_PREFIX = "b64:"


class FilePath(TypeDecorator[str]):
    """A file name as Linux allows it: any bytes but NUL and '/' separators.

    Python gives names that are not valid UTF-8 as text with surrogate-escaped bytes, which
    SQLite cannot store as TEXT; such a name is stored as a BLOB of its exact bytes (valid
    names stay TEXT) and comes back as the same surrogate-escaped text, so the name round
    trips without loss and ``os.fsencode`` gives the original bytes.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | bytes | None:
        if value is None:
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogateescape")
            if dialect.name == "sqlite":
                return raw
            return UNDECODABLE_PREFIX + base64.b64encode(raw).decode("ascii")
        return value

    def process_result_value(self, value: str | bytes | None, dialect) -> str | None:
        if isinstance(value, bytes):
            return value.decode("utf-8", "surrogateescape")
        if value is not None and value.startswith(UNDECODABLE_PREFIX):
            raw = base64.b64decode(value[len(UNDECODABLE_PREFIX) :])
            return raw.decode("utf-8", "surrogateescape")
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class MetaRow(Base):
    """Key/value facts about the library: encoder provenance, sampling rate, pooler."""

    __tablename__ = "library_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class VideoRow(Base):
    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    path: Mapped[str] = mapped_column(FilePath, unique=True)
    size: Mapped[int] = mapped_column(BigInt, default=0)
    mtime: Mapped[float] = mapped_column(Float, default=0.0)
    content_hash: Mapped[str | None] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # indexed|partial|failed
    error: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str | None] = mapped_column(String(32))
    n_frames: Mapped[int] = mapped_column(Integer, default=0)
    indexed_at: Mapped[str | None] = mapped_column(String(32))
    # JSON [[name, score], ...]: the video's most probable ImageNet classes (encoders with an
    # ImageNet head only), mean over its informative frames
    tags: Mapped[str | None] = mapped_column(Text)


class FrameRow(Base):
    """One sampled frame. ``id`` is the frame's id in the FAISS frame index (never reused)."""

    __tablename__ = "frames"
    __table_args__ = (
        Index("ix_frames_video_id_t", "video_id", "t"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    video_id: Mapped[int] = mapped_column(BigInt, ForeignKey("videos.id", ondelete="CASCADE"))
    t: Mapped[float] = mapped_column(Float)
    informative: Mapped[bool] = mapped_column(Boolean, default=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, dim of the library's encoder
    # the frame's most probable ImageNet classes: uint16 indices then float16 probabilities
    # (vsearch.models.words.pack_top_classes); NULL for encoders without an ImageNet head
    classes: Mapped[bytes | None] = mapped_column(LargeBinary)


class ClipRow(Base):
    """A temporal window of a video, pooled into one vector (id = id in the clip index)."""

    __tablename__ = "clips"
    __table_args__ = (
        Index("ix_clips_video_id_start", "video_id", "start"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    video_id: Mapped[int] = mapped_column(BigInt, ForeignKey("videos.id", ondelete="CASCADE"))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    informative: Mapped[bool] = mapped_column(Boolean, default=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class LabelRow(Base):
    """A user's label on a whole video (start/end null) or on a segment."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200), index=True)
    start: Mapped[float | None] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[str] = mapped_column(String(32))


class PredictionRow(Base):
    """A classifier's label for a video segment, with the classifier that made it."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    classifier: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    start: Mapped[float | None] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[str] = mapped_column(String(32))
