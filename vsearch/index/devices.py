"""Where searches run: FAISS on GPU when a FAISS GPU build sees one, else exact search with
torch on CUDA when only torch sees one, else FAISS on the CPU (always available).

``VSEARCH_SEARCH_DEVICE`` = ``auto`` (default), ``cpu`` (never a GPU) or ``cuda`` / ``cuda:N``.
GPU copies are made only for indexes of at least ``GPU_MIN_VECTORS`` vectors: below that a
query is faster on the CPU than the copy and the transfer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator

import numpy as np

log = logging.getLogger(__name__)

GPU_MIN_VECTORS = 50_000
# A search of fewer queries than this runs on one CPU thread: a single query gains nothing from
# an OpenMP team and, on a busy machine, loses up to 100x in its barriers (docs/benchmarks.md).
FEW_QUERIES = 16
SEARCH_DEVICE_ENV = "VSEARCH_SEARCH_DEVICE"


def search_device() -> str:
    return os.environ.get(SEARCH_DEVICE_ENV, "auto").strip().lower() or "auto"


@contextlib.contextmanager
def cpu_threads_for(n_queries: int) -> Iterator[None]:
    """FAISS on one OpenMP thread (of the calling thread only) for a search of few queries."""
    if n_queries >= FEW_QUERIES:
        yield
        return
    from vsearch.index._faiss import load_faiss

    faiss = load_faiss()

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def faiss_gpu_clone(raw, ntotal: int):
    """A GPU copy of FAISS index ``raw``, or None (CPU build, no GPU, small index, cpu asked)."""
    if search_device() == "cpu" or ntotal < GPU_MIN_VECTORS:
        return None
    from vsearch.index._faiss import load_faiss

    faiss = load_faiss()

    if not hasattr(faiss, "StandardGpuResources"):
        return None
    try:
        if faiss.get_num_gpus() <= 0:
            return None
        return faiss.index_cpu_to_all_gpus(raw)
    except (RuntimeError, AttributeError) as exc:  # pragma: no cover - needs a GPU
        log.warning("FAISS GPU search unavailable, using the CPU: %s", exc)
        return None


def faiss_has_gpu() -> bool:
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a dependency
        return False
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def torch_cuda_device() -> str | None:
    """The CUDA device torch should search on, or None (no torch, no CUDA, cpu asked)."""
    wanted = search_device()
    if wanted == "cpu" or importlib.util.find_spec("torch") is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return wanted if wanted.startswith("cuda") else "cuda"


class TorchExactSearch:
    """Exact inner-product top-k with one matrix product on a torch device.

    On CUDA the device holds the vectors as float16 (half the memory) and the top candidates
    are rescored in float32 from the host copy, so scores and order are those of exact search.
    """

    RESCORE = 4  # candidates per wanted hit rescored in float32 after a float16 product

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, device: str):
        import torch

        self.device = torch.device(device)
        self.half = self.device.type == "cuda"
        self._ids = np.asarray(ids, dtype=np.int64)
        self._cpu = np.asarray(vectors, dtype=np.float32)  # float32 rows for rescoring
        mat = torch.from_numpy(np.ascontiguousarray(self._cpu))
        self._mat = mat.to(self.device, torch.float16 if self.half else torch.float32)
        self.ntotal = int(self._cpu.shape[0])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        q = np.ascontiguousarray(queries, dtype=np.float32)
        n = q.shape[0]
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        ids = np.full((n, k), -1, dtype=np.int64)
        kk = min(k, self.ntotal)
        if kk <= 0:
            return scores, ids
        with torch.inference_mode():
            qt = torch.from_numpy(q).to(self.device, self._mat.dtype)
            cand = min(self.ntotal, kk * self.RESCORE) if self.half else kk
            rows = torch.topk(qt @ self._mat.T, cand, dim=1).indices.cpu().numpy()
        exact = np.einsum("qd,qcd->qc", q, self._cpu[rows])
        order = np.argsort(-exact, axis=1, kind="stable")[:, :kk]
        scores[:, :kk] = np.take_along_axis(exact, order, 1)
        ids[:, :kk] = self._ids[np.take_along_axis(rows, order, 1)]
        return scores, ids


__all__ = [
    "GPU_MIN_VECTORS",
    "SEARCH_DEVICE_ENV",
    "TorchExactSearch",
    "cpu_threads_for",
    "faiss_gpu_clone",
    "faiss_has_gpu",
    "search_device",
    "torch_cuda_device",
]
