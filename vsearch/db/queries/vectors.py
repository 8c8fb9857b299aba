"""Frames and clips with their vectors: stored, paged out, located."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from vsearch.db.engine import is_sqlite
from vsearch.db.schema import ClipRow, FrameRow, VideoRow
from vsearch.types import (
    WITH_FRAMES,
    ClipLocation,
    FrameLocation,
    FramePlaces,
    FrameTable,
    StoredClips,
    StoredFrames,
)

# --- frames --------------------------------------------------------------------------------


def replace_frames(
    video_id: int,
    times: np.ndarray,
    informative: np.ndarray,
    vectors: np.ndarray,
    *,
    session: Session,
    classes: Sequence[bytes | None] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Store a video's frames (replacing old ones); return (new ids, removed old ids).

    ``classes``: per frame, its packed most probable ImageNet classes (or None).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    rows = [
        {"video_id": video_id, "t": float(t), "informative": bool(inf), "vector": vec.tobytes()}
        for t, inf, vec in zip(times, informative, vectors, strict=True)
    ]
    if classes is not None:
        for row, blob in zip(rows, classes, strict=True):
            row["classes"] = blob
    return _replace_video_rows(FrameRow, video_id, rows, session=session)


def video_frame_classes(video_id: int, *, session: Session) -> list[bytes | None]:
    """The packed ImageNet classes of a video's frames, in time order."""
    query = select(FrameRow.classes).where(FrameRow.video_id == video_id).order_by(FrameRow.t)
    return list(session.scalars(query))


def frame_classes_of(ids: Sequence[int], *, session: Session) -> dict[int, bytes]:
    """{frame id: packed ImageNet classes} of the given frames that have them."""
    rows = session.execute(
        select(FrameRow.id, FrameRow.classes).where(
            FrameRow.id.in_(list(ids)), FrameRow.classes.is_not(None)
        )
    ).all()
    return {int(i): bytes(b) for i, b in rows if b is not None}


def iter_frame_classes(
    *, session: Session, chunk: int = 20000
) -> Iterator[list[tuple[int, bytes]]]:
    """Yield chunks of (frame id, packed classes) of every informative frame that has them."""
    last = -1
    while True:
        rows = session.execute(
            select(FrameRow.id, FrameRow.classes)
            .where(FrameRow.id > last, FrameRow.classes.is_not(None), FrameRow.informative)
            .order_by(FrameRow.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        yield [(int(i), bytes(b)) for i, b in rows if b is not None]
        last = int(rows[-1][0])


def _replace_video_rows(
    table, video_id: int, rows: list[dict], *, session: Session
) -> tuple[np.ndarray, list[int]]:
    """Delete a video's rows of ``table``, insert ``rows``; return (new ids, old ids)."""
    old = list(session.scalars(select(table.id).where(table.video_id == video_id)))
    if old:
        session.execute(delete(table).where(table.video_id == video_id))
    if not rows:
        return np.zeros(0, dtype=np.int64), old
    ids = session.scalars(insert(table).returning(table.id, sort_by_parameter_order=True), rows)
    return np.fromiter(ids, dtype=np.int64, count=len(rows)), old


def frame_ids(*, session: Session) -> np.ndarray:
    return _sorted_ids(FrameRow, session=session)


def _sorted_ids(table, *, session: Session) -> np.ndarray:
    """Every id of ``table``, ascending. Sorted here, not by the database: without an ORDER
    BY, SQLite reads the ids from the table's smallest index (tens of bytes a row) instead
    of walking the rows themselves, each with its vector (over 2 KB at 512 dimensions)."""
    return np.sort(np.fromiter(session.scalars(select(table.id)), dtype=np.int64))


def iter_frame_vectors(
    *, session: Session, ids: Iterable[int] | None = None, chunk: int = 20000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (ids, float32 vectors) of stored frames, in chunks, from ``ids`` or all."""
    return _iter_vectors(FrameRow, session=session, ids=ids, chunk=chunk)


def _iter_vectors(
    table, *, session: Session, ids: Iterable[int] | None, chunk: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if ids is not None:
        id_list = sorted(int(i) for i in ids)
        for lo in range(0, len(id_list), chunk):
            part = id_list[lo : lo + chunk]
            rows = session.execute(
                select(table.id, table.vector).where(table.id.in_(part)).order_by(table.id)
            ).all()
            yield _unpack(rows)
        return
    last = 0
    while True:  # keyset pagination: constant memory on libraries of any size
        rows = session.execute(
            select(table.id, table.vector).where(table.id > last).order_by(table.id).limit(chunk)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        yield _unpack(rows)


def _unpack(rows: Sequence[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r[0] for r in rows], dtype=np.int64), _stack([r[1] for r in rows])


def _stack(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored float32 vector blobs as one (n, dim) array ((0, 0) when there are none)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)


def video_frames(video_id: int, *, session: Session) -> StoredFrames:
    """One video's frames, in time order."""
    rows = session.execute(
        select(FrameRow.id, FrameRow.t, FrameRow.informative, FrameRow.vector)
        .where(FrameRow.video_id == video_id)
        .order_by(FrameRow.t)
    ).all()
    return StoredFrames(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        times=np.array([r[1] for r in rows], dtype=np.float64),
        informative=np.array([bool(r[2]) for r in rows], dtype=bool),
        vectors=_stack([r[3] for r in rows]),
    )


def frame_locations(ids: Iterable[int], *, session: Session) -> dict[int, FrameLocation]:
    """frame id -> where it is (with its video's frame rate), for the ``ids`` that exist."""
    id_list = [int(i) for i in ids]
    out: dict[int, FrameLocation] = {}
    for lo in range(0, len(id_list), 900):
        part = id_list[lo : lo + 900]
        rows = session.execute(
            select(
                FrameRow.id,
                FrameRow.video_id,
                FrameRow.t,
                FrameRow.informative,
                VideoRow.path,
                VideoRow.fps,
            )
            .join(VideoRow, VideoRow.id == FrameRow.video_id)
            .where(FrameRow.id.in_(part))
        )
        for fid, vid, t, inf, path, fps in rows:
            out[int(fid)] = FrameLocation(
                video_id=int(vid), time=float(t), informative=bool(inf), path=path, fps=fps
            )
    return out


_PLACE = np.dtype([("id", np.int64), ("video_id", np.int64), ("t", np.float64)])


def frame_places(*, session: Session, ids: Sequence[int] | np.ndarray | None = None) -> FramePlaces:
    """Where stored frames are (those among ``ids``, or every one), with the path and frame
    rate of their videos.

    Everything is read from the (video, time) index, never from the rows and their vectors.
    The ids go as one parameter (one statement, compiled once, for any number of ids: the
    ORM's expanding IN costs more than the look-up itself); rows come straight from the
    driver's cursor into one array, without a row object each.
    """
    # Every frame: SQLite scans the (video, time) index, which holds the ids too.
    sql = f"SELECT id, video_id, t FROM {FrameRow.__tablename__}"
    params: dict[str, object] = {}
    if ids is not None:
        id_list = [int(i) for i in np.asarray(ids, dtype=np.int64).ravel()]
        if is_sqlite(session.get_bind()):
            sql += " WHERE id IN (SELECT value FROM json_each(:ids))"
            params = {"ids": json.dumps(id_list)}
        else:  # PostgreSQL: the ids as one array
            sql += " WHERE id = ANY(:ids)"
            params = {"ids": id_list}
    result = session.execute(text(sql), params)
    rows = np.fromiter(result.cursor, dtype=_PLACE)  # type: ignore[attr-defined]
    if len(rows) > 1 and bool((rows["id"][1:] < rows["id"][:-1]).any()):
        rows = rows[np.argsort(rows["id"], kind="stable")]  # (video, time) order was not id order
    video_ids = np.ascontiguousarray(rows["video_id"])
    return FramePlaces(
        ids=np.ascontiguousarray(rows["id"]),
        video_ids=video_ids,
        times=np.ascontiguousarray(rows["t"]),
        videos=_video_places(np.unique(video_ids) if ids is not None else None, session=session),
    )


def frame_places_added(old: FramePlaces, *, session: Session) -> FramePlaces | None:
    """``old`` and the frames stored since it was read, or None when frames were deleted
    since (then read them all again).

    Ids are never reused and grow with every insert, so the new frames are those above
    ``old``'s last id (a range of the primary key); the count of every frame, taken in the
    same statement, tells whether any were deleted.
    """
    if not len(old):
        return None
    table = FrameRow.__tablename__
    sql = (
        f"SELECT id, video_id, t FROM {table} WHERE id > :after "
        f"UNION ALL SELECT NULL, count(*), NULL FROM {table}"
    )
    rows = session.execute(text(sql), {"after": int(old.ids[-1])}).all()
    count = next(int(r[1]) for r in rows if r[0] is None)
    new = np.array([tuple(r) for r in rows if r[0] is not None], dtype=_PLACE)
    if count != len(old) + len(new):
        return None
    new = new[np.argsort(new["id"], kind="stable")]
    return FramePlaces(
        ids=np.concatenate([old.ids, new["id"]]),
        video_ids=np.concatenate([old.video_ids, new["video_id"]]),
        times=np.concatenate([old.times, new["t"]]),
        videos=_video_places(None, session=session),  # paths may have changed too
    )


def _video_places(
    video_ids: np.ndarray | None, *, session: Session
) -> dict[int, tuple[str, float | None]]:
    """video id -> (path, frame rate), of ``video_ids`` or of every video."""
    query = select(VideoRow.id, VideoRow.path, VideoRow.fps)
    if video_ids is not None:
        query = query.where(VideoRow.id.in_(video_ids.tolist()))
    return {int(i): (path, fps) for i, path, fps in session.execute(query)}


def count_frames(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(FrameRow)) or 0)


# --- clips ---------------------------------------------------------------------------------


def replace_clips(
    video_id: int,
    starts: np.ndarray,
    ends: np.ndarray,
    informative: np.ndarray,
    vectors: np.ndarray,
    *,
    session: Session,
) -> tuple[np.ndarray, list[int]]:
    """Store a video's clips (replacing old ones); return (new ids, removed old ids)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    rows = [
        {
            "video_id": video_id,
            "start": float(s),
            "end": float(e),
            "informative": bool(inf),
            "vector": vec.tobytes(),
        }
        for s, e, inf, vec in zip(starts, ends, informative, vectors, strict=True)
    ]
    return _replace_video_rows(ClipRow, video_id, rows, session=session)


def clip_ids(*, session: Session) -> np.ndarray:
    return _sorted_ids(ClipRow, session=session)


def iter_clip_vectors(
    *, session: Session, ids: Iterable[int] | None = None, chunk: int = 20000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (ids, float32 vectors) of stored clips, in chunks, from ``ids`` or all."""
    return _iter_vectors(ClipRow, session=session, ids=ids, chunk=chunk)


def video_clips(video_id: int, *, session: Session) -> StoredClips:
    """One video's clips, in time order."""
    rows = session.execute(
        select(ClipRow.id, ClipRow.start, ClipRow.end, ClipRow.informative, ClipRow.vector)
        .where(ClipRow.video_id == video_id)
        .order_by(ClipRow.start, ClipRow.id)
    ).all()
    return StoredClips(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        starts=np.array([r[1] for r in rows], dtype=np.float64),
        ends=np.array([r[2] for r in rows], dtype=np.float64),
        informative=np.array([bool(r[3]) for r in rows], dtype=bool),
        vectors=_stack([r[4] for r in rows]),
    )


def video_clip_spans(video_id: int, *, session: Session) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of one video's clips, in the order of ``video_clips``, without vectors."""
    rows = session.execute(
        select(ClipRow.start, ClipRow.end)
        .where(ClipRow.video_id == video_id)
        .order_by(ClipRow.start, ClipRow.id)
    ).all()
    starts = np.array([r[0] for r in rows], dtype=np.float64)
    return starts, np.array([r[1] for r in rows], dtype=np.float64)


def clip_locations(ids: Iterable[int], *, session: Session) -> dict[int, ClipLocation]:
    """clip id -> its video, for the ``ids`` that exist."""
    id_list = [int(i) for i in ids]
    out: dict[int, ClipLocation] = {}
    for lo in range(0, len(id_list), 900):
        part = id_list[lo : lo + 900]
        rows = session.execute(
            select(ClipRow.id, ClipRow.video_id, ClipRow.informative).where(ClipRow.id.in_(part))
        )
        for cid, vid, inf in rows:
            out[int(cid)] = ClipLocation(video_id=int(vid), informative=bool(inf))
    return out


def update_clip_vectors(ids: np.ndarray, vectors: np.ndarray, *, session: Session) -> None:
    """Overwrite the vectors of existing clips (re-pooling keeps clip ids)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    session.execute(
        update(ClipRow),
        [{"id": int(i), "vector": v.tobytes()} for i, v in zip(ids, vectors, strict=True)],
    )


def count_clips(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ClipRow)) or 0)


def iter_frame_table(*, session: Session, chunk: int = 50000) -> Iterator[FrameTable]:
    """Yield every stored frame, by id, in chunks of ``chunk`` frames."""
    last = 0
    while True:
        rows = session.execute(
            select(
                FrameRow.id, FrameRow.video_id, FrameRow.t, FrameRow.informative, FrameRow.vector
            )
            .where(FrameRow.id > last)
            .order_by(FrameRow.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        ids, vecs = _unpack([(r[0], r[4]) for r in rows])
        yield FrameTable(
            ids=ids,
            video_ids=np.array([r[1] for r in rows], dtype=np.int64),
            times=np.array([r[2] for r in rows], dtype=np.float64),
            informative=np.array([bool(r[3]) for r in rows], dtype=bool),
            vectors=vecs,
        )


def videos_without_clips(*, session: Session) -> list[int]:
    """Ids of videos with frames but no clips (indexed before clips existed)."""
    has_clip = select(ClipRow.id).where(ClipRow.video_id == VideoRow.id).exists()
    query = select(VideoRow.id).where(
        VideoRow.status.in_(WITH_FRAMES), VideoRow.n_frames > 0, ~has_clip
    )
    return list(session.scalars(query.order_by(VideoRow.id)))
