"""FAISS implementation of VectorIndex: exact search, on a GPU when one is visible (devices.py).

Files written by an approximate index (approx.IvfIndex) load as one: a library's index file
may hold either, and the loader returns what the file holds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.index._faiss import load_faiss
from vsearch.index.base import IndexFileError, register_index
from vsearch.index.faiss_base import FaissIdIndex

if TYPE_CHECKING:
    from vsearch.index.approx import IvfIndex

log = logging.getLogger(__name__)


def _load(path: Path) -> FaissIndex | IvfIndex:
    faiss = load_faiss()
    try:
        raw = faiss.read_index(str(path))
    except (RuntimeError, OSError) as exc:
        raise IndexFileError(f"{path}: unreadable index file ({exc})") from exc
    if isinstance(raw, faiss.IndexIVF | faiss.IndexPreTransform):
        from vsearch.index.approx import wrap_loaded

        return wrap_loaded(raw, path)
    if not isinstance(raw, faiss.IndexIDMap2):
        raise IndexFileError(f"{path}: not a vsearch index (no id map)")
    return FaissIndex(raw.d, raw=raw)


@register_index("faiss", _load)
class FaissIndex(FaissIdIndex):
    """Exact inner-product search (IndexFlatIP) under an id map (IndexIDMap2).

    Exact search serves libraries below approx.APPROX_MIN_VECTORS; the id map lets a video's
    vectors be removed by id.
    """

    def __init__(self, dim: int, raw=None):
        faiss = load_faiss()
        self.dim = dim
        self._raw = raw if raw is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._gpu: Any = None  # a GPU copy, False when none can be made

    def ids(self) -> np.ndarray:
        return load_faiss().vector_to_array(self._raw.id_map).astype(np.int64)

    def vectors(self) -> np.ndarray:
        """All stored vectors, in the order of ``ids()``."""
        flat = load_faiss().downcast_index(self._raw.index)
        return (
            load_faiss()
            .rev_swig_ptr(flat.get_xb(), self.ntotal * self.dim)
            .reshape(self.ntotal, self.dim)
            .copy()
        )

    @property
    def setting(self):
        from vsearch.index.approx import EXACT

        return EXACT

    def describe(self) -> str:
        return f"exact (IDMap2,Flat) over {self.ntotal} vectors"

    def _searcher(self):
        """FAISS on GPU, else torch on CUDA, else FAISS on the CPU (see devices.py)."""
        if self._gpu is None:
            from vsearch.index.devices import (
                GPU_MIN_VECTORS,
                TorchExactSearch,
                faiss_gpu_clone,
                torch_cuda_device,
            )

            self._gpu = faiss_gpu_clone(self._raw, self.ntotal) or False
            device = torch_cuda_device() if self.ntotal >= GPU_MIN_VECTORS else None
            if not self._gpu and device:
                self._gpu = TorchExactSearch(self.ids(), self._vector_view(), device)
        return self._gpu or self._raw

    def _vector_view(self) -> np.ndarray:
        """The stored vectors without a copy (valid until the next add or remove)."""
        faiss = load_faiss()
        flat = faiss.downcast_index(self._raw.index)
        ptr = faiss.rev_swig_ptr(flat.get_xb(), self.ntotal * self.dim)
        return ptr.reshape(self.ntotal, self.dim)


__all__ = ["FaissIndex", "IndexFileError"]
