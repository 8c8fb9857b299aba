"""Candidate files of a batch search, in the shape of the VSC descriptor and matching tracks.

CSV: one row per matched segment (per frame hit for image queries), best first per query::

    query,ref,score,query_start,query_end,ref_start,ref_end

JSON lines: one object per (query, reference video), with its segments::

    {"query", "ref", "score", "segments": [{"query_start", "query_end", "ref_start",
     "ref_end", "score"}]}

Image queries have no query times (empty / null); their ``ref_start`` = ``ref_end`` = the
time of the matching frame. Rows are written as answers come, so an interrupted run keeps
what it found.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO

from vsearch.errors import StorageError, UsageError
from vsearch.types import BatchAnswer, FrameHit

CSV_COLUMNS = ["query", "ref", "score", "query_start", "query_end", "ref_start", "ref_end"]
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})


def segments_of(answer: BatchAnswer) -> list[dict]:
    """The matched segments of an answer, best first, as plain dicts."""
    out = []
    for hit in answer.hits:
        if isinstance(hit, FrameHit):
            seg = {"query_start": None, "query_end": None,
                   "ref_start": round(hit.time, 3), "ref_end": round(hit.time, 3)}  # fmt: skip
        else:
            seg = {"query_start": round(hit.query_start, 3), "query_end": round(hit.query_end, 3),
                   "ref_start": round(hit.start, 3), "ref_end": round(hit.end, 3)}  # fmt: skip
        out.append({"ref": hit.path, **seg, "score": round(hit.score, 4)})
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
        segments = segments_of(answer)
        if self._csv is not None:
            for s in segments:
                times = [_blank(s["query_start"]), _blank(s["query_end"]), s["ref_start"]]
                self._csv.writerow([answer.query, s["ref"], s["score"], *times, s["ref_end"]])
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
