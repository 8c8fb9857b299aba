"""A video's row is written from a typed VideoFacts: every column each time, no name left to
chance; ``Library.import_frames`` still takes a dict of fields and names a key that is none."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.db import queries
from vsearch.db.engine import create_db_engine, make_session_factory
from vsearch.db.migrate import upgrade_database
from vsearch.pipeline.library import Library
from vsearch.types import VideoFacts, VideoStatus


@pytest.fixture
def sessions(tmp_path):
    engine = create_db_engine(tmp_path / "library.db")
    upgrade_database(engine)
    yield make_session_factory(engine)
    engine.dispose()


def test_save_video_writes_every_fact_and_replaces_an_older_version(sessions):
    first = VideoFacts(
        status=VideoStatus.INDEXED,
        size=10,
        mtime=2.5,
        content_hash="a" * 40,
        duration=12.0,
        fps=25.0,
        width=640,
        height=360,
        rotation=90,
        codec="h264",
        n_frames=24,
        tags=(("tabby cat", 0.61), ("remote control", 0.2)),
    )
    with sessions() as session, session.begin():
        video_id = queries.save_video("/v.mp4", first, session=session, indexed_at="T")
    with sessions() as session:
        got = queries.get_video("/v.mp4", session=session)
    assert got is not None and got.id == video_id
    assert (got.status, got.size, got.mtime, got.content_hash) == ("indexed", 10, 2.5, "a" * 40)
    assert (got.duration, got.fps, got.width, got.height, got.codec) == (
        12.0,
        25.0,
        640,
        360,
        "h264",
    )
    assert got.n_frames == 24 and got.indexed_at == "T" and got.error is None
    assert got.tags == [("tabby cat", 0.61), ("remote control", 0.2)]

    # A new version of the file keeps its row id and keeps nothing of the old facts.
    second = VideoFacts(status=VideoStatus.PARTIAL, size=11, error="decoding stopped at 3.0 s")
    with sessions() as session, session.begin():
        assert queries.save_video("/v.mp4", second, session=session) == video_id
    with sessions() as session:
        got = queries.get_video("/v.mp4", session=session)
    assert got is not None and (got.status, got.size, got.error) == ("partial", 11, second.error)
    assert got.duration is None and got.codec is None and got.tags is None and got.n_frames == 0


def test_facts_from_a_mapping_name_unknown_keys():
    facts = VideoFacts.from_mapping(
        {"status": "indexed", "duration": 3.0, "tags": '[["dog", 0.5]]', "size": 7}
    )
    assert facts == VideoFacts(
        status=VideoStatus.INDEXED, duration=3.0, tags=(("dog", 0.5),), size=7
    )
    with pytest.raises(TypeError, match="'durration'"):
        VideoFacts.from_mapping({"status": "indexed", "durration": 3.0})
    with pytest.raises(ValueError):
        VideoFacts.from_mapping({"status": "indexd"})


def test_import_frames_takes_facts_or_a_dict_and_refuses_a_misspelt_field(tmp_path):
    with Library.open(tmp_path / "lib", create=True, model="colorgrid") as lib:
        dim = lib.model_info.dim
        times = np.arange(5, dtype=np.float64)
        vectors = np.eye(5, dim, dtype=np.float32)
        stored = lib.import_frames(
            [
                ("/a.mp4", times, vectors, VideoFacts(status=VideoStatus.INDEXED, duration=5.0)),
                ("/b.mp4", times, vectors, {"status": "indexed", "duration": 5.0}),
            ]
        )
        assert stored == 10
        assert [(v.path, v.status, v.duration) for v in lib.videos()] == [
            ("/a.mp4", "indexed", 5.0),
            ("/b.mp4", "indexed", 5.0),
        ]
        with pytest.raises(TypeError, match="'durration'"):
            lib.import_frames([("/c.mp4", times, vectors, {"durration": 5.0})])
        assert [v.path for v in lib.videos()] == ["/a.mp4", "/b.mp4"]
