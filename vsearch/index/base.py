"""The VectorIndex protocol, its registry and the ``create_index`` factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from vsearch.atomic import atomic_write
from vsearch.errors import VsearchError
from vsearch.registry import Registry


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


__all__ = ["atomic_write"]  # re-exported for the index implementations

IndexBuilder = Callable[[int], VectorIndex]
IndexLoader = Callable[[Path], VectorIndex]


class IndexKind(NamedTuple):
    build: IndexBuilder
    load: IndexLoader


# The built-in kinds register themselves when their module is imported; the registry names
# them instead of importing them, so that they depend on it and not the other way round.
INDEXES: Registry[IndexKind] = Registry(
    "index kind", builtins=("vsearch.index.faiss_index", "vsearch.index.numpy_index")
)


def register_index(
    name: str, loader: IndexLoader, *, replace: bool = False
) -> Callable[[IndexBuilder], IndexBuilder]:
    """Register ``builder(dim) -> VectorIndex`` and ``loader(path) -> VectorIndex`` as ``name``."""

    def wrap(builder: IndexBuilder) -> IndexBuilder:
        INDEXES.add(name, IndexKind(builder, loader), replace=replace)
        return builder

    return wrap


def list_indexes() -> list[str]:
    return INDEXES.names()


def create_index(kind: str, dim: int) -> VectorIndex:
    return INDEXES.get(kind).build(dim)


def load_index(kind: str, path: Path) -> VectorIndex:
    return INDEXES.get(kind).load(path)


def as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.shape[1] != dim:
        raise IndexFileError(f"vectors of dimension {arr.shape[1]} given to an index of {dim}")
    return arr
