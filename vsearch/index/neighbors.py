"""All-vs-all nearest neighbours of a vector set, in batches, exact or approximate (FAISS).

Used to find candidate pairs among up to millions of frame vectors without a similarity
matrix in memory: a temporary index is built over the vectors and queried in batches.

* exact (``IndexFlatIP``) below ``APPROX_MIN_VECTORS``: N^2 dot products, fine up to ~10^5;
* approximate (``IndexIVFFlat``, inner product) above it: ``nlist = 4 * sqrt(N)`` k-means
  cells trained on a sample, ``nprobe`` cells visited per query. Each query then scans about
  ``nprobe / nlist`` of the vectors (0.2% at N = 10^6 with nprobe 8), which makes 10^6
  queries x 10^6 vectors a matter of seconds per 10^5 queries on two CPU cores.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from vsearch.index.base import as_matrix

log = logging.getLogger(__name__)

APPROX_MIN_VECTORS = 100_000  # at and above this many vectors, search an IVF index
NPROBE = 8  # IVF cells visited per query (scripts/bench_dups.py tune)
TRAIN_PER_CELL = 40  # k-means training points per IVF cell (FAISS wants >= 39)


@dataclass(frozen=True)
class IvfParams:
    """How the approximate index is built: ``nlist = cells * sqrt(N)`` k-means cells trained
    on ``train_per_cell`` sampled points each (``niter`` iterations), ``nprobe`` cells visited
    per query; ``coarse`` is how a vector finds its cells ("flat": all centroids, "hnsw": a
    graph over them); ``codec`` how vectors are stored ("flat" float32, "sq8" one byte per
    dimension, scores then recomputed exactly for the hits)."""

    cells: float = 4.0
    nprobe: int = NPROBE
    train_per_cell: int = TRAIN_PER_CELL
    niter: int = 10
    coarse: str = "flat"
    codec: str = "flat"


def _faiss():
    from vsearch.index._faiss import load_faiss

    faiss = load_faiss()

    return faiss


class NeighborSearch:
    """Inner-product k-NN over a fixed set of L2-normalised vectors (rows 0..N-1)."""

    def __init__(
        self,
        vectors: np.ndarray,
        *,
        approximate: bool | None = None,
        params: IvfParams | None = None,
        seed: int = 0,
    ):
        faiss = _faiss()
        data = as_matrix(vectors, vectors.shape[1] if vectors.ndim == 2 else 0)
        self.dim = data.shape[1]
        self.ntotal = data.shape[0]
        self.params = params = params or IvfParams()
        if approximate is None:
            approximate = self.ntotal >= APPROX_MIN_VECTORS
        self.approximate = bool(approximate) and self.ntotal > 1
        self._data = data if params.codec != "flat" else None  # for exact rescoring
        if not self.approximate:
            self.nlist = 0
            self.nprobe = 0
            self._index = faiss.IndexFlatIP(self.dim)
            self._data = None
        else:
            self._index = self._build_ivf(faiss, data, params, seed)
        self._index.add(data)

    def _build_ivf(self, faiss, data: np.ndarray, p: IvfParams, seed: int):
        per_cell = max(1, p.train_per_cell)
        self.nlist = max(1, int(p.cells * math.sqrt(self.ntotal)))
        self.nlist = min(self.nlist, max(1, self.ntotal // per_cell))
        self.nprobe = min(p.nprobe, self.nlist)
        ip = faiss.METRIC_INNER_PRODUCT
        if p.coarse == "hnsw":
            self._quantizer = faiss.IndexHNSWFlat(self.dim, 32, ip)
            self._quantizer.hnsw.efSearch = max(64, 2 * self.nprobe)
        elif p.coarse == "flat":
            self._quantizer = faiss.IndexFlatIP(self.dim)
        else:
            raise ValueError(f"unknown coarse quantizer {p.coarse!r}: flat, hnsw")
        if p.codec == "sq8":
            qtype = faiss.ScalarQuantizer.QT_8bit
            index = faiss.IndexIVFScalarQuantizer(self._quantizer, self.dim, self.nlist, qtype, ip)
        elif p.codec == "flat":
            index = faiss.IndexIVFFlat(self._quantizer, self.dim, self.nlist, ip)
        else:
            raise ValueError(f"unknown codec {p.codec!r}: flat, sq8")
        index.cp.niter = p.niter
        index.cp.min_points_per_centroid = min(per_cell, 39)  # no warning for a small sample
        self._kmeans_index = faiss.IndexFlatIP(self.dim)
        index.clustering_index = self._kmeans_index  # k-means assigns with BLAS, not the graph
        n_train = min(self.ntotal, self.nlist * per_cell)
        rng = np.random.default_rng(seed)
        sample = data[np.sort(rng.choice(self.ntotal, n_train, replace=False))]
        log.info("training %s on %d of %d vectors", self.describe(), n_train, self.ntotal)
        index.train(sample)
        index.nprobe = self.nprobe
        return index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (n_queries, k), best first; missing slots have row -1."""
        q = as_matrix(queries, self.dim)
        k = max(1, min(k, self.ntotal))
        scores, rows = self._index.search(q, k)
        rows = rows.astype(np.int64)
        if self._data is not None:  # compressed codes: exact scores of the candidates
            scores = np.einsum("qd,qkd->qk", q, self._data[np.maximum(rows, 0)])
            order = np.argsort(-np.where(rows < 0, -np.inf, scores), axis=1, kind="stable")
            scores = np.take_along_axis(scores, order, 1)
            rows = np.take_along_axis(rows, order, 1)
        scores = np.where(rows < 0, -np.inf, scores).astype(np.float32)
        return scores, rows

    def describe(self) -> str:
        if self.approximate:
            p = self.params
            coarse = "_HNSW32" if p.coarse == "hnsw" else ""
            codec = "SQ8" if p.codec == "sq8" else "Flat"
            return (
                f"IVF{self.nlist}{coarse},{codec} (nprobe {self.nprobe}) over {self.ntotal} vectors"
            )
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


__all__ = ["APPROX_MIN_VECTORS", "NPROBE", "IvfParams", "NeighborSearch", "neighbors_above"]
