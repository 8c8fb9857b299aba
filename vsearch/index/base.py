"""The VectorIndex protocol, its registry and the ``create_index`` factory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vsearch.errors import UnknownModelError, VsearchError


class IndexFileError(VsearchError):
    """An index file is missing, unreadable or of another dimension."""


@runtime_checkable
class VectorIndex(Protocol):
    """Inner-product search over L2-normalised float32 vectors with int64 ids."""

    dim: int

    @property
    def ntotal(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> int: ...

    def ids(self) -> np.ndarray: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k), best first; missing slots have id -1."""
        ...

    def save(self, path: Path) -> None: ...


IndexBuilder = Callable[[int], VectorIndex]
IndexLoader = Callable[[Path], VectorIndex]
_BUILDERS: dict[str, tuple[IndexBuilder, IndexLoader]] = {}


def register_index(name: str, loader: IndexLoader) -> Callable[[IndexBuilder], IndexBuilder]:
    def wrap(builder: IndexBuilder) -> IndexBuilder:
        _BUILDERS[name] = (builder, loader)
        return builder

    return wrap


def list_indexes() -> list[str]:
    _ensure_registered()
    return sorted(_BUILDERS)


def _lookup(kind: str) -> tuple[IndexBuilder, IndexLoader]:
    _ensure_registered()
    if kind not in _BUILDERS:
        raise UnknownModelError(
            f"unknown index kind {kind!r}; known: {', '.join(sorted(_BUILDERS))}"
        )
    return _BUILDERS[kind]


def create_index(kind: str, dim: int) -> VectorIndex:
    return _lookup(kind)[0](dim)


def load_index(kind: str, path: Path) -> VectorIndex:
    return _lookup(kind)[1](path)


def _ensure_registered() -> None:
    from vsearch.index import faiss_index, numpy_index  # noqa: F401  (registration)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through ``write(tmp_path)`` then rename over ``path``: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        _fault_pause()
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fault_pause() -> None:
    """Test hook: ``VSEARCH_FAULT_SLOW_SAVE=SECONDS`` sleeps between write and rename, so a
    crash test can kill a process in the middle of a save (see vsearch.store.faults)."""
    delay = os.environ.get("VSEARCH_FAULT_SLOW_SAVE")
    if delay:
        import time

        time.sleep(float(delay))


def as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.shape[1] != dim:
        raise IndexFileError(f"vectors of dimension {arr.shape[1]} given to an index of {dim}")
    return arr
