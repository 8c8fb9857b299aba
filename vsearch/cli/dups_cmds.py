"""The `dups` command: near-duplicate footage across the library, as a table, JSON, CSV or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vsearch.cli._app import (
    FormatOpt,
    JsonOpt,
    OutputOpt,
    RichProgress,
    app,
    chosen_format,
    emit_listing,
    err,
    handle_errors,
    one_line,
    open_library,
    out,
    render_table,
)
from vsearch.errors import UsageError
from vsearch.pipeline.dups import DEFAULT_MIN_DURATION
from vsearch.pipeline.scoring import help_thresholds
from vsearch.types import timecode

if TYPE_CHECKING:
    from vsearch.pipeline.dups import CopyGroup
    from vsearch.types import JSONObject

THRESHOLD_HELP = (
    "Frame score at or above which two frames count as the same footage. " + help_thresholds("dups")
)


@app.command()
@handle_errors
def dups(
    threshold: Annotated[
        float | None,
        typer.Option("--min-similarity", help=THRESHOLD_HELP, show_default=False),
    ] = None,
    old_threshold: Annotated[
        float | None, typer.Option("--threshold", "-t", hidden=True, show_default=False)
    ] = None,
    min_duration: Annotated[
        float, typer.Option("--min-duration", help="Shortest matched segment, in seconds.")
    ] = DEFAULT_MIN_DURATION,
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
    group: Annotated[
        bool,
        typer.Option(
            "--group",
            help="Cluster the copies (videos joined by any match) and name the one worth "
            "keeping: most pixels, then highest bitrate, then longest. With --format paths: "
            "the other copies, one a line.",
        ),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Show at most this many matches (or groups), best first."),
    ] = None,
    json_out: JsonOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Find footage shown in two library videos: re-uploads, re-edits, reused clips.

    Each match gives both files, both segments (start, end in seconds, with the frame
    numbers start_frame, end_frame in each file's own frame stream) and a score: the
    mean similarity of the matched frames, calibrated for models that ship a background set
    (the default effnet: 0 is as similar as unrelated footage), raw cosine for others; 1.0
    and "exact" for byte-identical files.
    Black, blank, single-colour frames and still title cards never make a match. --json
    prints a JSON array, best first: {"a": {"path", "start", "end", "start_frame",
    "end_frame"}, "b": {...}, "score", "exact", "frames"}; a one-line summary goes to stderr.
    """
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    if threshold is not None and old_threshold is not None:
        raise UsageError("--threshold is the old name of --min-similarity: give one of them")
    similarity = threshold if threshold is not None else old_threshold
    with open_library() as lib:
        report = lib.find_duplicates(
            threshold=similarity,  # None: the default of the library's score scale
            min_duration=min_duration,
            within=within,
            progress=RichProgress(),
        )
        if csv_file is not None:
            from vsearch.report.csv import write_csv

            write_csv(report, csv_file)
        if html_file is not None:
            from vsearch.report.html import write_report

            write_report(report, html_file, progress=RichProgress())
        groups = lib.group_duplicates(report) if group else None
    s = report.summary()
    line = (
        f"{s['matches']} matches ({s['exact']} exact) among {s['videos']} videos; "
        f"{s['searched_frames']}/{s['frames']} frames searched ({s['search']})"
    )
    kind = chosen_format(fmt, json_out)
    if groups is not None:
        _emit_groups(groups[:limit], kind, fmt, json_out, output)
    else:
        _emit_matches(report, limit, kind, fmt, json_out, output)
    if kind != "table" and output in (None, "-"):
        err.print(one_line(line), markup=False, highlight=False)
        return
    out.print(line, markup=False, highlight=False)
    for name, path in (("CSV", csv_file), ("HTML report", html_file)):
        if path is not None:
            out.print(one_line(f"{name} written to {path}"), markup=False, highlight=False)


def _emit_groups(groups: list[CopyGroup], kind, fmt, json_out, output) -> None:
    rows: list[JSONObject]
    if kind == "paths":
        rows = [{"path": p} for g in groups for p in g.copies]
    elif kind in ("csv", "jsonl"):
        rows = [
            {"group": i, "keep": v.path == g.keep, **v.to_dict()}
            for i, g in enumerate(groups, 1)
            for v in g.videos
        ]
    else:
        rows = [g.to_dict() for g in groups]

    def table(console) -> None:
        render_table(
            f"{len(groups)} groups of copies",
            ["group", "keep", "resolution", "bitrate", "duration", "path"],
            [
                [
                    i,
                    "keep" if v.path == g.keep else "",
                    f"{v.width}x{v.height}" if v.width else "?",
                    f"{v.bitrate / 1000:.0f} kb/s" if v.bitrate else "?",
                    timecode(v.duration),
                    v.path,
                ]
                for i, g in enumerate(groups, 1)
                for v in g.videos
            ],
            console,
        )

    emit_listing(rows, fmt=fmt, json_out=json_out, output=output, table=table)


def _emit_matches(report, limit, kind, fmt, json_out, output) -> None:
    shown = report.matches[:limit]
    listing = [m.to_row() for m in shown]
    if kind == "json":  # the documented nested shape
        listing = [m.to_dict() for m in shown]
    elif kind == "paths":
        listing = [
            {"path": p} for p in dict.fromkeys(x for m in shown for x in (m.a_path, m.b_path))
        ]
    emit_listing(
        listing,
        fmt=fmt,
        json_out=json_out,
        output=output,
        table=lambda console: render_table(
            f"{len(shown)} duplicate segment pairs"
            + (f" (of {len(report.matches)})" if len(shown) < len(report.matches) else ""),
            ["score", "a", "a segment", "b", "b segment"],
            [
                [
                    f"{m.score:.3f}" + (" exact" if m.exact else ""),
                    m.a_path,
                    f"{timecode(m.a_start)}-{timecode(m.a_end)}",
                    m.b_path,
                    f"{timecode(m.b_start)}-{timecode(m.b_end)}",
                ]
                for m in shown
            ],
            console,
        ),
    )
