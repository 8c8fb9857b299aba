"""A library's frame vectors as IVF-PQ shards (``vsearch.index.sharded``), kept up to date.

``refresh_frame_shards`` trains the quantizer once on a sample of the stored frame vectors,
then builds only the shards whose range of frame ids changed since the last refresh (new
videos land in the last shard; a removed or re-indexed video makes its shard stale), several
at a time, each from its own database session. The shards are files beside the library's
other index files (or in any folder given, such as shared storage for searching hosts).

Search uses a library's shards once they are built (``vsearch shards``: building them is
the opt-in) and only while they are current: ``current_frame_shards`` compares every shard
with the frame ids the database holds and returns None (one log line; search then goes
through the exact or IVF frame index as before) when any shard is stale or the files are
missing or unreadable. ``RerankedShards`` asks the shards for at least RERANK_CANDIDATES
candidates per query and re-ranks them by exact inner product with their stored float32
vectors, so its scores are those of exact search and only the candidate list is approximate.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vsearch.db import queries
from vsearch.index import IndexFileError
from vsearch.index.sharded import (
    DEFAULT_SHARD_SIZE,
    MANIFEST,
    ShardedIndex,
    default_factory,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from vsearch.progress import Progress
    from vsearch.types import JSONObject, ModelInfo


class LibraryStore(Protocol):
    """What the shards need of ``vsearch.store.library_store.LibraryStore`` (which uses this
    module: a protocol rather than an import keeps the two free of an import cycle)."""

    root: Path
    sessions: sessionmaker[Session]

    @property
    def model_info(self) -> ModelInfo: ...

    def frame_vectors(
        self, frame_ids: Sequence[int] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...


log = logging.getLogger(__name__)

SHARDS_DIR = "frames.shards"
TRAIN_SAMPLE = 200_000  # vectors the quantizer is trained on (at most)
DEFAULT_WORKERS = 2  # shards built at a time
# Candidates asked of the shards per query before exact re-ranking, at least: 64-byte PQ codes
# rank the frames of one shot only roughly, and re-ranking 100 candidates finds about 97% of
# the exact top 10 at 10^6 frames (docs/scaling.md, "Sharded IVF-PQ against exact search").
RERANK_CANDIDATES = 100
RERANK_READ = 20_000  # candidate vectors read from the database at a time, at most


@dataclass(frozen=True)
class ShardRefresh:
    """What a refresh did: vectors in the library, shards now, shards (re)built, whether the
    quantizer was trained, wall seconds, and the folder of the shards."""

    vectors: int
    shards: int
    rebuilt: list[int]
    trained: bool
    seconds: float
    folder: str = ""
    nprobe: int = 0

    def to_dict(self) -> JSONObject:
        return {
            "vectors": self.vectors,
            "shards": self.shards,
            "rebuilt": list(self.rebuilt),
            "trained": self.trained,
            "seconds": round(self.seconds, 3),
            "folder": self.folder,
            "nprobe": self.nprobe,
        }


def refresh_frame_shards(
    lib: LibraryStore,
    folder: Path | None = None,
    *,
    factory: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int = DEFAULT_WORKERS,
    nprobe: int | None = None,
    progress: Progress | None = None,
) -> ShardRefresh:
    """Bring the shards in ``folder`` (default: the library's) in line with the database.

    ``factory``: the FAISS layout of a new index (default: ``default_factory`` for the
    library's size when it is first trained); an existing index keeps its own, and its own
    shard size. ``nprobe``: inverted lists each shard searches per query (None: the shards'
    own, ``DEFAULT_NPROBE`` for new ones); a search setting, changed without a rebuild.
    ``progress`` counts the shards built.
    """
    started = time.perf_counter()
    folder = folder or lib.root / SHARDS_DIR
    with lib.sessions() as session:
        ids = queries.frame_ids(session=session)
    dim = lib.model_info.dim
    index = _load_or_new(folder, dim, factory, shard_size, len(ids))
    if nprobe is not None:
        index.nprobe = nprobe
    trained = False
    if index.trained is None:
        index.train(_sample(lib, ids))
        trained = True
    stale = index.stale_shards(ids)
    numbers = index.shard_of(ids)
    present = set(np.unique(numbers).tolist())
    for number in stale:
        if number not in present:  # every frame of that range is gone
            index.drop_shard(number)
    to_build = [n for n in stale if n in present]

    def source(number: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        wanted = ids[numbers == number]
        with lib.sessions() as session:  # one session per builder thread
            yield from queries.iter_frame_vectors(session=session, ids=wanted)

    if progress is not None:
        progress.begin(len(to_build), "shards", "building frame shards")
    try:
        index.build_shards(
            {n: functools.partial(source, n) for n in to_build},
            workers=workers,
            on_built=(lambda _n: progress.advance(1)) if progress is not None else None,
        )
    finally:
        if progress is not None:
            progress.end()
    index.save(folder)
    refresh = ShardRefresh(
        int(len(ids)),
        len(index.shards),
        to_build,
        trained,
        time.perf_counter() - started,
        str(folder),
        index.nprobe,
    )
    log.info("frame shards: %s", refresh)
    return refresh


def _load_or_new(
    folder: Path, dim: int, factory: str | None, shard_size: int, n: int
) -> ShardedIndex:
    if folder.exists():
        try:
            index = ShardedIndex.load(folder)
            if index.dim == dim:
                return index
            log.warning("%s: dimension %d, library %d: built again", folder, index.dim, dim)
        except IndexFileError as exc:
            log.warning("%s: built again (%s)", folder, exc)
    return ShardedIndex(dim=dim, factory=factory or default_factory(n, dim), shard_size=shard_size)


def _sample(lib: LibraryStore, ids: np.ndarray) -> np.ndarray:
    """Up to TRAIN_SAMPLE stored vectors, spread over the whole id range."""
    rng = np.random.default_rng(0)
    picked = ids if len(ids) <= TRAIN_SAMPLE else rng.choice(ids, TRAIN_SAMPLE, replace=False)
    with lib.sessions() as session:
        parts = [v for _, v in queries.iter_frame_vectors(session=session, ids=picked)]
    return np.concatenate(parts)


def open_frame_shards(lib: LibraryStore, folder: Path | None = None) -> ShardedIndex:
    """The shards as last refreshed (search them with ``.search``)."""
    return ShardedIndex.load(folder or lib.root / SHARDS_DIR)


def stamp(lib: LibraryStore, folder: Path | None = None) -> tuple[int, int] | None:
    """(mtime in ns, size) of the shards' manifest, rewritten by every refresh; None: none."""
    try:
        st = ((folder or lib.root / SHARDS_DIR) / MANIFEST).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


@dataclass(frozen=True)
class ShardsSummary:
    """What ``vsearch stats`` says of a library's shards, from their manifest alone: the
    layout and which shards are stale, or why the manifest could not be read (``error``)."""

    folder: str
    current: bool  # the shards hold exactly the stored frames: frame search uses them
    error: str | None = None
    stale: list[int] = field(default_factory=list)  # numbers of the shards out of date
    shards: int = 0
    vectors: int = 0
    factory: str = ""
    shard_size: int = 0
    nprobe: int = 0

    def to_dict(self) -> JSONObject:
        if self.error is not None:
            return {"folder": self.folder, "current": self.current, "error": self.error}
        return {
            "folder": self.folder,
            "current": self.current,
            "stale": self.stale,
            "shards": self.shards,
            "vectors": self.vectors,
            "factory": self.factory,
            "shard_size": self.shard_size,
            "nprobe": self.nprobe,
        }


def shards_summary(lib: LibraryStore, folder: Path | None = None) -> ShardsSummary | None:
    """What ``vsearch stats`` says of the shards (None: none built): their layout, size and
    which are stale, from the manifest alone (no shard is read)."""
    folder = folder or lib.root / SHARDS_DIR
    if not (folder / MANIFEST).exists():
        return None
    try:
        index = ShardedIndex.load(folder, shards=False)
    except IndexFileError as exc:
        return ShardsSummary(folder=str(folder), current=False, error=str(exc))
    with lib.sessions() as session:
        stale = index.stale_shards(queries.frame_ids(session=session))
    return ShardsSummary(
        folder=str(folder),
        current=not stale and index.dim == lib.model_info.dim,
        stale=stale,
        shards=len(index.infos),
        vectors=sum(info.count for info in index.infos.values()),
        factory=index.factory,
        shard_size=index.shard_size,
        nprobe=index.nprobe,
    )


def current_frame_shards(lib: LibraryStore, folder: Path | None = None) -> ShardedIndex | None:
    """The library's shards when they hold exactly the frames the database holds, else None.

    No shards folder: None, silently (the library never built any). Shards that are stale
    (frames indexed or removed since the last ``refresh_frame_shards``), unreadable or of
    another dimension: None with one log line saying why and how to refresh them.
    """
    folder = folder or lib.root / SHARDS_DIR
    if not (folder / MANIFEST).exists():
        return None
    try:
        index = ShardedIndex.load(folder)
    except IndexFileError as exc:
        log.warning("frame shards not used (%s): run `vsearch shards` to rebuild them", exc)
        return None
    if index.dim != lib.model_info.dim:
        log.warning(
            "frame shards not used: dimension %d, library %d; run `vsearch shards`",
            index.dim,
            lib.model_info.dim,
        )
        return None
    with lib.sessions() as session:
        ids = queries.frame_ids(session=session)
    stale = index.stale_shards(ids)
    if stale:
        log.warning(
            "frame shards not used: %d of them stale (%s) since frames were indexed or "
            "removed; searching the frame index instead; run `vsearch shards` to refresh",
            len(stale),
            ", ".join(map(str, stale[:5])) + (", ..." if len(stale) > 5 else ""),
        )
        return None
    return index


class RerankedShards:
    """Shards searched together, their candidates re-ranked by exact inner product.

    Searched like a ``VectorIndex`` (``ntotal``, ``search(queries, k)``): each query asks the
    shards for ``max(k, RERANK_CANDIDATES)`` candidates, reads their stored float32 vectors
    (``LibraryStore.frame_vectors``, one call per RERANK_READ of them), scores them exactly
    and keeps the ``k`` best. Candidates deleted since the shards were checked are left out
    (id -1)."""

    def __init__(self, lib: LibraryStore, shards: ShardedIndex) -> None:
        self._lib = lib
        self.shards = shards
        self._searcher = shards.searcher()
        self.ntotal = shards.ntotal
        self.dim = shards.dim

    def search(self, queries_: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries_, dtype=np.float32).reshape(-1, self.dim)
        out_scores = np.full((len(q), max(k, 0)), -np.inf, np.float32)
        out_ids = np.full((len(q), max(k, 0)), -1, np.int64)
        if k <= 0 or not len(q) or self.ntotal == 0:
            return out_scores, out_ids
        ask = min(self.ntotal, max(k, RERANK_CANDIDATES))
        _, cand = self._searcher.search(q, ask)
        # Queries in groups whose candidates' vectors are read in one store call, at most
        # RERANK_READ of them (a bound on memory: 64 image queries x 640 candidates of
        # 1,280 floats would be 200 MB at once).
        group = max(1, RERANK_READ // ask)
        for lo in range(0, len(q), group):
            rows = slice(lo, lo + group)
            self._rerank(q[rows], cand[rows], k, out_scores[rows], out_ids[rows])
        return out_scores, out_ids

    def _rerank(
        self, q: np.ndarray, cand: np.ndarray, k: int, out_scores: np.ndarray, out_ids: np.ndarray
    ) -> None:
        found, vectors = self._lib.frame_vectors(np.unique(cand[cand >= 0]))
        order = np.argsort(found)
        found, vectors = found[order], vectors[order]
        for row in range(len(q)):
            ids = cand[row][cand[row] >= 0]
            if not len(found):
                break
            pos = np.minimum(np.searchsorted(found, ids), len(found) - 1)
            alive = found[pos] == ids  # deleted since the shards were checked: left out
            ids, pos = ids[alive], pos[alive]
            scores = vectors[pos] @ q[row]
            best = np.argsort(-scores, kind="stable")[:k]
            out_scores[row, : len(best)] = scores[best]
            out_ids[row, : len(best)] = ids[best]
