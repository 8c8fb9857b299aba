"""A library's frame vectors as IVF-PQ shards (``vsearch.index.sharded``), kept up to date.

``refresh_frame_shards`` trains the quantizer once on a sample of the stored frame vectors,
then builds only the shards whose range of frame ids changed since the last refresh (new
videos land in the last shard; a removed or re-indexed video makes its shard stale), several
at a time, each from its own database session. The shards are files beside the library's
other index files (or in any folder given, such as shared storage for searching hosts).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.db import queries
from vsearch.index import IndexFileError
from vsearch.index.sharded import DEFAULT_SHARD_SIZE, ShardedIndex, default_factory

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

SHARDS_DIR = "frames.shards"
TRAIN_SAMPLE = 200_000  # vectors the quantizer is trained on (at most)


@dataclass(frozen=True)
class ShardRefresh:
    vectors: int
    shards: int
    rebuilt: list[int]
    trained: bool
    seconds: float


def refresh_frame_shards(
    lib: LibraryStore,
    folder: Path | None = None,
    *,
    factory: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int = 2,
) -> ShardRefresh:
    """Bring the shards in ``folder`` (default: the library's) in line with the database.

    ``factory``: the FAISS layout of a new index (default: ``default_factory`` for the
    library's size when it is first trained); an existing index keeps its own.
    """
    started = time.perf_counter()
    folder = folder or lib.root / SHARDS_DIR
    with lib.sessions() as session:
        ids = queries.frame_ids(session=session)
    dim = lib.model_info.dim
    index = _load_or_new(folder, dim, factory, shard_size, len(ids))
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

    index.build_shards({n: functools.partial(source, n) for n in to_build}, workers=workers)
    index.save(folder)
    refresh = ShardRefresh(
        int(len(ids)), len(index.shards), to_build, trained, time.perf_counter() - started
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
