"""A brute-force numpy index: the reference every other index is tested against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vsearch.index.base import IndexFileError, as_matrix, atomic_write, register_index


def _load(path: Path) -> NumpyFlatIndex:
    try:
        with np.load(path) as data:
            ids, vecs = data["ids"], data["vectors"]
    except (OSError, ValueError, KeyError) as exc:
        raise IndexFileError(f"{path}: unreadable index file ({exc})") from exc
    index = NumpyFlatIndex(int(vecs.shape[1]))
    index.add(ids, vecs)
    return index


@register_index("numpy", _load)
class NumpyFlatIndex:
    def __init__(self, dim: int):
        self.dim = dim
        self._ids = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, dim), dtype=np.float32)

    @property
    def ntotal(self) -> int:
        return int(self._ids.shape[0])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vecs = as_matrix(vectors, self.dim)
        self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
        self._vecs = np.concatenate([self._vecs, vecs])

    def remove(self, ids: np.ndarray) -> int:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        self._ids, self._vecs = self._ids[keep], self._vecs[keep]
        return removed

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = as_matrix(queries, self.dim)
        n = q.shape[0]
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        out_ids = np.full((n, k), -1, dtype=np.int64)
        if self.ntotal == 0 or k <= 0:
            return scores, out_ids
        sims = q @ self._vecs.T
        kk = min(k, self.ntotal)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
        scores[:, :kk] = np.take_along_axis(sims, order, axis=1)
        out_ids[:, :kk] = self._ids[order]
        return scores, out_ids

    def save(self, path: Path) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, ids=self._ids, vectors=self._vecs)

        atomic_write(path, write)


__all__ = ["NumpyFlatIndex", "IndexFileError"]
