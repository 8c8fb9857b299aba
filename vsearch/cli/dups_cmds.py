"""The `dups` command: near-duplicate footage across the library, as a table, JSON, CSV or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsearch.cli._app import (
    JsonOpt,
    RichProgress,
    app,
    emit_json,
    err,
    handle_errors,
    one_line,
    open_library,
    out,
    render_table,
)

THRESHOLD_HELP = (
    "Frame similarity (cosine) at or above which two frames count as the same footage. "
    "What the default 0.90 means, measured with the colorgrid encoder at 4 frames/s on a "
    "copy-detection benchmark of real footage (scripts/bench_dups.py quality, "
    "docs/benchmarks.md): precision 1.0 (all 16 reported segment pairs are true copies) and "
    "recall 0.70 of the 23 known copy pairs: mirrored, recoloured, low-quality, 1.5x fast and "
    "embedded copies are found, 20% crops are not. 0.85 also found a fast-motion re-encode "
    "(recall 0.74, precision 1.0); 0.80 made the first false match; 0.97 keeps near-exact "
    "copies only (recall 0.48)."
)


@app.command()
@handle_errors
def dups(
    threshold: Annotated[float, typer.Option("--threshold", "-t", help=THRESHOLD_HELP)] = 0.90,
    min_duration: Annotated[
        float, typer.Option("--min-duration", help="Shortest matched segment, in seconds.")
    ] = 2.0,
    within: Annotated[
        bool, typer.Option("--within", help="Also report repeats inside one video.")
    ] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write the matches to this CSV file.")
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Write a self-contained HTML report with thumbnails."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Find footage shown in two library videos: re-uploads, re-edits, reused clips.

    Each match gives both files, both segments (start, end in seconds) and a score: the
    mean similarity of the matched frames (1.0 and "exact" for byte-identical files).
    Black, blank, single-colour frames and still title cards never make a match. --json
    prints a JSON array, best first: {"a": {"path", "start", "end"}, "b": {...}, "score",
    "exact", "frames"}; a one-line summary goes to stderr.
    """
    with open_library() as lib:
        report = lib.find_duplicates(
            threshold=threshold,
            min_duration=min_duration,
            within=within,
            progress=RichProgress(),
        )
        if csv_file is not None:
            from vsearch.pipeline.dups import write_csv

            write_csv(report, csv_file)
        if html_file is not None:
            from vsearch.report.html import write_report

            write_report(report, html_file, progress=RichProgress())
    s = report.summary()
    line = (
        f"{s['matches']} matches ({s['exact']} exact) among {s['videos']} videos; "
        f"{s['searched_frames']}/{s['frames']} frames searched ({s['search']})"
    )
    if json_out:
        emit_json([m.to_dict() for m in report.matches])
        err.print(one_line(line), markup=False, highlight=False)
        return
    render_table(
        f"{len(report.matches)} duplicate segment pairs",
        ["score", "a", "a segment", "b", "b segment"],
        [
            [
                f"{m.score:.3f}" + (" exact" if m.exact else ""),
                m.a_path,
                f"{m.a_start:.1f}-{m.a_end:.1f}s",
                m.b_path,
                f"{m.b_start:.1f}-{m.b_end:.1f}s",
            ]
            for m in report.matches
        ],
    )
    out.print(line, markup=False, highlight=False)
    for name, path in (("CSV", csv_file), ("HTML report", html_file)):
        if path is not None:
            out.print(one_line(f"{name} written to {path}"), markup=False, highlight=False)
