"""The duplicate report as CSV: one row per matched segment pair."""

from __future__ import annotations

import csv
from pathlib import Path

from vsearch.errors import StorageError
from vsearch.pipeline.dups import DupReport


def write_csv(report: DupReport, path: str | Path) -> Path:
    """One row per match: score, exact, frames, then path/start/end of both segments, then
    the frame numbers of the four times (empty when a video's frame rate is unknown)."""
    out = Path(path)
    try:
        # surrogateescape: names that are not UTF-8 keep their exact bytes
        with out.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                ["score", "exact", "frames", "a_path", "a_start", "a_end", "b_path", "b_start",
                 "b_end", "a_start_frame", "a_end_frame", "b_start_frame", "b_end_frame"]
            )  # fmt: skip
            for m in report.matches:
                writer.writerow(
                    [f"{m.score:.4f}", int(m.exact), m.frames, m.a_path, f"{m.a_start:.3f}",
                     f"{m.a_end:.3f}", m.b_path, f"{m.b_start:.3f}", f"{m.b_end:.3f}",
                     *(_blank(f) for f in (m.a_start_frame, m.a_end_frame, m.b_start_frame,
                                           m.b_end_frame))]
                )  # fmt: skip
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def _blank(value: int | None) -> int | str:
    return "" if value is None else value
