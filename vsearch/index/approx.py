"""Approximate inner-product search for large libraries: FAISS IVF with flat, SQ or PQ codes.

A library's frame and clip indexes are exact (``FaissIndex``) up to ``APPROX_MIN_VECTORS`` and
approximate above it (``IvfIndex``): ``nlist`` k-means cells trained on a sample, each vector
stored in its cell as a code, ``nprobe`` cells scanned per query. ``choose_setting`` is the one
policy; ``scripts/bench_search.py`` measures the settings it chooses between.

Why IVF and not HNSW: a library deletes vectors (a re-indexed or removed video), which an IVF
index does in place and an HNSW graph cannot; IVF also trains in minutes on a sample and its
codes (SQ8: one byte per dimension) keep 10^7 vectors of 512 dimensions in ~5 GiB.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.index._faiss import load_faiss
from vsearch.index.base import IndexFileError, as_matrix
from vsearch.index.faiss_base import FaissIdIndex

log = logging.getLogger(__name__)

APPROX_MIN_VECTORS = 200_000  # below: exact search; at and above: IVF (scripts/bench_search.py)
# codes above this: SQ6 instead of SQ8; finer codes (CODEC_ORDER) up to it
COMPACT_MIN_BYTES = 6 * 2**30
RECALL_TARGET = 0.95  # recall@10 against exact search that the tuned nprobe must reach
NPROBE_CHOICES = (4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
TRAIN_PER_CELL = 50  # k-means training points per cell (FAISS wants >= 39)
# The codes, from coarse to fine. When the codes, not nprobe, keep recall@10 under
# RECALL_TARGET, an index is rebuilt with the next finer codes while they fit in
# COMPACT_MIN_BYTES.
CODEC_ORDER = ("pq", "sq4", "sq6", "sq8", "sq16", "flat")


@dataclass(frozen=True)
class IndexSetting:
    """How an index stores and searches vectors: ``exact`` or IVF with a ``codec``."""

    kind: str = "exact"  # "exact" | "ivf"
    codec: str = "flat"  # flat (float32), sq16/8/6/4 (16 to 4 bits per dim), pq (m bytes)
    nlist: int = 0
    pq_m: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("exact", "ivf") or self.codec not in CODEC_ORDER:
            raise ValueError(f"unknown index setting {self.kind}/{self.codec}")

    @property
    def approximate(self) -> bool:
        return self.kind == "ivf"

    def factory(self, dim: int) -> str:
        """The FAISS index_factory string of this setting."""
        if not self.approximate:
            return "IDMap2,Flat"
        codes = {"flat": "Flat", "sq16": "SQfp16", "sq8": "SQ8", "sq6": "SQ6", "sq4": "SQ4"}.get(
            self.codec
        )
        codes = codes or f"PQ{self.pq_m}np"  # np: no polysemous training (slow, unused here)
        return f"IVF{self.nlist},{codes}"

    def bytes_per_vector(self, dim: int) -> float:
        """Memory per stored vector: its code plus its 8-byte id (index structures aside)."""
        code = {
            "flat": 4 * dim,
            "sq16": 2 * dim,
            "sq8": dim,
            "sq6": dim * 3 / 4,
            "sq4": dim / 2,
            "pq": self.pq_m,
        }[self.codec]
        return code + 8

    def describe(self, dim: int) -> str:
        return f"{self.factory(dim)} ({self.bytes_per_vector(dim):g} B/vector)"

    def finer(self, n: int, dim: int) -> IndexSetting | None:
        """The same cells with the next finer codes, if ``n`` of them fit in
        COMPACT_MIN_BYTES; None otherwise (or for exact search)."""
        rank = CODEC_ORDER.index(self.codec)
        if not self.approximate or rank + 1 == len(CODEC_ORDER):
            return None
        step = IndexSetting("ivf", CODEC_ORDER[rank + 1], self.nlist)
        return step if n * step.bytes_per_vector(dim) <= COMPACT_MIN_BYTES else None

    def finer_than(self, other: IndexSetting) -> bool:
        """Whether this IVF setting stores finer codes than ``other``'s."""
        return CODEC_ORDER.index(self.codec) > CODEC_ORDER.index(other.codec)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


EXACT = IndexSetting()


def default_nlist(n: int) -> int:
    """Cells for ``n`` vectors: 2 sqrt(n) rounded to a power of two, >= TRAIN_PER_CELL each.

    Fewer cells than the textbook 4-16 sqrt(n) keep k-means and the cell assignment of every
    vector affordable on a few CPU cores; nprobe is then tuned to reach RECALL_TARGET.
    """
    want = 2 ** round(math.log2(max(2.0, 2 * math.sqrt(max(n, 1)))))
    return int(max(1, min(want, n // TRAIN_PER_CELL)))


def choose_setting(n: int, dim: int, *, codec: str | None = None) -> IndexSetting:
    """The setting for an index of ``n`` vectors of ``dim`` dimensions."""
    if n < APPROX_MIN_VECTORS and codec is None:
        return EXACT
    if codec is None:
        codec = "sq8" if n * dim <= COMPACT_MIN_BYTES else "sq6"
    if codec == "exact":
        return EXACT
    pq_m = _pq_m(dim) if codec == "pq" else 0
    return IndexSetting("ivf", codec, default_nlist(n), pq_m)


def _pq_m(dim: int) -> int:
    for m in (dim // 4, dim // 8, 64, 32, 16, 8):  # one sub-quantizer per 4 dims if it divides
        if m and dim % m == 0:
            return m
    return 1


class IvfIndex(FaissIdIndex):
    """An inverted-file index (VectorIndex protocol) over ids chosen by the caller."""

    def __init__(self, dim: int, raw, setting: IndexSetting):
        self.dim = dim
        self._raw = raw
        self.setting = setting
        self._gpu: Any = None  # a GPU copy, False when none can be made

    @classmethod
    def train(
        cls, dim: int, setting: IndexSetting, sample: np.ndarray, *, seed: int = 0
    ) -> IvfIndex:
        """A new, empty index whose cells (and codes) are trained on ``sample``."""
        faiss = load_faiss()
        if not setting.approximate:
            raise ValueError("IvfIndex.train needs an IVF setting")
        raw = faiss.index_factory(dim, setting.factory(dim), faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(raw)
        ivf.cp.niter = 10
        ivf.cp.seed = seed
        ivf.cp.spherical = True  # inner product over unit vectors: unit centroids
        ivf.cp.min_points_per_centroid = min(TRAIN_PER_CELL, 39)
        ivf.cp.max_points_per_centroid = TRAIN_PER_CELL * 4
        data = as_matrix(sample, dim)
        if data.shape[0] < setting.nlist:
            raise ValueError(f"{data.shape[0]} training vectors for {setting.nlist} cells")
        raw.train(data)
        ivf.nprobe = min(16, setting.nlist)
        return cls(dim, raw, setting)

    @property
    def ivf(self):
        return load_faiss().extract_index_ivf(self._raw)

    @property
    def nprobe(self) -> int:
        return int(self.ivf.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.ivf.nprobe = int(max(1, min(value, self.setting.nlist)))
        self._gpu = None

    def ids(self) -> np.ndarray:
        faiss = load_faiss()
        invlists = self.ivf.invlists
        parts = []
        for cell in range(invlists.nlist):
            size = invlists.list_size(cell)
            if size:
                ptr = invlists.get_ids(cell)
                parts.append(faiss.rev_swig_ptr(ptr, size).copy())
                invlists.release_ids(cell, ptr)
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def _searcher(self):
        from vsearch.index.devices import faiss_gpu_clone

        if self._gpu is None:
            self._gpu = faiss_gpu_clone(self._raw, self.ntotal) or False
        return self._gpu or self._raw

    def describe(self) -> str:
        return f"{self.setting.factory(self.dim)} nprobe {self.nprobe} over {self.ntotal} vectors"


def wrap_loaded(raw, path: Path) -> IvfIndex:
    """An IvfIndex around an IVF index read from ``path``."""
    faiss = load_faiss()
    try:
        ivf = faiss.extract_index_ivf(raw)
    except RuntimeError as exc:
        raise IndexFileError(f"{path}: not a vsearch index ({exc})") from exc
    codec = "flat"
    pq_m = 0
    inner = faiss.downcast_index(ivf)
    if isinstance(inner, faiss.IndexIVFScalarQuantizer):
        bits = {
            faiss.ScalarQuantizer.QT_4bit: "sq4",
            faiss.ScalarQuantizer.QT_6bit: "sq6",
            faiss.ScalarQuantizer.QT_fp16: "sq16",
        }
        codec = bits.get(inner.sq.qtype, "sq8")
    elif isinstance(inner, faiss.IndexIVFPQ):
        codec, pq_m = "pq", int(inner.pq.M)
    return IvfIndex(raw.d, raw, IndexSetting("ivf", codec, int(ivf.nlist), pq_m))


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each query's true top-k ids found in its returned top-k."""
    hits = [
        len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist()))
        for f, t in zip(found, truth, strict=True)
    ]
    denom = sum(int((t >= 0).sum()) for t in truth)
    return float(sum(hits) / denom) if denom else 1.0


__all__ = [
    "APPROX_MIN_VECTORS",
    "EXACT",
    "RECALL_TARGET",
    "IndexSetting",
    "IvfIndex",
    "choose_setting",
    "default_nlist",
    "recall_at_k",
]
