"""Build a library index from its stored vectors, streamed: exact or IVF, recall measured.

``build_index`` reads the vectors through ``stream()`` (a callable giving (ids, vectors) chunks,
called once per pass) and never holds more than one chunk of float32 vectors besides the
index itself and its training sample:

1. pass 1 draws the k-means training sample and the recall queries (stored vectors plus
   noise, i.e. near copies of library frames), uniformly over the whole library;
2. the IVF cells and codes are trained on the sample;
3. pass 2 adds every vector and, chunk by chunk, keeps the exact top-10 of each recall query;
4. nprobe is tuned: the smallest in NPROBE_CHOICES whose recall@10 reaches RECALL_TARGET;
5. when probing more cells stops helping below the target, the codes bound the recall: the
   index is built again with the next finer codes (SQ8 -> SQfp16 -> Flat) while they fit in
   ``approx.COMPACT_MIN_BYTES``, and the card says what the coarser codes reached.

The result comes with an ``IndexCard`` (setting, nprobe, recall@10 against exact search,
memory per vector, build time) saved next to the index file as JSON.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vsearch.index import approx
from vsearch.index.approx import (
    COMPACT_MIN_BYTES,
    EXACT,
    NPROBE_CHOICES,
    RECALL_TARGET,
    TRAIN_PER_CELL,
    IndexSetting,
    IvfIndex,
    choose_setting,
    recall_at_k,
)
from vsearch.index.base import VectorIndex, atomic_write

log = logging.getLogger(__name__)

RECALL_K = 10
RECALL_QUERIES = 500
QUERY_NOISE = 0.25  # norm of the noise added to a stored vector to make a recall query
REBUILD_GROWTH = 2.0  # an IVF index is retrained once the library has this many times more

Stream = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]


@dataclass
class IndexCard:
    """What an index is and how well it searches (saved as ``<index file>.json``)."""

    setting: dict[str, object]
    factory: str
    dim: int
    vectors: int
    trained_on: int = 0
    nprobe: int = 0
    recall_at_10: float = 1.0
    recall_queries: int = 0
    bytes_per_vector: float = 0.0
    build_seconds: float = 0.0
    built_at: str = ""
    nprobe_recall: dict[str, float] = field(default_factory=dict)
    # coarser codes tried first, and the recall@10 they were bound to (see build_index)
    codes_bound: dict[str, float] = field(default_factory=dict)

    @property
    def index_setting(self) -> IndexSetting:
        return IndexSetting(**self.setting)  # type: ignore[arg-type]

    def summary(self) -> str:
        s = self.index_setting
        if not s.approximate:
            return f"exact {self.factory} ({self.bytes_per_vector:g} B/vector)"
        tried = "".join(
            f"; {codec} codes reached only {recall:.3f}"
            for codec, recall in self.codes_bound.items()
        )
        return (
            f"{self.factory} nprobe {self.nprobe}: recall@10 {self.recall_at_10:.3f} vs exact "
            f"({self.recall_queries} queries), {self.bytes_per_vector:g} B/vector, "
            f"trained on {self.trained_on} of {self.vectors}{tried}"
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def card_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".json")


def save_card(card: IndexCard, index_path: Path) -> None:
    text = json.dumps(card.to_dict(), indent=1)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    atomic_write(card_path(index_path), write)


def load_card(index_path: Path) -> IndexCard | None:
    try:
        data = json.loads(card_path(index_path).read_text())
        return IndexCard(**data)
    except (OSError, ValueError, TypeError):
        return None


def needs_rebuild(have: IndexSetting, built_for: int, n: int, dim: int) -> IndexSetting | None:
    """The setting to rebuild an index of setting ``have``, built over ``built_for`` vectors
    and now holding ``n``, with; None while it still fits.

    Exact -> IVF once a library reaches APPROX_MIN_VECTORS; IVF -> a retrained IVF once the
    library grew REBUILD_GROWTH times past what it was trained on (or needs other codes);
    IVF -> exact once it shrank below half the threshold (no flapping around it).
    """
    want = choose_setting(n, dim)
    if not have.approximate:
        return want if want.approximate else None
    if n < approx.APPROX_MIN_VECTORS // 2:
        return EXACT
    if not want.approximate:
        return None
    # finer codes than the policy's (stepped up for recall, or asked for) stay while they fit
    stepped = have.finer_than(want) and n * have.bytes_per_vector(dim) <= COMPACT_MIN_BYTES
    if (want.codec != have.codec and not stepped) or n >= REBUILD_GROWTH * max(built_for, 1):
        return want
    return None


def build_index(
    dim: int,
    n: int,
    stream: Stream,
    *,
    setting: IndexSetting | None = None,
    seed: int = 0,
    recall_queries: int = RECALL_QUERIES,
    target: float = RECALL_TARGET,
) -> tuple[VectorIndex, IndexCard]:
    """An index over the ``n`` vectors of ``stream`` (see the module docstring)."""
    from vsearch.index import create_index

    started = time.perf_counter()
    setting = setting or choose_setting(n, dim)
    if not setting.approximate:
        index: VectorIndex = create_index("faiss", dim)
        for ids, vecs in stream():
            index.add(ids, vecs)
        card = IndexCard(
            setting.to_dict(), setting.factory(dim), dim, index.ntotal,
            bytes_per_vector=setting.bytes_per_vector(dim),
            build_seconds=round(time.perf_counter() - started, 3), built_at=_now(),
        )  # fmt: skip
        return index, card
    rng = np.random.default_rng(seed)
    n_train = min(n, max(setting.nlist * TRAIN_PER_CELL, 10_000))
    sample, queries = _draw_sample(stream, n, n_train, min(recall_queries, n), rng)
    log.info("training %s on %d of %d vectors", setting.factory(dim), len(sample), n)
    ivf = IvfIndex.train(dim, setting, sample, seed=seed)
    del sample
    truth = _TopK(queries, RECALL_K)
    for ids, vecs in stream():
        ivf.add(ids, vecs)
        truth.update(ids, vecs)
    nprobe, recall, table = tune_nprobe(ivf, queries, truth.ids, target)
    finer = setting.finer(n, dim) if recall < target and _plateau(list(table.values())) else None
    if finer is not None:
        log.info(
            "%s codes keep recall@%d at %.3f (target %.2f): rebuilding with %s",
            setting.factory(dim), RECALL_K, recall, target, finer.factory(dim),
        )  # fmt: skip
        del ivf
        index, card = build_index(
            dim, n, stream, setting=finer, seed=seed, recall_queries=recall_queries,
            target=target,
        )  # fmt: skip
        card.codes_bound = {setting.codec: round(recall, 4), **card.codes_bound}
        card.build_seconds = round(time.perf_counter() - started, 3)
        return index, card
    if recall < target:
        log.warning(
            "%s: recall@%d %.3f below the %.2f target at nprobe %d",
            setting.factory(dim), RECALL_K, recall, target, nprobe,
        )  # fmt: skip
    card = IndexCard(
        setting.to_dict(), setting.factory(dim), dim, ivf.ntotal, trained_on=n_train,
        nprobe=nprobe, recall_at_10=round(recall, 4), recall_queries=len(queries),
        bytes_per_vector=setting.bytes_per_vector(dim),
        build_seconds=round(time.perf_counter() - started, 3), built_at=_now(),
        nprobe_recall={str(k): round(v, 4) for k, v in table.items()},
    )  # fmt: skip
    log.info("built %s", card.summary())
    return ivf, card


def tune_nprobe(
    ivf: IvfIndex, queries: np.ndarray, truth: np.ndarray, target: float
) -> tuple[int, float, dict[int, float]]:
    """The smallest nprobe reaching ``target`` recall@k (else the best), its recall, the table."""
    k = truth.shape[1]
    table: dict[int, float] = {}
    for nprobe in NPROBE_CHOICES:
        if nprobe > ivf.setting.nlist:
            break
        ivf.nprobe = nprobe
        table[nprobe] = recall_at_k(ivf.search(queries, k)[1], truth)
        if table[nprobe] >= target or _plateau(list(table.values())):
            break
    if not table:
        ivf.nprobe = ivf.setting.nlist
        table[ivf.nprobe] = recall_at_k(ivf.search(queries, k)[1], truth)
    best = next((p for p, r in table.items() if r >= target), max(table, key=table.__getitem__))
    ivf.nprobe = best
    return best, table[best], table


def _plateau(recalls: list[float]) -> bool:
    """Probing more cells stopped helping: the codes, not the cells, bound the recall."""
    return len(recalls) >= 3 and recalls[-1] - recalls[-3] < 0.002


def _draw_sample(
    stream: Stream, n: int, n_train: int, n_queries: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training rows and recall queries drawn uniformly over the stream, in one pass."""
    train_rows = np.sort(rng.choice(n, n_train, replace=False))
    query_rows = np.sort(rng.choice(n, n_queries, replace=False))
    train: list[np.ndarray] = []
    picked: list[np.ndarray] = []
    offset = 0
    for _ids, vecs in stream():
        end = offset + len(vecs)
        for rows, out in ((train_rows, train), (query_rows, picked)):
            lo, hi = np.searchsorted(rows, [offset, end])
            if hi > lo:
                out.append(np.asarray(vecs[rows[lo:hi] - offset], dtype=np.float32))
        offset = end
    dim = picked[0].shape[1] if picked else 0
    sample = np.concatenate(train) if train else np.zeros((0, dim), np.float32)
    base = np.concatenate(picked) if picked else np.zeros((0, dim), np.float32)
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise *= QUERY_NOISE / np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
    queries = base + noise
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    return sample, queries


class _TopK:
    """Running exact top-k of fixed queries over vectors seen chunk by chunk."""

    def __init__(self, queries: np.ndarray, k: int):
        self.queries = queries
        self.k = k
        self.scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        self.ids = np.full((len(queries), k), -1, dtype=np.int64)

    def update(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if not len(ids) or not len(self.queries):
            return
        sims = self.queries @ np.asarray(vecs, dtype=np.float32).T
        kk = min(self.k, sims.shape[1])
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        scores = np.concatenate([self.scores, np.take_along_axis(sims, part, 1)], axis=1)
        cand = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)[part]], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(scores, order, 1)
        self.ids = np.take_along_axis(cand, order, 1)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = [
    "IndexCard",
    "build_index",
    "card_path",
    "load_card",
    "needs_rebuild",
    "save_card",
    "tune_nprobe",
]
