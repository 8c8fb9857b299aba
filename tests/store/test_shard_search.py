"""Frame search through a library's IVF-PQ shards: built on request, used only while current,
candidates re-ranked by exact scores, stale shards refreshed one by one."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from tests.helpers import run_cli
from vsearch.index.sharded import DEFAULT_NPROBE
from vsearch.pipeline.library import Library
from vsearch.pipeline.search import search_vectors
from vsearch.store.shards import RerankedShards
from vsearch.types import VideoFacts, VideoStatus

FRAMES = 40  # per synthetic video
VIDEOS = 30  # 1,200 frames: ids 1..1200
SHARD = 400  # frame ids per shard: 4 shards (ids 0-399, ..., 1200)
OPTIONS = {"shard_size": SHARD, "factory": "IVF16,PQ16x4"}
RECALL_BAR = 0.9  # videos of the exact top 10 also in the sharded top 10, over all queries


def videos(dim: int, start: int, count: int, seed: int):
    """Synthetic videos: slow random walks around a random point, unit length."""
    rng = np.random.default_rng(seed)
    for v in range(start, start + count):
        centre = rng.standard_normal(dim).astype(np.float32)
        walk = np.cumsum(0.05 * rng.standard_normal((FRAMES, dim)), axis=0).astype(np.float32)
        vecs = centre + walk + 0.3 * rng.standard_normal((FRAMES, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        facts = VideoFacts(status=VideoStatus.INDEXED, duration=float(FRAMES), size=FRAMES)
        yield f"/synthetic/video{v:04d}.mp4", np.arange(FRAMES, dtype=np.float64), vecs, facts


def near_copies(lib: Library, n: int, seed: int = 1) -> np.ndarray:
    ids, stored = lib.store.frame_vectors(np.arange(1, lib.store.frame_count() + 1))
    rng = np.random.default_rng(seed)
    base = stored[rng.choice(len(ids), n, replace=False)]
    noise = rng.standard_normal(base.shape).astype(np.float32)
    q = base + 0.25 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture()
def lib(tmp_path):
    library = Library.open(tmp_path / "lib", create=True, model="colorgrid")
    library.import_frames(videos(library.model_info.dim, 0, VIDEOS, seed=0))
    yield library
    library.close()


def test_a_library_without_shards_searches_its_frame_index(lib, caplog):
    with caplog.at_level(logging.WARNING):
        assert lib.store.frame_searcher is lib.store.frame_index
    assert "shards" not in caplog.text
    assert lib.stats().frame_shards is None


def test_search_through_shards_finds_the_exact_answers_with_exact_scores(lib):
    q = near_copies(lib, 40)
    exact = search_vectors(lib.store, q, k=10)
    exact_frames = search_vectors(lib.store, q, k=10, frames=True)
    report = lib.refresh_shards(**OPTIONS)
    assert report.trained and report.rebuilt == [0, 1, 2, 3] and report.vectors == 1200
    assert isinstance(lib.store.frame_searcher, RerankedShards)
    sharded = search_vectors(lib.store, q, k=10)
    sharded_frames = search_vectors(lib.store, q, k=10, frames=True)
    assert all(a[0].video_id == b[0].video_id for a, b in zip(exact, sharded, strict=True))
    found = sum(
        len({h.video_id for h in a} & {h.video_id for h in b})
        for a, b in zip(exact, sharded, strict=True)
    )
    assert found / sum(len(a) for a in exact) >= RECALL_BAR
    # Every score is the exact inner product with the stored vector, as exact search gives.
    for query, hits in zip(q, sharded + sharded_frames, strict=False):
        ids, stored = lib.store.frame_vectors([h.frame_id for h in hits])
        by_id = dict(zip(ids.tolist(), stored @ query, strict=True))
        assert [h.score for h in hits] == pytest.approx([by_id[h.frame_id] for h in hits], 1e-5)
    for a, b in zip(exact_frames, sharded_frames, strict=True):
        common = {h.frame_id: h.score for h in a}
        for hit in b:
            if hit.frame_id in common:
                assert hit.score == pytest.approx(common[hit.frame_id], abs=1e-5)
        assert b[0].frame_id == a[0].frame_id


def test_candidates_read_in_groups_give_the_same_answers(lib, monkeypatch):
    from vsearch.store import shards

    lib.refresh_shards(**OPTIONS)
    q = near_copies(lib, 12, seed=3)
    whole = lib.store.frame_searcher.search(q, 150)
    monkeypatch.setattr(shards, "RERANK_READ", 300)  # two queries per store call
    grouped = lib.store.frame_searcher.search(q, 150)
    assert np.array_equal(whole[1], grouped[1]) and np.allclose(whole[0], grouped[0])
    assert np.all(np.diff(grouped[0], axis=1) <= 0)  # best first, exact scores


def test_stale_shards_fall_back_and_a_refresh_rebuilds_only_what_changed(lib, caplog):
    lib.refresh_shards(**OPTIONS)
    q = near_copies(lib, 10, seed=2)
    assert isinstance(lib.store.frame_searcher, RerankedShards)
    assert lib.refresh_shards(**OPTIONS).rebuilt == []  # nothing changed
    probed = lib.refresh_shards(nprobe=4)  # a search setting: nothing rebuilt, applied
    assert probed.rebuilt == [] and probed.nprobe == 4
    assert lib.store.frame_searcher.shards.nprobe == 4

    # New videos: frame ids 1201..1320 fall in shard 3, the last one.
    lib.import_frames(videos(lib.model_info.dim, VIDEOS, 2, seed=5))
    with caplog.at_level(logging.WARNING):
        searcher = lib.store.frame_searcher
        assert lib.store.frame_searcher is searcher  # checked once, logged once
    assert searcher is lib.store.frame_index
    assert caplog.text.count("frame shards not used") == 1
    lib.import_frames(videos(lib.model_info.dim, VIDEOS + 2, 1, seed=6))  # ids 1281..1320
    with caplog.at_level(logging.WARNING):  # still stale: not checked nor logged again
        assert lib.store.frame_searcher is lib.store.frame_index
    assert caplog.text.count("frame shards not used") == 1
    fallback = search_vectors(lib.store, q, k=5)
    assert [h.video_id for h in fallback[0]] == [
        h.video_id for h in search_vectors(lib.store, q[:1], k=5)[0]
    ]
    grown = lib.refresh_shards(**OPTIONS)
    assert grown.rebuilt == [3] and not grown.trained and grown.vectors == 1320
    assert isinstance(lib.store.frame_searcher, RerankedShards)

    # Removing video 12 (frame ids 481..520) makes shard 1 stale, and only it.
    lib.remove("/synthetic/video0012.mp4")
    assert lib.store.frame_searcher is lib.store.frame_index
    shrunk = lib.refresh_shards(**OPTIONS)
    assert shrunk.rebuilt == [1] and shrunk.vectors == 1280
    # Indexed again: new ids at the end, in the last shard.
    lib.import_frames(videos(lib.model_info.dim, 12, 1, seed=0))
    again = lib.refresh_shards(**OPTIONS)
    assert again.rebuilt == [3] and again.vectors == 1320
    assert isinstance(lib.store.frame_searcher, RerankedShards)
    back = [h for r in search_vectors(lib.store, q, k=10) for h in r if "video0012" in h.path]
    assert all(h.frame_id > 1320 - FRAMES for h in back)  # only its new frames


def test_shards_changed_by_another_process_are_checked_again(lib, tmp_path):
    lib.refresh_shards(**OPTIONS)
    assert isinstance(lib.store.frame_searcher, RerankedShards)
    other = Library.open(lib.root)
    try:
        other.remove("/synthetic/video0001.mp4")
    finally:
        other.close()
    lib.refresh()
    assert lib.store.frame_searcher is lib.store.frame_index


def test_shards_command_reports_and_refuses_a_tiny_library_by_default(lib):
    root = lib.root
    lib.close()
    refused = run_cli(root, "shards")
    assert refused.exit_code != 0 and "too few" in refused.output
    flags = ["--shard-size", str(SHARD), "--factory", OPTIONS["factory"], "--json"]
    first = run_cli(root, "shards", *flags)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["vectors"] == 1200 and data["shards"] == 4 and data["trained"]
    assert data["rebuilt"] == [0, 1, 2, 3] and data["folder"].endswith("frames.shards")
    assert data["nprobe"] == DEFAULT_NPROBE
    second = run_cli(root, "shards")
    assert second.exit_code == 0 and "rebuilt: none" in second.output
    shards = json.loads(run_cli(root, "stats", "--json").output)["frame_shards"]
    assert shards["current"] and shards["shards"] == 4 and shards["vectors"] == 1200
    with Library.open(root) as again:
        again.import_frames(videos(again.model_info.dim, VIDEOS, 1, seed=9))
    stats = run_cli(root, "stats")
    assert "1 stale: frame search uses the frame index" in stats.output


def test_index_with_shards_refreshes_them_after_committing_the_videos(lib, clips, tmp_path):
    lib.refresh_shards(**OPTIONS)
    root = lib.root
    lib.close()
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(clips["testsrc"], folder / "testsrc.mp4")
    done = run_cli(root, "index", str(folder), "--shards", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert len(data["indexed"]) == 1 and data["shards"]["rebuilt"] == [3]  # new ids: last
    assert not data["shards"]["trained"]


def test_index_with_shards_keeps_the_videos_of_a_library_too_small_for_them(
    settings, clips, tmp_path
):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(clips["testsrc"], folder / "testsrc.mp4")
    done = run_cli(settings.library, "index", str(folder), "--shards", "--model", "colorgrid")
    assert done.exit_code != 0 and "frame shards not built" in done.output
    assert "too few" in done.output and "1 indexed" in done.output
    with Library.open(settings.library) as again:
        assert again.store.frame_count() > 0 and not (again.root / "frames.shards").exists()
