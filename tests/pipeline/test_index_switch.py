"""A library's frame and clip indexes switch from exact to IVF above a (here tiny) size, with
recall@10 against exact search measured, and keep the database as their source of truth."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.index import create_index
from vsearch.index.approx import IvfIndex, recall_at_k
from vsearch.pipeline.library import Library
from vsearch.pipeline.search import search_vector
from vsearch.types import VideoFacts, VideoStatus

DIM = 128  # colorgrid
FRAMES_PER_VIDEO = 60
INDEXED = VideoStatus.INDEXED


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setattr("vsearch.index.approx.APPROX_MIN_VECTORS", 2000)


def synthetic_videos(n_videos: int, seed: int = 0, start: int = 0):
    """Each video a slow random walk around its own point: frames of one video are close."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(20, DIM))
    for v in range(start, start + n_videos):
        centre = topics[v % 20] + 0.8 * rng.normal(size=DIM)
        walk = np.cumsum(0.08 * rng.normal(size=(FRAMES_PER_VIDEO, DIM)), axis=0)
        vecs = (centre + walk + 0.2 * rng.normal(size=(FRAMES_PER_VIDEO, DIM))).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        times = np.arange(FRAMES_PER_VIDEO, dtype=np.float64)
        yield f"/videos/v{v:04d}.mp4", times, vecs, VideoFacts(status=INDEXED, duration=60.0)


def all_frames(lib):
    ids, vecs = [], []
    with lib.store.sessions() as session:
        from vsearch.db import queries

        for i, v in queries.iter_frame_vectors(session=session):
            ids.append(i)
            vecs.append(v)
    return np.concatenate(ids), np.concatenate(vecs)


def test_switch_to_ivf_with_recall_and_back(library):
    library.store.load_indexes()  # exact, empty: the import below adds to them as it commits
    assert library.import_frames(synthetic_videos(80)) == 80 * FRAMES_PER_VIDEO
    frames_index = library.store.frame_index
    assert frames_index.ntotal == 4800 and not isinstance(frames_index, IvfIndex)
    cards = library.rebuild_indexes()
    assert set(cards) == {"frames", "clips"}  # 4800 frames and ~2300 clips: both above 2000
    frames = cards["frames"]
    assert isinstance(library.store.frame_index, IvfIndex)
    assert frames.index_setting.approximate and frames.recall_at_10 >= 0.95
    assert frames.bytes_per_vector == DIM + 8  # SQ8 codes and an id
    assert library.rebuild_indexes() == {}  # nothing to do until the library grows

    # recall of the live index against exact search, on fresh near-copy queries
    ids, vecs = all_frames(library)
    exact = create_index("faiss", DIM)
    exact.add(ids, vecs)
    rng = np.random.default_rng(9)
    q = vecs[rng.choice(len(vecs), 100, replace=False)] + 0.05 * rng.normal(size=(100, DIM))
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    assert recall_at_k(library.store.frame_index.search(q, 10)[1], exact.search(q, 10)[1]) >= 0.9
    hit = search_vector(library.store, vecs[1234], k=3)[0]
    assert hit.frame_id == ids[1234]  # a stored frame finds itself, through the library

    frames = library.stats().indexes["frames"]
    assert frames.card and frames.card.index_setting.approximate
    assert frames.card.recall_at_10 >= 0.95 and "recall@10" in frames.summary
    library.close()

    # reopened: the IVF file is loaded as it is, and repaired from the database when behind
    with Library.open(library.root) as lib:
        lib.remove("/videos/v0003.mp4")
        lib.import_frames(synthetic_videos(2, seed=5, start=500))
        assert isinstance(lib.store.frame_index, IvfIndex)
    with Library.open(library.root) as lib:
        assert isinstance(lib.store.frame_index, IvfIndex) and lib.store.frame_sync.agreed
        assert lib.store.frame_index.ntotal == 81 * FRAMES_PER_VIDEO
        search = lib.doctor().checks["search"]
        assert search.ok and "recall@10" in search.detail
        # the library shrinks below half the threshold: back to exact search
        for v in range(80):
            if v != 3:
                lib.remove(f"/videos/v{v:04d}.mp4")
        cards = lib.rebuild_indexes()
        assert not cards["frames"].index_setting.approximate
        assert not isinstance(lib.store.frame_index, IvfIndex)


def test_lost_index_file_is_rebuilt_approximate_from_the_database(library):
    library.import_frames(synthetic_videos(60))
    library.rebuild_indexes()
    library.close()
    (library.root / "frames.faiss").unlink()
    with Library.open(library.root) as lib:
        assert isinstance(lib.store.frame_index, IvfIndex)  # streamed, not all held as float32
        assert lib.store.frame_sync.rebuilt and lib.store.frame_index.ntotal == 3600
    assert (library.root / "frames.faiss").exists()


def test_background_rebuild_keeps_serving_and_catches_up(library):
    library.store.load_indexes()
    library.import_frames(synthetic_videos(50))
    exact = library.store.frame_index
    thread = library.rebuild_indexes(background=True)
    # readers go on with the index in use; writes of this process land in one or the other
    assert search_vector(library.store, np.eye(1, DIM, 0, dtype=np.float32)[0], k=2)
    library.import_frames(synthetic_videos(3, seed=7, start=900))
    thread.join(timeout=120)
    assert not thread.is_alive()
    swapped = library.store.frame_index
    assert swapped is not exact and isinstance(swapped, IvfIndex)
    ids, _ = all_frames(library)
    assert sorted(library.store.frame_index.ids().tolist()) == sorted(ids.tolist())


def test_search_stops_asking_an_exhausted_ivf_index_for_more(library):
    library.import_frames(synthetic_videos(60))
    library.rebuild_indexes()
    index = library.store.frame_index
    assert isinstance(index, IvfIndex)
    index.nprobe = 1  # one cell: fewer neighbours than the first fetch asks for
    calls = []
    search = index.search
    index.search = lambda q, k: calls.append(k) or search(q, k)
    _, vecs = all_frames(library)
    hits = search_vector(library.store, vecs[10], k=50)
    assert hits and len(calls) == 1  # not 64, 256, 1024, ... up to every vector
