"""Vector indexes: FAISS, and a numpy reference that every index must agree with."""

from vsearch.index.base import (
    IndexFileError,
    VectorIndex,
    atomic_write,
    create_index,
    list_indexes,
    load_index,
    register_index,
)

__all__ = [
    "IndexFileError",
    "VectorIndex",
    "atomic_write",
    "create_index",
    "list_indexes",
    "load_index",
    "register_index",
]
