"""The look-ups behind every frame search, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vsearch.pipeline.library import Library
from vsearch.pipeline.search import search_vectors
from vsearch.types import VideoFacts, VideoStatus

pytestmark = pytest.mark.usefixtures("db_backend")


def videos(n_videos: int, per_video: int, dim: int):
    rng = np.random.default_rng(0)
    for v in range(n_videos):
        vecs = rng.standard_normal((per_video, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        facts = VideoFacts(status=VideoStatus.INDEXED, duration=float(per_video), size=1)
        yield f"/footage/v{v}.mp4", np.arange(per_video, dtype=np.float64), vecs, facts


def test_frame_search_keeps_each_videos_best_frame(tmp_path):
    with Library.open(tmp_path / "lib", create=True, model="colorgrid") as lib:
        lib.import_frames(videos(6, 40, lib.model_info.dim))
        table = lib.store.frame_table()
        ids, video_ids = table.ids, table.video_ids
        # the lean look-up: every existing id, none that does not exist (nor -1)
        asked = np.concatenate([ids[::7], [int(ids.max()) + 1000, -1]])
        places = lib.store.frame_places(asked)
        want = np.concatenate([video_ids[::7], [-1, -1]])
        assert places.video_ids_of(asked).tolist() == want.tolist()
        grid = places.video_ids_of(asked[1:].reshape(2, -1))  # any shape, as index.search
        assert grid.tolist() == want[1:].reshape(2, -1).tolist()
        hits = places.hits(asked, np.arange(len(asked), dtype=np.float32))
        assert [h.frame_id for h in hits] == ids[::7].tolist()
        assert [h.time for h in hits] == table.times[::7].tolist()
        assert [h.score for h in hits] == list(range(len(hits)))
        assert {h.path for h in hits} == {f"/footage/v{v}.mp4" for v in range(6)}
        assert lib.store.frame_places(np.zeros(0, np.int64)).hits(asked[:0], asked[:0]) == []
        queries = table.vectors[[5, 45, 200]]
        per_video = search_vectors(lib.store, queries, k=4)
        frames = search_vectors(lib.store, queries, k=4, frames=True)
        for q, want in enumerate([5, 45, 200]):
            assert per_video[q][0].frame_id == int(ids[want])  # a stored frame finds itself
            assert len({h.video_id for h in per_video[q]}) == len(per_video[q]) == 4
            assert [h.frame_id for h in frames[q]][0] == int(ids[want])
            scores = [h.score for h in per_video[q]]
            assert scores == sorted(scores, reverse=True)


def test_frame_places_stay_in_id_order_after_a_video_is_indexed_again(tmp_path):
    with Library.open(tmp_path / "lib", create=True, model="colorgrid") as lib:
        dim = lib.model_info.dim
        lib.import_frames(videos(3, 10, dim))
        first = lib.store.frame_table()
        lib.import_frames(list(videos(1, 10, dim)))  # v0 again: new ids, above the others'
        table = lib.store.frame_table()
        places = lib.store.frame_places(table.ids)
        assert len(places) == 30 and bool(np.all(np.diff(places.ids) > 0))
        assert places.video_ids_of(table.ids).tolist() == table.video_ids.tolist()
        assert places.video_ids_of(first.ids[:10]).tolist() == [-1] * 10  # the old frames
        assert search_vectors(lib.store, table.vectors[:1], k=1)[0][0].frame_id == table.ids[0]


# Another process: stores one video whose frames are the vectors saved beside the library,
# or removes it again.
_OTHER_PROCESS = """
import sys
import numpy as np
from vsearch.pipeline.library import Library
from vsearch.types import VideoFacts, VideoStatus
root, action = sys.argv[1], sys.argv[2]
with Library.open(root) as lib:
    if action == "add":
        vecs = np.load(root + "/new.npy")
        facts = VideoFacts(status=VideoStatus.INDEXED, duration=float(len(vecs)), size=1)
        lib.import_frames([("/footage/new.mp4", np.arange(len(vecs)) + 0.5, vecs, facts)])
    else:
        lib.remove("/footage/new.mp4")
"""


def test_search_follows_frames_another_process_commits_and_removes(tmp_path):
    root = tmp_path / "lib"
    with Library.open(root, create=True, model="colorgrid") as lib:
        lib.import_frames(videos(4, 30, lib.model_info.dim))

    def other_process(action: str) -> None:
        cmd = [sys.executable, "-c", _OTHER_PROCESS, str(root), action]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    with Library.open(root) as reader:
        q = reader.store.frame_table().vectors[[3, 40]]
        before = search_vectors(reader.store, q, k=10)  # the frame places are held from here
        assert [len(hits) for hits in before] == [4, 4]
        np.save(root / "new.npy", q)
        other_process("add")
        reader.refresh()  # what `vsearch serve` does before a query: the index takes them
        after = search_vectors(reader.store, q, k=10)
        for row, hits in enumerate(after):
            assert len(hits) == 5
            assert (hits[0].path, hits[0].time) == ("/footage/new.mp4", row + 0.5)
            assert hits[1:] == before[row]  # the others unchanged, to the last field
        other_process("remove")  # before any refresh: the index still holds its vectors...
        assert search_vectors(reader.store, q, k=10) == before  # ...but it is not found
        reader.remove("/footage/v1.mp4")  # and this process's own commits
        found = {h.path for hits in search_vectors(reader.store, q, k=10) for h in hits}
        assert found == {f"/footage/v{v}.mp4" for v in (0, 2, 3)}


def test_frame_places_are_read_by_load_and_again_only_after_a_commit(
    tmp_path, db_backend, monkeypatch
):
    from vsearch.db import queries

    reads = []
    real, real_added = queries.frame_places, queries.frame_places_added

    def counted(**kwargs):
        reads.append("all" if kwargs.get("ids") is None else "asked")
        return real(**kwargs)

    def counted_added(old, **kwargs):
        found = real_added(old, **kwargs)
        reads.append("added" if found is not None else "deleted")
        return found

    monkeypatch.setattr(queries, "frame_places", counted)
    monkeypatch.setattr(queries, "frame_places_added", counted_added)
    with Library.open(tmp_path / "lib", create=True, model="colorgrid") as lib:
        made = list(videos(4, 20, lib.model_info.dim))
        lib.import_frames(made[:3])
        q = lib.store.frame_table().vectors[[0, 30]]
        lib.load()  # what `vsearch serve` does before its first query
        for _ in range(3):
            search_vectors(lib.store, q, k=2)
        sqlite = db_backend == "sqlite"
        # SQLite: read once, by load, and kept while nothing is committed; a database
        # server: each search reads its candidates
        assert reads == (["all"] if sqlite else ["asked"] * 3)
        reads.clear()
        lib.import_frames(made[3:])  # only added: the new frames are read
        added = search_vectors(lib.store, made[3][2][:1], k=1)[0]
        assert [h.path for h in added] == ["/footage/v3.mp4"]
        assert reads == (["added"] if sqlite else ["asked"])
        if sqlite:  # what was added to the held places is what a full read gives
            held = lib.store.frame_places(np.zeros(0, np.int64))
            with lib.store.sessions() as session:
                fresh = real(session=session)
            for name in ("ids", "video_ids", "times"):
                assert getattr(held, name).tolist() == getattr(fresh, name).tolist()
            assert held.videos == fresh.videos and len(held) == 80
        reads.clear()
        lib.remove("/footage/v0.mp4")  # some deleted: all are read again
        hits = search_vectors(lib.store, q, k=2)
        assert all(h.path != "/footage/v0.mp4" for row in hits for h in row)
        assert reads == (["deleted", "all"] if sqlite else ["asked"])
