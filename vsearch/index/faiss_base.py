"""What the exact and the IVF index share: vectors under caller-chosen ids, searched on a GPU
copy when one can be made (devices.py)."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.index._faiss import load_faiss
from vsearch.index.base import as_matrix, atomic_write
from vsearch.index.devices import cpu_threads_for


class FaissIdIndex(abc.ABC):
    """A FAISS index over int64 ids (VectorIndex protocol, less what differs by kind).

    Subclasses set ``dim`` and ``_raw`` and say in ``_searcher`` what answers queries.
    ``_gpu`` holds a GPU copy (None: not made yet, False: none can be made); any change to
    the vectors drops it.
    """

    dim: int
    _raw: Any
    _gpu: Any = None

    @property
    def ntotal(self) -> int:
        return int(self._raw.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vecs = as_matrix(vectors, self.dim)
        if vecs.shape[0]:
            self._raw.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
            self._gpu = None

    def remove(self, ids: np.ndarray) -> int:
        arr = np.ascontiguousarray(ids, dtype=np.int64)
        if arr.size == 0:
            return 0
        self._gpu = None
        return int(self._raw.remove_ids(load_faiss().IDSelectorBatch(arr)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), best first; missing slots have id -1 and score -inf."""
        q = as_matrix(queries, self.dim)
        if self.ntotal == 0 or k <= 0:
            return (
                np.full((q.shape[0], max(k, 0)), -np.inf, dtype=np.float32),
                np.full((q.shape[0], max(k, 0)), -1, dtype=np.int64),
            )
        with cpu_threads_for(q.shape[0]):
            scores, ids = self._searcher().search(q, k)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    @abc.abstractmethod
    def _searcher(self) -> Any:
        """What answers queries: the index itself, or a GPU copy of it."""

    def save(self, path: Path) -> None:
        atomic_write(path, lambda tmp: load_faiss().write_index(self._raw, tmp))
