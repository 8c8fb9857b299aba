"""Commands that build and look after a library: init, index, videos, stats, remove, doctor."""

from __future__ import annotations

from typing import Annotated

import typer

from vsearch.checks import check_paths
from vsearch.cli._app import (
    EXIT_FILES_FAILED,
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

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help=(
            "Frame encoder of a new library [env: VSEARCH_MODEL]. "
            "'open_clip:ARCH@TAG' (default open_clip:ViT-B-32@laion2b_s34b_b79k, semantic, "
            "text search), 'open_clip:ARCH@/path/ckpt.pt', 'torchvision:resnet50[@/path.pth]', "
            "or 'colorgrid': a small deterministic colour-layout descriptor that needs no "
            "download: good for tests, offline demos and finding copies, not for meaning."
        ),
        show_default=False,
    ),
]
FpsOpt = Annotated[
    float | None,
    typer.Option(
        "--fps",
        help="Frames sampled per second of video (new library; default 1).",
        show_default=False,
    ),
]


@app.command()
@handle_errors
def init(model: ModelOpt = None, fps: FpsOpt = None, json_out: JsonOpt = False) -> None:
    """Create a library (directory with a SQLite database and FAISS indexes)."""
    lib = open_library(create=True, model=model, fps=fps)
    with lib:
        info = {"library": str(lib.root), "model": lib.model_info.to_dict(), "fps": lib.fps}
    if json_out:
        emit_json(info)
    else:
        out.print(
            one_line(f"library {lib.root}: {lib.model_info.spec}, {lib.fps:g} frames/s"),
            markup=False,
        )


@app.command()
@handle_errors
def index(
    paths: Annotated[list[str], typer.Argument(help="Video files or folders (recursive).")],
    model: ModelOpt = None,
    fps: FpsOpt = None,
    prune: Annotated[
        bool, typer.Option(help="Remove library videos under PATHS that are gone.")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option(help="Try unchanged files that failed before.")
    ] = False,
    decoders: Annotated[int | None, typer.Option(help="Parallel ffmpeg decoders.")] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="auto|local|ADDRESS",
            help="Decode and encode on a Ray cluster (pip install 'vsearch[ray]'): 'auto' joins "
            "this machine's cluster, 'local' starts one here, or HOST:PORT / ray://HOST:PORT. "
            "Files must be at the same path on every node; this process still commits.",
            show_default=False,
        ),
    ] = None,
    ray_actors: Annotated[
        int, typer.Option(help="Ray actors (0: one per GPU of the cluster, else per CPU).")
    ] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Index videos incrementally: new and changed files are decoded, the rest skipped.

    Each video is committed as soon as it is done, so Ctrl+C (or a crash) loses at most the
    videos in flight; run the command again to go on. Exit code 3 when some files failed.
    """
    check_paths(paths)  # before a library is created for nothing
    lib = open_library(create=True, model=model, fps=fps, decoders=decoders)
    progress = RichProgress()
    with lib:
        report = lib.index(
            paths,
            prune=prune,
            retry_failed=retry_failed,
            progress=progress,
            ray=ray,
            ray_actors=ray_actors,
        )
    if json_out:
        emit_json(report.to_dict())
    else:
        rate = report.video_seconds / report.wall_seconds if report.wall_seconds else 0.0
        out.print(
            f"{len(report.indexed)} indexed, {len(report.reused)} reused, "
            f"{len(report.skipped)} unchanged, {len(report.partial)} partial, "
            f"{len(report.failed)} failed, {len(report.pruned)} pruned"
            f"{f', {len(report.elsewhere)} left to other writers' if report.elsewhere else ''}; "
            f"{report.frames} frames in {report.wall_seconds:.1f}s "
            f"({rate:.1f} video-s/s)",
            markup=False,
        )
    if report.failed:
        if not json_out:
            for path, cause in report.failed:
                if f"{path}: {cause}" in progress.reported:
                    continue  # printed when it happened
                err.print(
                    f"vsearch: failed {one_line(path)}: {one_line(cause)}",
                    markup=False,
                    highlight=False,
                )
        raise typer.Exit(EXIT_FILES_FAILED)


@app.command()
@handle_errors
def videos(
    errors: Annotated[bool, typer.Option("--errors", help="Only failed or partial files.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List the library's videos with their status and errors."""
    with open_library() as lib:
        rows = lib.videos(errors_only=errors)
    if json_out:
        emit_json(
            [
                {
                    "path": v.path,
                    "status": v.status,
                    "error": v.error,
                    "duration": v.duration,
                    "frames": v.n_frames,
                    "codec": v.codec,
                    "width": v.width,
                    "height": v.height,
                    "indexed_at": v.indexed_at,
                    "tags": [{"tag": t, "score": round(s, 4)} for t, s in v.tags or ()],
                }
                for v in rows
            ]
        )
        return
    render_table(
        f"{len(rows)} videos",
        ["status", "duration", "frames", "path", "tags", "error"],
        [
            [
                v.status,
                f"{v.duration or 0:.1f}s",
                v.n_frames,
                v.path,
                ", ".join(t for t, _ in (v.tags or [])[:3]),
                v.error or "",
            ]
            for v in rows
        ],
    )


@app.command()
@handle_errors
def stats(json_out: JsonOpt = False) -> None:
    """Counts, model and size of the library."""
    with open_library() as lib:
        data = lib.stats()
    if json_out:
        emit_json(data)
        return
    for key, value in data.items():
        out.print(f"{key:>16}: {value}", markup=False)


@app.command()
@handle_errors
def remove(
    path: Annotated[str, typer.Argument(help="A video, or a folder: all videos under it.")],
    json_out: JsonOpt = False,
) -> None:
    """Remove videos from the library (the files themselves are not touched)."""
    with open_library() as lib:
        removed = lib.remove(path)
    if json_out:
        emit_json({"removed": removed})
    else:
        out.print(f"removed {len(removed)} video(s)", markup=False)


@app.command()
@handle_errors
def doctor(json_out: JsonOpt = False) -> None:
    """Check ffmpeg, GPU, FAISS, the schema and index/database agreement (repairs the index)."""
    with open_library() as lib:
        report = lib.doctor()
    if json_out:
        emit_json(report)
    else:
        for name, check in report["checks"].items():
            mark = "ok " if check["ok"] else "FAIL"
            out.print(f"{mark} {name:>7}: {one_line(str(check['detail']))}", markup=False)
    if not report["ok"]:
        raise typer.Exit(1)
