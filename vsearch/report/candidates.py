"""Candidate files of a batch search, in the shape of the VSC descriptor and matching tracks.

CSV: one row per matched segment (per frame hit for image queries), best first per query::

    query,ref,score,query_start,query_end,ref_start,ref_end,query_start_frame,query_end_frame,
    ref_start_frame,ref_end_frame

JSON lines: one object per (query, reference video), with its segments::

    {"query", "ref", "score", "segments": [{"query_start", "query_end", "ref_start",
     "ref_end", "score", "query_start_frame", "query_end_frame", "ref_start_frame",
     "ref_end_frame"}]}

Times are seconds; each ``*_frame`` is the frame number of that time in its own file's frame
stream (``vsearch.types.frame_at``; the query's at the query file's rate), empty / null when
the rate is unknown. Image queries have no query times (empty / null); their ``ref_start`` =
``ref_end`` = the time of the matching frame. Rows are written as answers come, so an
interrupted run keeps what it found.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO

from vsearch.errors import StorageError, UsageError
from vsearch.types import BatchAnswer, FrameHit

TIME_COLUMNS = ["query_start", "query_end", "ref_start", "ref_end"]
FRAME_COLUMNS = [f"{c}_frame" for c in TIME_COLUMNS]
CSV_COLUMNS = ["query", "ref", "score", *TIME_COLUMNS, *FRAME_COLUMNS]
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})


def _segments_of(answer: BatchAnswer) -> list[dict]:
    """The matched segments of an answer, best first, as plain dicts."""
    out = []
    for hit in answer.hits:
        if isinstance(hit, FrameHit):
            times = [None, None, round(hit.time, 3), round(hit.time, 3)]
            frames = [None, None, hit.frame, hit.frame]
        else:
            times = [round(t, 3) for t in (hit.query_start, hit.query_end, hit.start, hit.end)]
            frames = [hit.query_start_frame, hit.query_end_frame, hit.start_frame, hit.end_frame]
        out.append(
            {
                "ref": hit.path,
                **dict(zip(TIME_COLUMNS, times, strict=True)),
                "score": round(hit.score, 4),
                **dict(zip(FRAME_COLUMNS, frames, strict=True)),
            }
        )
    return out


class CandidateWriter:
    """Writes answers to ``path`` (CSV, or JSON lines for .jsonl/.ndjson/.json) or stdout."""

    def __init__(self, path: Path | None):
        self.path = path
        self.format = "jsonl" if path is None or path.suffix.lower() in JSONL_SUFFIXES else "csv"
        if path is not None and path.suffix.lower() not in JSONL_SUFFIXES | {".csv"}:
            raise UsageError(f"{path}: write candidates to a .csv or a .jsonl file")
        self.rows = 0
        self._file: IO[str]
        if path is None:
            self._file = sys.stdout
        else:
            try:
                self._file = path.open("w", encoding="utf-8", newline="", errors="surrogateescape")
            except OSError as exc:
                raise StorageError(f"cannot write {path}: {exc.strerror}") from None
        self._csv = csv.writer(self._file) if self.format == "csv" else None
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def write(self, answer: BatchAnswer) -> None:
        segments = _segments_of(answer)
        if self._csv is not None:
            for s in segments:
                rest = [_blank(s[c]) for c in (*TIME_COLUMNS, *FRAME_COLUMNS)]
                self._csv.writerow([answer.query, s["ref"], s["score"], *rest])
                self.rows += 1
        else:
            by_ref: dict[str, list[dict]] = {}
            for s in segments:
                by_ref.setdefault(s.pop("ref"), []).append(s)
            for ref, segs in by_ref.items():
                line = {"query": answer.query, "ref": ref,
                        "score": max(s["score"] for s in segs), "segments": segs}  # fmt: skip
                self._file.write(json.dumps(line, ensure_ascii=True) + "\n")
                self.rows += 1
        self._file.flush()

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()


def _blank(value: float | None) -> str | float:
    return "" if value is None else value
