"""Query commands: search by image (and by clip or text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsearch.cli._app import JsonOpt, app, emit_json, handle_errors, open_library, render_table


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
) -> None:
    """Find the videos that show IMAGE, with the second of the best frame."""
    if image is None:
        raise typer.BadParameter("give an IMAGE to search for")
    with open_library() as lib:
        hits = lib.search_image(image, k=k, frames=frames)
    if json_out:
        emit_json(
            [{"path": h.path, "time": round(h.time, 3), "score": round(h.score, 4)} for h in hits]
        )
        return
    render_table(
        f"{len(hits)} results for {image}",
        ["score", "time", "path"],
        [[f"{h.score:.3f}", _clock(h.time), h.path] for h in hits],
    )


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:05.2f}"
