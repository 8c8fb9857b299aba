"""The look-ups behind every frame search, on SQLite and on PostgreSQL."""

from __future__ import annotations

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
        # the lean look-up: every existing id, none that does not exist
        asked = np.concatenate([ids[::7], [int(ids.max()) + 1000]])
        assert lib.store.frame_videos(asked) == {
            int(i): int(v) for i, v in zip(ids, video_ids, strict=True) if i in set(ids[::7])
        }
        assert lib.store.frame_videos([]) == {}
        queries = table.vectors[[5, 45, 200]]
        per_video = search_vectors(lib.store, queries, k=4)
        frames = search_vectors(lib.store, queries, k=4, frames=True)
        for q, want in enumerate([5, 45, 200]):
            assert per_video[q][0].frame_id == int(ids[want])  # a stored frame finds itself
            assert len({h.video_id for h in per_video[q]}) == len(per_video[q]) == 4
            assert [h.frame_id for h in frames[q]][0] == int(ids[want])
            scores = [h.score for h in per_video[q]]
            assert scores == sorted(scores, reverse=True)
