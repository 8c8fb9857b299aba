"""Query commands: search by image, by clip (--video) or by text (--text)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from vsearch.cli._app import (
    EXIT_FILES_FAILED,
    FormatOpt,
    JsonOpt,
    OutputFormat,
    OutputOpt,
    RichProgress,
    app,
    chosen_format,
    emit_listing,
    err,
    handle_errors,
    one_line,
    open_library,
    render_table,
)
from vsearch.errors import UsageError
from vsearch.pipeline.clip_search import REGION_GRID, REGION_MAX_FRAMES, REGIONS
from vsearch.pipeline.scoring import help_thresholds
from vsearch.pipeline.search import DEFAULT_K, REFINE_TOP, is_image_query
from vsearch.report.candidates import CSV_COLUMNS
from vsearch.types import timecode


@app.command()
@handle_errors
def search(
    image: Annotated[
        Path | None,
        typer.Argument(
            help="An example image, or a video (a clip query), told apart by content.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Number of results.")] = DEFAULT_K,
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
            "--min-score",
            help="Clip queries: lowest segment score shown (how many are hidden below it is "
            "said on stderr). Not the frame similarity of `dups --min-similarity`. "
            + help_thresholds("clip_search"),
            show_default=False,
        ),
    ] = None,
    old_threshold: Annotated[
        float | None, typer.Option("--threshold", hidden=True, show_default=False)
    ] = None,
    exclude_self: Annotated[
        bool,
        typer.Option(
            "--exclude-self", help="Clip queries: leave out the query file itself if indexed."
        ),
    ] = False,
    regions: Annotated[
        bool,
        typer.Option(
            "--regions/--no-regions",
            help="Clip queries: when the whole frames find no copy, search again with "
            f"{REGION_GRID}x{REGION_GRID} windows of half the frame's size (a copy shown small "
            "inside other footage) and with the frames turned, if that fits (a copy on its "
            "side or upside down). Costs a second decode and about ten times the encoding; "
            f"queries of more than {REGION_MAX_FRAMES} sampled frames are not searched again.",
        ),
    ] = REGIONS,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            help="Query by text: any text with CLIP models; with ImageNet CNNs (effnet) a word "
            "naming ImageNet classes or their WordNet categories (dog, cat, car, bird...).",
            show_default=False,
        ),
    ] = None,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch",
            help="Many queries: a folder of images and clips, or a list file (.txt/.csv, one "
            "path per line). Writes candidates (query, ref, score, segments) as JSON lines, "
            "or to --out.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With --batch: the candidates file, .csv (one row per segment: "
            f"{', '.join(CSV_COLUMNS)}) or .jsonl.",
            show_default=False,
        ),
    ] = None,
    refine: Annotated[
        int,
        typer.Option(
            "--refine",
            help="Image queries (also in --batch): re-time this many best hits to their exact "
            "best frame, by placing the picture's pixels over their likeliest moments and the "
            "frames around the best one at the native frame rate (0: sampled times only).",
        ),
    ] = REFINE_TOP,
) -> None:
    """Find the videos that show FILE (an image or a video, told apart by content), or
    match --text, with where.

    A video FILE (or --video FILE) is a clip query: answers are the matched segments of
    library videos, with their times and the times in the query.

    --batch answers many image and clip queries in one run (encoded and searched in
    batches); a query file that cannot be read gets a one-line error and the rest go on
    (exit code 3).
    """
    if threshold is not None and old_threshold is not None:
        raise UsageError("--threshold is the old name of --min-score: give one of them")
    min_score = old_threshold if threshold is None else threshold
    if batch is not None:
        if image is not None or video is not None or text is not None:
            raise UsageError("--batch takes the place of FILE, --video and --text")
        if start is not None or end is not None:
            raise UsageError("--start and --end go with a video query, not --batch")
        _search_batch(batch, out, k, frames, min_score, refine, regions)
        return
    if out is not None:
        raise UsageError("--out goes with --batch (listings take -o/--output)")
    given = [x for x in (image, video, text) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one query: a FILE, --video FILE, --text TEXT or --batch")
    if image is not None and not is_image_query(image):
        image, video = None, image
    if video is None and (start is not None or end is not None or min_score is not None):
        raise UsageError("--start, --end and --min-score go with a video query")
    if video is None and exclude_self:
        raise UsageError("--exclude-self goes with a video query")
    if video is None and not regions:
        raise UsageError("--no-regions goes with a video query or --batch")
    if video is not None:
        _search_video(video, start, end, k, min_score, exclude_self, regions, json_out, fmt, output)
        return
    with open_library() as lib:
        if text is not None:
            matched = lib.words_for(text)
            if matched and chosen_format(fmt, json_out) == "table":
                err.print(f"matched {matched}", markup=False)
            hits = lib.search_text(text, k=k, frames=frames)
        else:
            hits = lib.search_image(image, k=k, frames=frames, refine=refine)
    emit_listing(
        [h.to_dict() for h in hits],
        fmt=fmt,
        json_out=json_out,
        output=output,
        table=lambda console: render_table(
            f"{len(hits)} results for {image if text is None else repr(text)}",
            ["score", "time", "path"] + (["classes"] if text is not None else []),
            [
                [f"{h.score:.3f}", _clock(h.time), h.path]
                + ([", ".join(h.classes)] if text is not None else [])
                for h in hits
            ],
            console,
        ),
    )


def _search_batch(
    source: Path,
    out: Path | None,
    k: int,
    frames: bool,
    threshold: float | None,
    refine: int,
    regions: bool,
) -> None:
    import time

    from vsearch.report.candidates import CandidateWriter

    writer = CandidateWriter(out)
    started = time.perf_counter()
    answered = failed = 0
    try:
        with open_library() as lib:
            answers = lib.search_batch(
                source,
                k=k,
                frames=frames,
                threshold=threshold,
                refine=refine,
                regions=regions,
                progress=RichProgress(),
            )
            for answer in answers:
                answered += 1
                if answer.error is not None:
                    failed += 1
                else:
                    writer.write(answer)
    finally:
        writer.close()
    seconds = time.perf_counter() - started
    where = f" written to {out}" if out is not None else ""
    err.print(
        one_line(
            f"{answered} queries in {seconds:.1f}s ({answered / max(seconds, 1e-9):.1f}/s), "
            f"{failed} failed; {writer.rows} candidates{where}"
        ),
        markup=False,
        highlight=False,
    )
    if failed:
        raise typer.Exit(EXIT_FILES_FAILED)


def _search_video(
    video: Path,
    start: float | None,
    end: float | None,
    k: int,
    min_score: float | None,
    exclude_self: bool,
    regions: bool,
    json_out: bool,
    fmt: OutputFormat | None,
    output: str | None,
) -> None:
    kwargs = {} if min_score is None else {"threshold": min_score}
    with open_library() as lib:
        matches = lib.search_video(
            video, start=start, end=end, k=k, exclude_self=exclude_self, regions=regions,
            **kwargs,
        )  # fmt: skip
    emit_listing(
        [m.to_dict() for m in matches],
        fmt=fmt,
        json_out=json_out,
        output=output,
        table=lambda console: render_table(
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
            console,
        ),
    )
    hidden = getattr(matches, "hidden", 0)
    if hidden:
        best = matches.best_hidden  # set whenever an answer was hidden
        err.print(
            f"{hidden} more below {matches.threshold:g}, the best {best.score:.3f} "
            f"({best.path} {_clock(best.start)}-{_clock(best.end)}); --min-score "
            f"{math.floor(best.score * 20) / 20:g} to see it",
            markup=False,
            highlight=False,
        )


_clock = timecode
