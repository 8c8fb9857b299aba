"""The VectorIndex protocol, its registry and the ``create_index`` factory."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vsearch.atomic import atomic_write
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


__all__ = ["atomic_write"]  # re-exported for the index implementations

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


# The built-in kinds register themselves when their module is imported; the registry names
# them instead of importing them, so that they depend on it and not the other way round.
_BUILTIN_MODULES = ("vsearch.index.faiss_index", "vsearch.index.numpy_index")


def _ensure_registered() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.shape[1] != dim:
        raise IndexFileError(f"vectors of dimension {arr.shape[1]} given to an index of {dim}")
    return arr
