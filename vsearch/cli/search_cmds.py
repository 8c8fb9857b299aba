"""Query commands: search by image, by clip (--video) or by text (--text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsearch.cli._app import (
    JsonOpt,
    app,
    emit_json,
    err,
    handle_errors,
    open_library,
    render_table,
)
from vsearch.errors import UsageError
from vsearch.pipeline.search import REFINE_TOP
from vsearch.types import timecode


@app.command()
@handle_errors
def search(
    image: Annotated[
        Path | None, typer.Argument(help="An example image.", show_default=False)
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Number of results.")] = 10,
    frames: Annotated[
        bool, typer.Option("--frames", help="Raw frame hits, not one per video.")
    ] = False,
    json_out: JsonOpt = False,
    video: Annotated[
        Path | None,
        typer.Option(
            "--video",
            help="Query by clip: a video file; answers are matched segments of library videos.",
            show_default=False,
        ),
    ] = None,
    start: Annotated[
        float | None,
        typer.Option("--start", help="With --video: query from this second.", show_default=False),
    ] = None,
    end: Annotated[
        float | None,
        typer.Option("--end", help="With --video: query up to this second.", show_default=False),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="With --video: minimum segment score (default 0.75, see docs/benchmarks.md).",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            help="Query by text: any text with CLIP models; with ImageNet CNNs (effnet) a word "
            "naming ImageNet classes or their WordNet categories (dog, cat, car, bird...).",
            show_default=False,
        ),
    ] = None,
    refine: Annotated[
        int,
        typer.Option(
            "--refine",
            help="Image queries: re-time this many best hits to their exact best frame by "
            "decoding around them at the native frame rate (0: sampled times only).",
        ),
    ] = REFINE_TOP,
) -> None:
    """Find the videos that show IMAGE (or match --video CLIP, or --text), with where."""
    given = [x for x in (image, video, text) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one query: an IMAGE, --video FILE or --text TEXT")
    if video is None and (start is not None or end is not None or threshold is not None):
        raise UsageError("--start, --end and --threshold go with --video")
    if video is not None:
        _search_video(video, start, end, k, threshold, json_out)
        return
    with open_library() as lib:
        if text is not None:
            matched = lib.words_for(text)
            if matched and not json_out:
                err.print(f"matched {matched}", markup=False)
            hits = lib.search_text(text, k=k, frames=frames)
        else:
            hits = lib.search_image(image, k=k, frames=frames, refine=refine)
    if json_out:
        emit_json(
            [
                {"path": h.path, "time": round(h.time, 3), "score": round(h.score, 4)}
                | ({"classes": list(h.classes)} if h.classes else {})
                for h in hits
            ]
        )
        return
    render_table(
        f"{len(hits)} results for {image if text is None else repr(text)}",
        ["score", "time", "path"] + (["classes"] if text is not None else []),
        [
            [f"{h.score:.3f}", _clock(h.time), h.path]
            + ([", ".join(h.classes)] if text is not None else [])
            for h in hits
        ],
    )


def _search_video(
    video: Path, start: float | None, end: float | None, k: int, threshold, json_out: bool
) -> None:
    kwargs = {} if threshold is None else {"threshold": threshold}
    with open_library() as lib:
        matches = lib.search_video(video, start=start, end=end, k=k, **kwargs)
    if json_out:
        emit_json(
            [
                {
                    "path": m.path,
                    "score": round(m.score, 4),
                    "start": round(m.start, 3),
                    "end": round(m.end, 3),
                    "query_start": round(m.query_start, 3),
                    "query_end": round(m.query_end, 3),
                }
                for m in matches
            ]
        )
        return
    render_table(
        f"{len(matches)} matching segments for {video}",
        ["score", "segment", "query segment", "path"],
        [
            [
                f"{m.score:.3f}",
                f"{_clock(m.start)}-{_clock(m.end)}",
                f"{_clock(m.query_start)}-{_clock(m.query_end)}",
                m.path,
            ]
            for m in matches
        ],
    )


_clock = timecode
