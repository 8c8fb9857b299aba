"""A compressed vector index split into shards by id range, for libraries past one machine.

Exact search (``FaissIndex``) keeps 4 bytes per dimension per vector: 2 KiB for a 512-d CLIP
vector, 2 TB per 10^9 frames. This index stores each vector as a product-quantised code under
an inverted file (IVF-PQ, ``DEFAULT_FACTORY``: 64 bytes of code + 8 bytes of id), and splits
it into shards by ranges of vector ids:

* **trained once** on a sample (``ShardedIndex.train``): every shard is a copy of the same
  trained, empty index, so shards can be built anywhere (threads here, Ray tasks or other
  hosts on a cluster: ``build_shard`` takes bytes and returns bytes) and merged or searched
  together;
* **built in parallel**: ``build_shards`` runs one builder per shard;
* **searched together**: a ``faiss.IndexShards`` over the shards (each searched in its own
  thread, results merged), or one index merged with ``merge_from`` (``merged()``);
* **rebuilt incrementally**: ids grow with every committed frame, so new vectors fall into
  the last shard(s); ``stale_shards`` compares each shard's manifest (count and digest of its
  ids) with the ids the database holds and names the shards that need building again.

The folder layout: ``trained.faiss`` (the empty trained index), ``shard-NNNNN.faiss`` per
id range, ``manifest.json`` (factory, dim, shard size, per-shard count and id digest).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.index.base import IndexFileError, as_matrix, atomic_write

log = logging.getLogger(__name__)

DEFAULT_FACTORY = "IVF4096_HNSW32,PQ64"  # 64-byte codes; an HNSW graph finds the IVF cells
DEFAULT_SHARD_SIZE = 50_000_000  # vector ids per shard (ids are frame ids from the database)
DEFAULT_NPROBE = 32
MANIFEST = "manifest.json"
TRAINED = "trained.faiss"

Batches = Iterable[tuple[np.ndarray, np.ndarray]]  # (ids int64 (n,), vectors float32 (n, d))


def default_factory(n: int, dim: int) -> str:
    """The IVF-PQ layout for ``n`` vectors of ``dim``: about 4 sqrt(n) cells (at least 39
    training vectors each), an HNSW graph over the cells from 1,024 of them, and 64-byte codes
    (or the largest number of sub-quantizers at most 64 that divides ``dim``)."""
    if n < 39 * 256:
        raise IndexFileError(
            f"{n} vectors are too few for a compressed index (IVF-PQ needs about 10,000 to "
            "train): the exact index is the right one at this size"
        )
    nlist = int(min(65536, 4 * math.sqrt(n), n // 39))
    nlist = 1 << (nlist.bit_length() - 1)  # a power of two
    m = max(d for d in range(1, 65) if dim % d == 0)
    coarse = f"IVF{nlist}_HNSW32" if nlist >= 1024 else f"IVF{nlist}"
    return f"{coarse},PQ{m}"


def _faiss():
    from vsearch.index._faiss import load_faiss

    faiss = load_faiss()

    return faiss


def _to_bytes(index) -> bytes:
    faiss = _faiss()
    return faiss.serialize_index(index).tobytes()


def _bytes_writer(blob: bytes) -> Callable[[str], object]:
    """A writer for ``atomic_write`` that puts ``blob`` in the temporary file."""
    return lambda tmp: Path(tmp).write_bytes(blob)


def _from_bytes(blob: bytes):
    faiss = _faiss()
    return faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))


def ids_digest(ids: np.ndarray) -> str:
    """A short digest of a set of ids (order-free): tells a stale shard from a current one."""
    arr = np.sort(np.ascontiguousarray(ids, dtype=np.int64))
    return hashlib.blake2b(arr.tobytes(), digest_size=12).hexdigest()


def build_shard(trained: bytes, batches: Batches) -> tuple[bytes, int, str]:
    """Fill a copy of the trained index with ``batches``; return (bytes, count, id digest).

    A pure function of its inputs, so that it can run in a thread, a process or a Ray task.
    """
    index = _from_bytes(trained)
    seen = []
    for ids, vectors in batches:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids):
            index.add_with_ids(as_matrix(vectors, index.d), ids)
            seen.append(ids)
    all_ids = np.concatenate(seen) if seen else np.zeros(0, np.int64)
    return _to_bytes(index), int(index.ntotal), ids_digest(all_ids)


@dataclass
class ShardInfo:
    number: int
    count: int
    digest: str


@dataclass
class ShardedIndex:
    """IVF-PQ shards by id range; see the module docstring."""

    dim: int
    factory: str = DEFAULT_FACTORY
    shard_size: int = DEFAULT_SHARD_SIZE
    nprobe: int = DEFAULT_NPROBE
    trained: bytes | None = None
    shards: dict[int, Any] = field(default_factory=dict)  # number -> faiss index
    infos: dict[int, ShardInfo] = field(default_factory=dict)

    # --- training and building ---------------------------------------------------------

    def train(self, sample: np.ndarray) -> None:
        """Train the coarse quantizer and the PQ codebooks once, on a sample of vectors."""
        faiss = _faiss()
        x = as_matrix(sample, self.dim)
        index = faiss.index_factory(self.dim, self.factory, faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        if hasattr(ivf, "do_polysemous_training"):  # codes are compared by distance tables
            ivf.do_polysemous_training = False  # only: the Hamming ordering is never used
        index.train(x)
        self.trained = _to_bytes(index)

    def shard_of(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(ids, dtype=np.int64) // self.shard_size

    def build_shards(
        self,
        sources: dict[int, Callable[[], Batches]],
        *,
        workers: int = 2,
        on_built: Callable[[int], object] | None = None,
    ) -> None:
        """Build the shards numbered in ``sources`` in parallel, each from its own batches.

        ``sources[n]()`` yields the (ids, vectors) of shard ``n`` (ids in its range). FAISS
        releases the GIL while it adds, so threads build shards side by side. ``on_built(n)``
        is called as each shard is installed (progress).
        """
        if self.trained is None:
            raise IndexFileError("a sharded index must be trained before shards are built")
        trained = self.trained

        threads = max(1, (os.cpu_count() or 1) // max(1, workers))

        def one(number: int) -> tuple[int, bytes, int, str]:
            # OpenMP threads are set per calling thread: the builders share the cores.
            _faiss().omp_set_num_threads(threads)
            batches = self._checked(number, sources[number]())
            return (number, *build_shard(trained, batches))

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for number, blob, count, digest in pool.map(one, sorted(sources)):
                self.set_shard(number, blob, count, digest)
                if on_built is not None:
                    on_built(number)

    def _checked(self, number: int, batches: Batches) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, vectors in batches:
            if len(ids) and np.any(self.shard_of(ids) != number):
                raise IndexFileError(f"ids outside the range of shard {number} given to it")
            yield ids, vectors

    def set_shard(self, number: int, blob: bytes, count: int, digest: str) -> None:
        """Install a shard built elsewhere (``build_shard``'s result)."""
        self.shards[number] = _from_bytes(blob)
        self.infos[number] = ShardInfo(number, count, digest)

    def stale_shards(self, ids: np.ndarray) -> list[int]:
        """Shards whose stored ids differ from ``ids`` (all ids the database holds now)."""
        ids = np.asarray(ids, dtype=np.int64)
        numbers = self.shard_of(ids)
        stale = []
        wanted = set(np.unique(numbers).tolist()) | set(self.infos)
        for number in sorted(wanted):
            mine = ids[numbers == number]
            info = self.infos.get(number)
            if info is None or info.count != len(mine) or info.digest != ids_digest(mine):
                stale.append(number)
        return stale

    def drop_shard(self, number: int) -> None:
        self.shards.pop(number, None)
        self.infos.pop(number, None)

    # --- searching -----------------------------------------------------------------------

    @property
    def ntotal(self) -> int:
        return sum(int(s.ntotal) for s in self.shards.values())

    def _set_nprobe(self, index) -> None:
        faiss = _faiss()
        faiss.extract_index_ivf(index).nprobe = self.nprobe

    def searcher(self) -> Any:  # a faiss.IndexShards
        """All shards behind one ``faiss.IndexShards`` (each searched in its own thread)."""
        faiss = _faiss()
        group = faiss.IndexShards(self.dim, True, False)  # threaded, keep the stored ids
        for number in sorted(self.shards):
            shard = self.shards[number]
            self._set_nprobe(shard)
            group.add_shard(shard)
        return group

    def merged(self) -> Any:  # a faiss IVF index
        """One index holding every shard's vectors (``merge_from``: inverted lists joined)."""
        if self.trained is None:
            raise IndexFileError("a sharded index must be trained before it is merged")
        index = _from_bytes(self.trained)
        ivf = _faiss().extract_index_ivf(index)
        for number in sorted(self.shards):
            ivf.merge_from(_from_bytes(_to_bytes(self.shards[number])), 0)
        self._set_nprobe(index)
        return index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), best first; missing slots have id -1 and score -inf."""
        q = as_matrix(queries, self.dim)
        if not self.shards or k <= 0:
            return (
                np.full((len(q), max(k, 0)), -np.inf, np.float32),
                np.full((len(q), max(k, 0)), -1, np.int64),
            )
        scores, ids = self.searcher().search(q, k)
        return np.where(ids < 0, -np.inf, scores).astype(np.float32), ids.astype(np.int64)

    # --- files ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write trained index, shards and manifest (each file written whole, then renamed)."""
        if self.trained is None:
            raise IndexFileError("nothing to save: the sharded index is not trained")
        folder.mkdir(parents=True, exist_ok=True)
        trained = self.trained
        atomic_write(folder / TRAINED, _bytes_writer(trained))
        for number, shard in self.shards.items():
            atomic_write(folder / _shard_name(number), _bytes_writer(_to_bytes(shard)))
        for stale in folder.glob("shard-*.faiss"):
            if int(stale.stem.split("-")[1]) not in self.shards:
                stale.unlink()
        manifest = {
            "dim": self.dim,
            "factory": self.factory,
            "shard_size": self.shard_size,
            "nprobe": self.nprobe,
            "shards": [vars(self.infos[n]) for n in sorted(self.infos)],
        }
        text = json.dumps(manifest, indent=1)
        atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(text))

    @classmethod
    def load(cls, folder: Path, *, shards: bool = True) -> ShardedIndex:
        """Read the index in ``folder``; ``shards=False``: the manifest and trained index only
        (enough for ``stale_shards`` without reading every shard)."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            index = cls(
                dim=int(manifest["dim"]),
                factory=manifest["factory"],
                shard_size=int(manifest["shard_size"]),
                nprobe=int(manifest["nprobe"]),
                trained=(folder / TRAINED).read_bytes(),
            )
            faiss = _faiss()
            for entry in manifest["shards"]:
                info = ShardInfo(int(entry["number"]), int(entry["count"]), entry["digest"])
                if shards:
                    path = str(folder / _shard_name(info.number))
                    index.shards[info.number] = faiss.read_index(path)
                index.infos[info.number] = info
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise IndexFileError(f"{folder}: unreadable sharded index ({exc})") from exc
        return index

    def nbytes(self) -> int:
        """Bytes the shards take serialised (about their size in memory)."""
        return sum(len(_to_bytes(s)) for s in self.shards.values())


def _shard_name(number: int) -> str:
    return f"shard-{number:05d}.faiss"


__all__ = ["DEFAULT_FACTORY", "ShardedIndex", "build_shard", "default_factory", "ids_digest"]
