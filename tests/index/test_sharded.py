"""Sharded IVF-PQ index: built in parallel by id range, searched together or merged, rebuilt
shard by shard, and kept in step with a library's frames."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vsearch.index import IndexFileError
from vsearch.index.sharded import ShardedIndex, default_factory


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, dim)).astype(np.float32)
    x = centres[rng.integers(0, 50, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(queries: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ data.T), axis=1)[:, :k]


@pytest.fixture(scope="module", autouse=True)
def one_openmp_thread():
    """FAISS's OpenMP threads spin at barriers: on a busy shared machine one thread is faster."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return clustered(12_000, 32)


@pytest.fixture(scope="module")
def trained(data) -> bytes:
    index = ShardedIndex(dim=32, factory="IVF32,PQ16x4", shard_size=4000, nprobe=8)
    index.train(data)
    return index.trained


def built(data: np.ndarray, trained: bytes) -> ShardedIndex:
    index = ShardedIndex(dim=32, factory="IVF32,PQ16x4", shard_size=4000, nprobe=8, trained=trained)
    ids = np.arange(len(data))

    def source(number):
        part = ids[index.shard_of(ids) == number]
        for lo in range(0, len(part), 1000):
            yield part[lo : lo + 1000], data[part[lo : lo + 1000]]

    index.build_shards({n: (lambda n=n: source(n)) for n in range(3)}, workers=2)
    return index


def test_shards_searched_together_agree_with_the_merged_index_and_with_exact(data, trained):
    index = built(data, trained)
    assert sorted(index.shards) == [0, 1, 2] and index.ntotal == len(data)
    queries = clustered(100, 32, seed=1)
    scores, ids = index.search(queries, 50)
    _, merged_ids = index.merged().search(queries, 50)
    assert np.array_equal(ids, merged_ids)  # the same codes, the same cells probed
    truth = exact_top(queries, data, 10)
    recall = np.mean([len(set(a[:10]) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
    candidates = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
    assert recall > 0.3 and candidates > 0.7, (recall, candidates)  # re-ranking 50 finds them
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_stale_shards_are_found_by_id_digest_and_only_they_are_rebuilt(data, trained, tmp_path):
    index = built(data, trained)
    ids = np.arange(len(data))
    assert index.stale_shards(ids) == []
    grown = np.arange(len(data) + 10)  # new frames fall in the last range
    assert index.stale_shards(grown) == [3]
    shrunk = np.delete(ids, [5])  # a frame of the first range deleted
    assert index.stale_shards(shrunk) == [0]
    index.save(tmp_path / "s")
    again = ShardedIndex.load(tmp_path / "s")
    queries = clustered(20, 32, seed=2)
    assert np.array_equal(again.search(queries, 5)[1], index.search(queries, 5)[1])
    assert again.stale_shards(ids) == []


def test_ids_outside_a_shards_range_are_refused(data, trained):
    index = ShardedIndex(dim=32, factory="IVF32,PQ16x4", shard_size=4000, trained=trained)
    wrong = {0: lambda: iter([(np.array([5000]), data[:1])])}
    with pytest.raises(IndexFileError, match="outside the range"):
        index.build_shards(wrong)


def test_default_layout_follows_the_size():
    assert default_factory(10**9, 512) == "IVF65536_HNSW32,PQ64"
    assert default_factory(10**6, 512) == "IVF2048_HNSW32,PQ64"
    assert default_factory(50_000, 1280) == "IVF512,PQ64"
    assert default_factory(50_000, 100).endswith(",PQ50")
    with pytest.raises(IndexFileError, match="too few"):
        default_factory(1000, 128)


@pytest.mark.usefixtures("db_backend")
def test_a_librarys_shards_follow_its_frames(settings, clips, tmp_path):
    from vsearch.db import queries
    from vsearch.pipeline.library import Library
    from vsearch.store.shards import open_frame_shards, refresh_frame_shards

    library = Library.open(settings=settings, create=True, fps=8)  # 32 frames a video
    root = tmp_path / "videos"
    root.mkdir()
    for name in ("testsrc", "mandel"):
        shutil.copy(clips[name], root / f"{name}.mp4")
    library.index([root])
    options = {"factory": "IVF4,PQ16x4", "shard_size": 40}
    first = refresh_frame_shards(library.store, **options)
    assert first.trained and first.rebuilt == list(range(first.shards))
    assert refresh_frame_shards(library.store, **options).rebuilt == []  # nothing changed
    shutil.copy(clips["life"], root / "life.mp4")
    library.index([root])
    grown = refresh_frame_shards(library.store, **options)
    assert not grown.trained and grown.rebuilt and min(grown.rebuilt) >= first.shards - 1
    library.remove(root / "testsrc.mp4")
    shrunk = refresh_frame_shards(library.store, **options)
    assert shrunk.rebuilt and max(shrunk.rebuilt) < first.shards
    shards = open_frame_shards(library.store)
    with library.store.sessions() as session:
        ids = queries.frame_ids(session=session)
        _, vectors = next(queries.iter_frame_vectors(session=session, ids=ids[-5:]))
    assert shards.ntotal == len(ids) and shards.stale_shards(ids) == []
    _, found = shards.search(vectors, 20)
    assert all(i in row for i, row in zip(ids[-5:], found, strict=True))
    library.close()
