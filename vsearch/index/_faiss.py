"""The one place that imports FAISS: a missing build is a clear error, not a traceback."""

from __future__ import annotations

from types import ModuleType

from vsearch.errors import FaissNotFoundError


def load_faiss() -> ModuleType:
    """The ``faiss`` module (faiss-cpu or faiss-gpu: both install it under that name)."""
    try:
        import faiss
    except ImportError as exc:
        raise FaissNotFoundError() from exc
    return faiss
