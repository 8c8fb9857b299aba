"""Library facts and videos."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vsearch.db.schema import ClipRow, FrameRow, MetaRow, VideoRow
from vsearch.types import WITH_FRAMES, VideoFacts, VideoRecord, VideoStatus


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- library facts -------------------------------------------------------------------------


def get_meta(*, session: Session) -> dict[str, str]:
    return {row.key: row.value for row in session.scalars(select(MetaRow))}


def set_meta(key: str, value: str, *, session: Session) -> None:
    row = session.get(MetaRow, key)
    if row is None:
        session.add(MetaRow(key=key, value=value))
    else:
        row.value = value


# --- videos --------------------------------------------------------------------------------


def _record(row: VideoRow) -> VideoRecord:
    return VideoRecord(
        id=row.id,
        path=row.path,
        status=VideoStatus(row.status),
        size=row.size,
        mtime=row.mtime,
        content_hash=row.content_hash,
        duration=row.duration,
        fps=row.fps,
        width=row.width,
        height=row.height,
        codec=row.codec,
        n_frames=row.n_frames,
        error=row.error,
        indexed_at=row.indexed_at,
        tags=[(str(n), float(s)) for n, s in json.loads(row.tags)] if row.tags else None,
    )


def get_video(path: str, *, session: Session) -> VideoRecord | None:
    row = session.scalar(select(VideoRow).where(VideoRow.path == path))
    return _record(row) if row else None


def get_video_by_id(video_id: int, *, session: Session) -> VideoRecord | None:
    row = session.get(VideoRow, video_id)
    return _record(row) if row else None


def videos_with_hash(content_hash: str, *, session: Session) -> list[VideoRecord]:
    rows = session.scalars(
        select(VideoRow)
        .where(VideoRow.content_hash == content_hash, VideoRow.status.in_(WITH_FRAMES))
        .order_by(VideoRow.id)
    )
    return [_record(r) for r in rows]


def list_videos(
    *, session: Session, status: Sequence[str] | None = None, under: str | None = None
) -> list[VideoRecord]:
    query = select(VideoRow).order_by(VideoRow.path)
    if status:
        query = query.where(VideoRow.status.in_(tuple(status)))
    rows = [_record(r) for r in session.scalars(query)]
    if under:
        prefix = under.rstrip("/") + "/"
        rows = [r for r in rows if r.path == under or r.path.startswith(prefix)]
    return rows


def save_video(
    path: str, facts: VideoFacts, *, session: Session, indexed_at: str | None = None
) -> int:
    """Insert or update the row for ``path`` with every field of ``facts``; return its id."""
    row = session.scalar(select(VideoRow).where(VideoRow.path == path))
    if row is None:
        row = VideoRow(path=path)
        session.add(row)
    row.status = facts.status
    row.size = facts.size
    row.mtime = facts.mtime
    row.content_hash = facts.content_hash
    row.error = facts.error
    row.duration = facts.duration
    row.fps = facts.fps
    row.width = facts.width
    row.height = facts.height
    row.rotation = facts.rotation
    row.codec = facts.codec
    row.n_frames = facts.n_frames
    row.tags = None if facts.tags is None else json.dumps([[n, s] for n, s in facts.tags])
    row.indexed_at = indexed_at
    session.flush()
    return row.id


def rename_video(
    video_id: int, new_path: str, *, size: int, mtime: float, session: Session
) -> None:
    """Give a video a new path with the size and mtime of the file found there."""
    session.execute(
        update(VideoRow)
        .where(VideoRow.id == video_id)
        .values(path=new_path, size=size, mtime=mtime)
    )


def delete_video(video_id: int, *, session: Session) -> tuple[list[int], list[int]]:
    """Delete a video with its frames and clips; return the removed (frame ids, clip ids)."""
    frame_ids = list(session.scalars(select(FrameRow.id).where(FrameRow.video_id == video_id)))
    clip_ids = list(session.scalars(select(ClipRow.id).where(ClipRow.video_id == video_id)))
    session.execute(delete(FrameRow).where(FrameRow.video_id == video_id))
    session.execute(delete(ClipRow).where(ClipRow.video_id == video_id))
    session.execute(delete(VideoRow).where(VideoRow.id == video_id))
    return frame_ids, clip_ids


def delete_video_at(path: str, *, session: Session) -> tuple[list[int], list[int]]:
    """Delete the video stored at ``path``, if any; return the removed (frame ids, clip ids)."""
    existing = session.scalar(select(VideoRow.id).where(VideoRow.path == path))
    return delete_video(existing, session=session) if existing is not None else ([], [])


def count_videos(*, session: Session) -> dict[str, int]:
    rows = session.execute(select(VideoRow.status, func.count()).group_by(VideoRow.status))
    return {status: int(n) for status, n in rows}
