"""All-vs-all nearest neighbours of a vector set, in batches, exact or approximate (FAISS).

Used to find candidate pairs among up to millions of frame vectors without a similarity
matrix in memory: a temporary index is built over the vectors and queried in batches.

* exact (``IndexFlatIP``) below ``APPROX_MIN_VECTORS``: N^2 dot products, fine up to ~10^5;
* approximate (``IndexIVFFlat``, inner product) above it: ``nlist = 4 * sqrt(N)`` k-means
  cells trained on a sample, ``nprobe`` cells visited per query. Each query then scans about
  ``nprobe / nlist`` of the vectors (0.4% at N = 10^6 with nprobe 16), which makes 10^6
  queries x 10^6 vectors a matter of seconds per 10^5 queries on two CPU cores.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from vsearch.index.base import as_matrix

log = logging.getLogger(__name__)

APPROX_MIN_VECTORS = 100_000  # at and above this many vectors, search an IVF index
NPROBE = 16  # IVF cells visited per query
TRAIN_PER_CELL = 40  # k-means training points per IVF cell (FAISS wants >= 39)


def _faiss():
    import faiss

    return faiss


class NeighborSearch:
    """Inner-product k-NN over a fixed set of L2-normalised vectors (rows 0..N-1)."""

    def __init__(
        self,
        vectors: np.ndarray,
        *,
        approximate: bool | None = None,
        nlist: int | None = None,
        nprobe: int = NPROBE,
        seed: int = 0,
    ):
        faiss = _faiss()
        data = as_matrix(vectors, vectors.shape[1] if vectors.ndim == 2 else 0)
        self.dim = data.shape[1]
        self.ntotal = data.shape[0]
        if approximate is None:
            approximate = self.ntotal >= APPROX_MIN_VECTORS
        self.approximate = bool(approximate) and self.ntotal > 1
        if not self.approximate:
            self.nlist = 0
            self.nprobe = 0
            self._index = faiss.IndexFlatIP(self.dim)
        else:
            self.nlist = nlist or max(1, int(4 * math.sqrt(self.ntotal)))
            self.nlist = min(self.nlist, max(1, self.ntotal // TRAIN_PER_CELL))
            self.nprobe = min(nprobe, self.nlist)
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
            n_train = min(self.ntotal, self.nlist * TRAIN_PER_CELL)
            rng = np.random.default_rng(seed)
            sample = data[np.sort(rng.choice(self.ntotal, n_train, replace=False))]
            log.info("training IVF%d on %d of %d vectors", self.nlist, n_train, self.ntotal)
            index.train(sample)
            index.nprobe = self.nprobe
            self._index = index
            self._quantizer = quantizer  # keep it alive as long as the index
        self._index.add(data)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (n_queries, k), best first; missing slots have row -1."""
        q = as_matrix(queries, self.dim)
        k = max(1, min(k, self.ntotal))
        scores, rows = self._index.search(q, k)
        scores = np.where(rows < 0, -np.inf, scores).astype(np.float32)
        return scores, rows.astype(np.int64)

    def describe(self) -> str:
        if self.approximate:
            return f"IVF{self.nlist},Flat (nprobe {self.nprobe}) over {self.ntotal} vectors"
        return f"exact flat over {self.ntotal} vectors"


def neighbors_above(
    search: NeighborSearch,
    queries: np.ndarray,
    threshold: float,
    k: int,
    max_k: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hits (query row, neighbour row, score) with score >= threshold, flattened.

    Starts with ``k`` neighbours per query; a query whose k-th neighbour still scores above
    the threshold (a crowded neighbourhood: its own near-identical frames) is searched again
    with 4x more, up to ``max_k``, so a copy is not crowded out by look-alikes.
    """
    rows_q: list[np.ndarray] = []
    rows_n: list[np.ndarray] = []
    sims: list[np.ndarray] = []
    todo = np.arange(queries.shape[0])
    while todo.size:
        scores, nbrs = search.search(queries[todo], k)
        full = k < min(max_k, search.ntotal)
        crowded = (scores[:, -1] >= threshold) if full else np.zeros(len(todo), dtype=bool)
        done = ~crowded
        ok = (scores >= threshold) & (nbrs >= 0) & done[:, None]
        qi, col = np.nonzero(ok)
        rows_q.append(todo[qi])
        rows_n.append(nbrs[qi, col])
        sims.append(scores[qi, col])
        todo = todo[crowded]
        k = min(k * 4, max_k, search.ntotal)
    return np.concatenate(rows_q), np.concatenate(rows_n), np.concatenate(sims)


__all__ = ["APPROX_MIN_VECTORS", "NPROBE", "NeighborSearch", "neighbors_above"]
