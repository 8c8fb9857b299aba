"""Many queries at once (``vsearch search --batch``): images and clips from a folder or a list.

Images are decoded, encoded in batches of ``IMAGE_BATCH`` and searched with one index search
per batch (``search.search_vectors``, the function a single image query uses). Clips are
decoded and encoded one ahead in a worker thread while the previous clip is matched
(``clip_search.encode_query`` then ``answer_query``, the two halves of a single clip query).
A query file that cannot be read is answered with its error and the run goes on.
"""

from __future__ import annotations

import csv
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import MediaError, UsageError, VsearchError
from vsearch.pipeline.clip_search import (
    DEFAULT_THRESHOLD,
    REGIONS,
    answer_query,
    check_clip_query,
    encode_query,
)
from vsearch.pipeline.search import (
    REFINE_TOP,
    check_k,
    hits_wanted,
    merge_views,
    picture_views,
    refine_hits,
    search_vectors,
    with_turn,
)
from vsearch.progress import NullProgress, Progress
from vsearch.types import BatchAnswer

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

IMAGE_BATCH = 64  # query images encoded and searched together
CLIPS_AHEAD = 2  # query clips decoded and encoded ahead of the one being matched
LIST_SUFFIXES = frozenset({".txt", ".lst", ".csv"})


def list_queries(source: str | Path) -> list[str]:
    """The query files named by ``source``: a folder (images and videos under it, sorted), a
    list (.txt/.lst/.csv: one path per line, the first column of a CSV, relative to the list's
    folder; blank and # lines skipped), or one image or video."""
    from vsearch.media import is_image_path, is_video_path

    source = Path(source).expanduser()
    if source.is_dir():
        found = [
            os.path.join(root, name)
            for root, _dirs, names in os.walk(source)
            for name in names
            if is_image_path(name) or is_video_path(name)
        ]
        if not found:
            raise UsageError(f"{source}: no image or video files in this folder")
        return sorted(found)
    if not source.is_file():
        raise UsageError(f"{source}: no such file or folder")
    if source.suffix.lower() in LIST_SUFFIXES:
        return _read_list(source)
    if is_image_path(source) or is_video_path(source):
        return [str(source.absolute())]
    raise UsageError(
        f"{source}: give a folder, a list of query files (.txt, .lst, .csv), an image or a video"
    )


def _read_list(source: Path) -> list[str]:
    try:
        text = source.read_text(encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(f"{source}: cannot read the list ({exc.strerror})") from None
    rows = csv.reader(text.splitlines()) if source.suffix.lower() == ".csv" else (
        [line] for line in text.splitlines()
    )  # fmt: skip
    paths = []
    for number, row in enumerate(rows, 1):
        name = row[0].strip() if row else ""
        if not name or name.startswith("#"):
            continue
        if number == 1 and name.lower() in ("query", "query_id", "path", "file"):
            continue  # a header line
        paths.append(str((source.parent / name).absolute()))
    if not paths:
        raise UsageError(f"{source}: the list names no query files")
    return paths


def search_batch(
    store: LibraryStore,
    source: str | Path | Sequence[str],
    *,
    k: int = 10,
    frames: bool = False,
    threshold: float | None = DEFAULT_THRESHOLD,
    refine: int = REFINE_TOP,
    regions: bool = REGIONS,
    batch_size: int = IMAGE_BATCH,
    progress: Progress | None = None,
) -> Iterator[BatchAnswer]:
    """Answers to every query of ``source`` (see ``list_queries``, or a list of paths), images
    first then clips, each as soon as it is known. Image answers are those of
    ``search_image`` (the ``refine`` best hits re-timed to their exact frame), clip answers
    those of ``search_video`` (``regions``: see ``clip_search.answer_query``)."""
    from vsearch.media import is_image_path

    paths = list_queries(source) if isinstance(source, str | Path) else list(source)
    check_k(k)
    if refine < 0:
        raise UsageError(f"refine must be >= 0 hits, got {refine}")
    # an empty library or a bad threshold stops here, before any work
    threshold = check_clip_query(store, k, None, None, threshold)[2]
    progress = progress or NullProgress()
    images = [p for p in paths if is_image_path(p)]
    clips = [p for p in paths if not is_image_path(p)]
    progress.begin(len(paths), "queries", "searching")
    try:
        for start in range(0, len(images), max(1, batch_size)):
            chunk = images[start : start + max(1, batch_size)]
            yield from _image_batch(store, chunk, k, frames, refine, progress)
        yield from _clips(store, clips, k, threshold, regions, progress)
    finally:
        progress.end()


def _image_batch(
    store: LibraryStore, paths: list[str], k: int, frames: bool, refine: int, progress: Progress
) -> Iterator[BatchAnswer]:
    from vsearch.media import load_image

    size = store.model_info.input_size
    loaded, pixels = [], []
    for path in paths:
        try:
            pixels.append(load_image(path, size=size, framing=store.framing))
            loaded.append(path)
        except VsearchError as exc:
            yield _failed(path, "image", exc, progress)
    if not loaded:
        return
    views = picture_views(store, np.stack(pixels))
    wanted = hits_wanted(k, frames=frames, refine=refine)
    found = iter(search_vectors(store, np.concatenate(views), k=wanted, frames=frames))
    for path, query, picture in zip(loaded, views, pixels, strict=True):
        hits = merge_views([next(found) for _ in query], wanted, frames)
        if refine and not frames:
            query, hits, turn = with_turn(store, picture, query, hits, wanted)
            hits = refine_hits(store, query, hits, top=refine, pixels=picture, turn=turn)
        hits = hits[:k]
        progress.advance(1)
        yield BatchAnswer(path, "image", hits)


def _clips(
    store: LibraryStore,
    paths: list[str],
    k: int,
    threshold: float,
    regions: bool,
    progress: Progress,
) -> Iterator[BatchAnswer]:
    if not paths:
        return
    store.pooler, store.encoder  # noqa: B018 - created here, not raced for by the worker
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vsearch-encode")
    pending: deque[tuple[str, Future]] = deque()
    todo = iter(paths)
    try:
        for path in todo:
            pending.append((path, pool.submit(encode_query, store, path)))
            if len(pending) > CLIPS_AHEAD:
                break
        while pending:
            path, future = pending.popleft()
            following = next(todo, None)
            if following is not None:
                pending.append((following, pool.submit(encode_query, store, following)))
            try:
                query = future.result()
                matches = answer_query(
                    store, path, query, k=k, threshold=threshold, regions=regions
                )
            except VsearchError as exc:
                yield _failed(path, "clip", exc, progress)
                continue
            progress.advance(1)
            yield BatchAnswer(path, "clip", matches)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _failed(path: str, kind: str, exc: VsearchError, progress: Progress) -> BatchAnswer:
    cause = exc.cause if isinstance(exc, MediaError) else str(exc)
    progress.message(f"failed {path}: {cause}")
    progress.advance(1)
    return BatchAnswer(path, kind, [], error=cause)
