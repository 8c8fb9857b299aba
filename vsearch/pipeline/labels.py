"""Labelling use case: attach labels to library videos (whole or a segment), import a CSV.

A label with no start/end covers the whole video. CSV format: ``path,label[,start,end]`` per
line, an optional header line ``path,label,start,end``; errors name the file and line.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.checks import time_range
from vsearch.errors import UsageError
from vsearch.types import LabelRecord, NewLabel, PredictionRecord, VideoStatus

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

MAX_LABEL_CHARS = 200


def check_label(label: str) -> str:
    text = (label or "").strip()
    if not text:
        raise UsageError("a label cannot be empty")
    if len(text) > MAX_LABEL_CHARS or "\n" in text:
        raise UsageError(f"a label is one line of at most {MAX_LABEL_CHARS} characters")
    return text


def check_range(start: float | None, end: float | None) -> tuple[float | None, float | None]:
    if start is None and end is None:
        return None, None
    try:
        return time_range(0.0 if start is None else start, end)
    except UsageError as exc:
        raise UsageError(f"bad segment {start}..{end}: {exc}") from None


def _video_id(store: LibraryStore, path: str | Path, *, allow_failed: bool = False) -> int:
    given = os.path.abspath(os.fspath(path))
    video = store.video_at(given)
    if video is None and os.path.exists(given):
        video = store.video_at(os.path.realpath(given))
    if video is None:
        raise UsageError(
            f"{given} is not in library {store.root}: index it first (`vsearch index`)"
        )
    if video.status == VideoStatus.FAILED and not allow_failed:
        raise UsageError(f"{given} failed to index ({video.error}): it has no frames to label")
    return video.id


def add_label(
    store: LibraryStore,
    path: str | Path,
    label: str,
    *,
    start: float | None = None,
    end: float | None = None,
) -> LabelRecord:
    """Label a library video (or its ``start``..``end`` seconds)."""
    label = check_label(label)
    start, end = check_range(start, end)
    with store.writing():
        (record,) = store.add_labels([NewLabel(_video_id(store, path), label, start, end)])
    log.info("labelled %s as %s", record.path, label)
    return record


def remove_label(
    store: LibraryStore,
    path: str | Path,
    label: str | None = None,
    *,
    start: float | None = None,
    end: float | None = None,
) -> int:
    """Remove a video's ``label`` (every label when None); with ``start``/``end`` only the
    label of that span. Returns how many labels were removed (UsageError when none)."""
    if label is not None:
        label = check_label(label)
    span = start is not None or end is not None
    if span:
        start, end = check_range(start, end)
    video_id = _video_id(store, path, allow_failed=True)
    removed = store.remove_labels(video_id, label, start=start, end=end, any_span=not span)
    if not removed:
        what = f"label {label!r}" if label is not None else "labels"
        raise UsageError(f"{os.path.abspath(os.fspath(path))} has no such {what}")
    return removed


def list_predictions(store: LibraryStore, path: str | Path | None = None) -> list[PredictionRecord]:
    """The predictions stored by ``classify(library=True)``: one per video and classifier (the
    whole video) and per clip window, with the score of the predicted label, each with its
    video's path and frame rate."""
    video_id = _video_id(store, path, allow_failed=True) if path is not None else None
    videos = {v.id: v for v in store.videos()}
    rows = []
    for p in store.predictions(video_id):
        video = videos.get(p.video_id)
        if video is not None:
            p = dataclasses.replace(p, path=video.path, fps=video.fps)
        rows.append(p)
    return rows


def import_labels(store: LibraryStore, csv_path: str | Path) -> list[LabelRecord]:
    """Add every label of a CSV file in one transaction (nothing is added if a line is bad)."""
    csv_path = Path(csv_path)
    try:
        # surrogateescape: a file name that is not UTF-8 comes through byte for byte
        text = csv_path.read_text(encoding="utf-8-sig", errors="surrogateescape")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read labels file {csv_path}: {exc}") from None
    rows: list[NewLabel] = []
    with store.writing():
        for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if lineno == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]:
                continue
            where = f"{csv_path} line {lineno}"
            if len(row) not in (2, 3, 4):
                raise UsageError(f"{where}: expected path,label[,start,end], got {len(row)} fields")
            try:
                start = float(row[2]) if len(row) > 2 and row[2].strip() else None
                end = float(row[3]) if len(row) > 3 and row[3].strip() else None
                label = check_label(row[1])
                start, end = check_range(start, end)
                video_id = _video_id(store, _beside(csv_path, row[0].strip()))
            except ValueError as exc:
                raise UsageError(f"{where}: start/end must be seconds ({exc})") from None
            except UsageError as exc:
                raise UsageError(f"{where}: {exc}") from None
            rows.append(NewLabel(video_id, label, start, end))
        records = store.add_labels(rows)
    log.info("imported %d labels from %s", len(records), csv_path)
    return records


def _beside(csv_path: Path, name: str) -> str:
    """A relative path in a CSV file is relative to the CSV file's folder, not to the
    current one: the file and the videos it names can be moved together."""
    if not name or os.path.isabs(name):
        return name
    return os.path.join(os.path.dirname(os.path.abspath(csv_path)), name)


def list_labels(store: LibraryStore) -> list[LabelRecord]:
    return store.labels()


def label_counts(records: list[LabelRecord]) -> dict[str, dict[str, int]]:
    """label -> {"labels": how many, "videos": on how many videos}."""
    n = Counter(r.label for r in records)
    videos = Counter(label for label, _ in {(r.label, r.video_id) for r in records})
    return {label: {"labels": n[label], "videos": videos[label]} for label in sorted(n)}
