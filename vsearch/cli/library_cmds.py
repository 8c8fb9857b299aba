"""Commands that build and look after a library: init, index, shards, videos, stats, remove,
doctor."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from vsearch.checks import check_paths
from vsearch.cli._app import (
    EXIT_FILES_FAILED,
    FormatOpt,
    JsonOpt,
    OutputOpt,
    RichProgress,
    app,
    emit_json,
    emit_listing,
    err,
    handle_errors,
    one_line,
    open_library,
    out,
    render_table,
    settings,
)
from vsearch.config import DEFAULT_FPS, DEFAULT_MODEL
from vsearch.errors import VsearchError
from vsearch.index.sharded import DEFAULT_NPROBE, DEFAULT_SHARD_SIZE
from vsearch.store.shards import (
    DEFAULT_WORKERS,
    RERANK_CANDIDATES,
    SHARDS_DIR,
    ShardRefresh,
    ShardsSummary,
)
from vsearch.types import DEFAULT_FRAMING, Framing, timecode

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help=(
            f"Frame encoder of a new library [env: VSEARCH_MODEL; default {DEFAULT_MODEL}: "
            "EfficientNet-Lite0, ImageNet weights installed with vsearch, no download; "
            "copies, image queries, footage of the same kind; 'effnet:lite1', 'effnet:lite2' "
            "are larger]. 'open_clip:ARCH@TAG' or 'open_clip:ARCH@/path/ckpt.pt' (CLIP: text "
            "search and zero-shot classification; weights from the hub cache or a file), "
            "'torchvision:resnet50[@/path.pth]', or 'colorgrid': a tiny deterministic "
            "colour-layout descriptor for tests and very small machines; `vsearch models` "
            "lists every family, plugins included. An existing library keeps the model it was "
            "created with."
        ),
        show_default=False,
    ),
]
FpsOpt = Annotated[
    float | None,
    typer.Option(
        "--fps",
        help=f"Frames sampled per second of video (new library; default {DEFAULT_FPS:g}).",
        show_default=False,
    ),
]


FramingOpt = Annotated[
    Framing | None,
    typer.Option(
        "--framing",
        help=(
            f"Frame geometry of a new library [env: VSEARCH_FRAMING; default "
            f"{DEFAULT_FRAMING}]: 'full' keeps the whole picture, trims uniform borders "
            "(letterbox, pillarbox) frame by frame and squeezes it to a square, so copies "
            "with other borders or aspect ratios match; 'centre' keeps the centre square."
        ),
        show_default=False,
    ),
]


@app.command()
@handle_errors
def init(
    model: ModelOpt = None,
    fps: FpsOpt = None,
    framing: FramingOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a library (directory with a SQLite database and FAISS indexes)."""
    lib = open_library(create=True, model=model, fps=fps, framing=framing)
    with lib:
        info = {
            "library": str(lib.root),
            "model": lib.model_info.to_dict(),
            "fps": lib.fps,
            "framing": lib.framing.value,
        }
    if json_out:
        emit_json(info)
    else:
        out.print(
            one_line(
                f"library {lib.root}: {lib.model_info.spec}, {lib.fps:g} frames/s, "
                f"{lib.framing} framing"
            ),
            markup=False,
        )


@app.command()
@handle_errors
def index(
    paths: Annotated[list[str], typer.Argument(help="Video files or folders (recursive).")],
    model: ModelOpt = None,
    fps: FpsOpt = None,
    framing: FramingOpt = None,
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
            help="Decode and encode on a Ray cluster (pip install 'vsearch-video[ray]'): "
            "'auto' joins this machine's cluster, 'local' starts one here, or "
            "HOST:PORT or ray://HOST:PORT. Files must be at the same path on every node; "
            "this process still commits.",
            show_default=False,
        ),
    ] = None,
    ray_actors: Annotated[
        int, typer.Option(help="Ray actors (0: one per GPU of the cluster, else per CPU).")
    ] = 0,
    shards: Annotated[
        bool,
        typer.Option(
            "--shards",
            help="Then build or refresh the library's IVF-PQ frame shards, as `vsearch "
            "shards` does with its defaults (only the shards this run changed are rebuilt).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Index videos incrementally: new and changed files are decoded, the rest skipped.

    Each video is committed as soon as it is done, so Ctrl+C (or a crash) loses at most the
    videos in flight; run the command again to go on. Exit code 3 when some files failed.
    """
    check_paths(paths)  # before a library is created for nothing
    lib = open_library(create=True, model=model, fps=fps, framing=framing, decoders=decoders)
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
        refreshed: ShardRefresh | None = None
        shard_error: VsearchError | None = None
        if shards:
            # The videos are committed: a shard build that fails (a library too small to
            # train them, say) is reported beside the indexing, which stands.
            try:
                refreshed = lib.refresh_shards(progress=progress)
            except VsearchError as exc:
                shard_error = exc
    data = report.to_dict()
    if shards:
        data["shards"] = refreshed.to_dict() if refreshed else {"error": str(shard_error)}
    if json_out:
        emit_json(data)
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
        for line in report.index_builds:
            out.print(f"index rebuilt: {line}", markup=False)
        if refreshed is not None:
            _print_shards(refreshed)
        if shard_error is not None:
            err.print(
                f"vsearch: frame shards not built: {one_line(str(shard_error))}", markup=False
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
    if shard_error is not None:
        raise typer.Exit(shard_error.exit_code)


@app.command(
    help=(
        "Build the library's frame vectors into IVF-PQ shards, or refresh the stale ones.\n\n"
        "Trains once on a sample, then builds only the shards whose frames changed since the "
        f"last run (in {SHARDS_DIR}/ beside the index files). While the shards hold exactly "
        "the library's frames, image and text search take candidates from them (at least "
        f"{RERANK_CANDIDATES} per query) re-ranked by exact scores; after `index` or `remove` "
        "search uses the frame index until this is run again. Delete "
        f"{SHARDS_DIR}/ to stop using shards."
    )
)
@handle_errors
def shards(
    shard_size: Annotated[
        int,
        typer.Option(help="Frame ids per shard (new shards only; existing ones keep theirs)."),
    ] = DEFAULT_SHARD_SIZE,
    factory: Annotated[
        str | None,
        typer.Option(
            help="FAISS layout of new shards, e.g. 'IVF1024,PQ64' [default: sized to the "
            "library: about 4 sqrt(frames) cells, 64-byte PQ codes; needs ~10,000 frames].",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Shards built at a time.")] = DEFAULT_WORKERS,
    nprobe: Annotated[
        int | None,
        typer.Option(
            help="Inverted lists searched per shard and query: more finds more of the exact "
            f"answers, slower; changing it rebuilds nothing [default: the shards' own, "
            f"{DEFAULT_NPROBE} for new ones].",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Build or refresh the library's IVF-PQ frame shards (help: the decorator's)."""
    progress = RichProgress()
    with open_library() as lib:
        report = lib.refresh_shards(
            shard_size=shard_size,
            factory=factory,
            workers=workers,
            nprobe=nprobe,
            progress=progress,
        )
    if json_out:
        emit_json(report.to_dict())
        return
    _print_shards(report)


def _print_shards(report: ShardRefresh) -> None:
    rebuilt = ", ".join(map(str, report.rebuilt)) or "none"
    out.print(
        f"frame shards: {report.vectors:,} vectors in {report.shards} shards; rebuilt: "
        f"{rebuilt}; {'trained, ' if report.trained else ''}nprobe {report.nprobe}; "
        f"{report.seconds:.1f}s "
        f"({report.folder})",
        markup=False,
    )


@app.command()
@handle_errors
def videos(
    errors: Annotated[bool, typer.Option("--errors", help="Only failed or partial files.")] = False,
    json_out: JsonOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """List the library's videos with their status and errors."""
    with open_library() as lib:
        rows = lib.videos(errors_only=errors)
    emit_listing(
        [v.to_dict() for v in rows],
        fmt=fmt,
        json_out=json_out,
        output=output,
        table=lambda console: render_table(
            f"{len(rows)} videos",
            ["status", "duration", "frames", "path", "tags", "error"],
            [
                [
                    v.status,
                    timecode(v.duration or 0.0),
                    v.n_frames,
                    v.path,
                    ", ".join(t for t, _ in (v.tags or [])[:3]),
                    v.error or "",
                ]
                for v in rows
            ],
            console,
        ),
    )


@app.command()
@handle_errors
def stats(json_out: JsonOpt = False) -> None:
    """Counts, model and size of the library."""
    with open_library() as lib:
        data = lib.stats()
    if json_out:
        emit_json(data.to_dict())
        return
    by_status = ", ".join(f"{n} {s}" for s, n in sorted(data.videos_by_status.items()))
    lines = [
        ("library", data.library),
        ("model", f"{data.model.spec} ({data.model.dim} dims)"),
        ("sampling", f"{data.fps:g} frames/s, {data.framing} framing"),
        ("videos", f"{data.videos}" + (f" ({by_status})" if by_status else "")),
        ("indexed", timecode(data.hours_indexed * 3600) + " of video"),
        ("frames", f"{data.frames:,}"),
        ("clips", f"{data.clips:,}"),
        (
            "clip model",
            data.clip_model + (f" ({data.clip_checkpoint})" if data.clip_checkpoint else ""),
        ),
        ("heads", ", ".join(data.heads) or "none trained"),
        ("labels", f"{data.labels} ({', '.join(data.label_names[:10]) or 'none'})"),
        ("disk", _size(data.disk_bytes)),
    ]
    lines += [(f"{name} index", info.summary) for name, info in data.indexes.items()]
    lines.append(("frame shards", _shards_line(data.frame_shards)))
    for key, value in lines:
        out.print(one_line(f"{key:>12}: {value}"), markup=False)


def _shards_line(shards: ShardsSummary | None) -> str:
    if shards is None:
        return "none (`vsearch shards` builds them)"
    if shards.error is not None:
        return f"unreadable ({shards.error}): search uses the frame index"
    state = (
        "current: frame search uses them"
        if shards.current
        else f"{len(shards.stale)} stale: frame search uses the frame index until `vsearch shards`"
    )
    return (
        f"{shards.shards} of {shards.factory} ({shards.vectors:,} vectors, "
        f"nprobe {shards.nprobe}), {state}"
    )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


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
def doctor(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Rebuild a damaged library database from what can still be read "
            "(the damaged file is kept beside it).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check ffmpeg, GPU, FAISS, the database, the schema and index/database agreement.

    Index files that disagree with the database are repaired from the stored vectors; a
    damaged database is diagnosed, and rebuilt with --repair.
    """
    from vsearch.pipeline.maintenance import check_library_database, repair_library_database

    root = settings().library
    damage = check_library_database(root)
    if damage is not None and not repair:
        if json_out:
            database = {**damage.to_dict(), "summary": damage.summary()}
            emit_json({"library": str(root), "ok": False, "database": database})
        else:
            err.print(f"vsearch: FAIL database: {one_line(damage.summary())}", markup=False)
        raise typer.Exit(1)
    repaired = None
    if damage is not None:
        repaired = repair_library_database(root)
        with open_library() as lib:
            lib.store.load_indexes()  # vectors of lost rows leave the index files now
        if not json_out:
            lost = ", ".join(f"{t} {n}" for t, n in repaired.unreadable.items())
            out.print(
                one_line(
                    f"database rebuilt: rows kept {repaired.rows}"
                    + (f"; unreadable stretches skipped: {lost}" if lost else "")
                    + f"; {len(repaired.reindex)} videos to index again; "
                    f"the damaged file is kept as {repaired.backup}"
                ),
                markup=False,
            )
    with open_library() as lib:
        report = dataclasses.replace(lib.doctor(), repaired=repaired)
    if json_out:
        emit_json(report.to_dict())
    else:
        for name, check in report.checks.items():
            mark = "ok " if check.ok else "FAIL"
            out.print(f"{mark} {name:>7}: {one_line(check.detail)}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@handle_errors
def models(json_out: JsonOpt = False, fmt: FormatOpt = None, output: OutputOpt = None) -> None:
    """List the encoder families (for --model), temporal poolers and classifier heads,
    those of installed plugins included; a plugin that failed to load shows why."""
    from vsearch.pipeline.components import list_components

    rows = list_components()
    emit_listing(
        [c.to_dict() for c in rows],
        fmt=fmt,
        json_out=json_out,
        output=output,
        path_key="name",
        table=lambda console: render_table(
            f"{sum(c.error is None for c in rows)} models",
            ["kind", "name", "default arch", "from"],
            [
                [
                    c.kind,
                    c.name,
                    c.default_arch or "",
                    c.origin + (f": FAILED {c.error}" if c.error else ""),
                ]
                for c in rows
            ],
            console,
        ),
    )
