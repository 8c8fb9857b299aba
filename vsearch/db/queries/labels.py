"""User labels and classifier predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from vsearch.db.queries.videos import now_iso
from vsearch.db.schema import LabelRow, PredictionRow, VideoRow
from vsearch.types import LabelRecord, PredictionRecord, ScoredLabel


def _same_label(video_id: int, label: str | None, start: float | None, end: float | None):
    conditions = [LabelRow.video_id == video_id]
    if label is not None:
        conditions.append(LabelRow.label == label)
    for column, value in ((LabelRow.start, start), (LabelRow.end, end)):
        conditions.append(column.is_(None) if value is None else column == value)
    return conditions


def add_label(
    video_id: int, label: str, start: float | None, end: float | None, *, session: Session
) -> int:
    """Add a label; the same label on the same span again is not a second row."""
    existing = session.scalar(
        select(LabelRow.id).where(*_same_label(video_id, label, start, end)).limit(1)
    )
    if existing is not None:
        return existing
    row = LabelRow(video_id=video_id, label=label, start=start, end=end, created_at=now_iso())
    session.add(row)
    session.flush()
    return row.id


def remove_labels(
    video_id: int,
    label: str | None,
    *,
    start: float | None = None,
    end: float | None = None,
    any_span: bool = True,
    session: Session,
) -> int:
    """Delete a video's labels (``label`` or all; the one span, or any with ``any_span``);
    return how many were deleted."""
    if any_span:
        conditions = [LabelRow.video_id == video_id]
        if label is not None:
            conditions.append(LabelRow.label == label)
    else:
        conditions = _same_label(video_id, label, start, end)
    result = cast("CursorResult[Any]", session.execute(delete(LabelRow).where(*conditions)))
    return result.rowcount


def list_labels(*, session: Session, label: str | None = None) -> list[LabelRecord]:
    query = (
        select(LabelRow, VideoRow.path, VideoRow.fps)
        .join(VideoRow, VideoRow.id == LabelRow.video_id)
        .order_by(VideoRow.path, LabelRow.start, LabelRow.id)
    )
    if label is not None:
        query = query.where(LabelRow.label == label)
    return [
        LabelRecord(
            id=row.id,
            video_id=row.video_id,
            path=path,
            label=row.label,
            start=row.start,
            end=row.end,
            created_at=row.created_at,
            fps=fps,
        )
        for row, path, fps in session.execute(query)
    ]


def labelled_video_ids(*, session: Session) -> set[int]:
    return set(session.scalars(select(LabelRow.video_id).distinct()))


def replace_predictions(
    video_id: int, classifier: str, rows: Sequence[ScoredLabel], *, session: Session
) -> None:
    """Store a classifier's labels for a video, replacing its old ones."""
    session.execute(
        delete(PredictionRow).where(
            PredictionRow.video_id == video_id, PredictionRow.classifier == classifier
        )
    )
    stamp = now_iso()
    for row in rows:
        session.add(
            PredictionRow(
                video_id=video_id,
                classifier=classifier,
                label=row.label,
                score=float(row.score),
                start=row.start,
                end=row.end,
                created_at=stamp,
            )
        )


def list_predictions(*, session: Session, video_id: int | None = None) -> list[PredictionRecord]:
    """Stored predictions, per video whole-video rows first, then by start."""
    query = select(
        PredictionRow.video_id,
        PredictionRow.classifier,
        PredictionRow.label,
        PredictionRow.score,
        PredictionRow.start,
        PredictionRow.end,
    ).order_by(PredictionRow.video_id, PredictionRow.start.is_not(None), PredictionRow.start)
    if video_id is not None:
        query = query.where(PredictionRow.video_id == video_id)
    return [
        PredictionRecord(
            video_id=vid, classifier=classifier, label=label, score=score, start=start, end=end
        )
        for vid, classifier, label, score, start, end in session.execute(query)
    ]
