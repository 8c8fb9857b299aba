"""Use cases read a library video's clip windows from its stored clips, cut once at indexing,
and get the windows that cutting its stored frames again would give."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import concat_videos
from sqlalchemy import delete, update

from vsearch.config import Settings
from vsearch.db.schema import ClipRow
from vsearch.match.windows import DEFAULT_WINDOW, video_windows
from vsearch.pipeline.library import Library
from vsearch.pipeline.training import library_clips
from vsearch.pipeline.video_windows import stored_windows, windows_of


@pytest.fixture(scope="module")
def shots_library(clips, tmp_path_factory):
    """Videos with shot cuts, sampled at 3 frames/s so that windows overlap and cuts end them."""
    root = tmp_path_factory.mktemp("shots")
    parts = [clips["testsrc"], clips["testsrc"], clips["mandel"], clips["life"]]
    cut = concat_videos(root / "cut.mp4", parts)
    settings = Settings.load(library=root / "lib", model="colorgrid", fps=3.0, decoders=2)
    lib = Library.open(settings=settings, create=True)
    report = lib.index([str(cut), str(clips["smpte"]), str(clips["testsrc"])])
    assert len(report.indexed) == 3 and not report.failed
    yield lib
    lib.close()


def recut(store, video_id):
    """The windows as use cases cut them from the stored frames before reading stored clips."""
    frames = store.frames_of(video_id)
    return video_windows(frames.times, frames.vectors, 1.0 / store.fps)


def test_stored_windows_are_the_windows_cut_from_the_frames(shots_library):
    store = shots_library.store
    overlaps = cut_short = 0
    for video in store.searchable_videos():
        stored = store.clip_windows_of(video.id)
        assert stored.windows == recut(store, video.id)
        assert len(stored.windows) == len(store.clips_of(video.id)) >= 1
        np.testing.assert_array_equal(stored.frames.vectors, store.frames_of(video.id).vectors)
        wins = stored.windows
        overlaps += sum(b.first < a.last for a, b in zip(wins, wins[1:], strict=False))
        cut_short += sum(w.end - w.start < DEFAULT_WINDOW - 0.1 for w in wins[:-1])
    assert overlaps and cut_short  # windows overlap, and a shot cut ended one early


def test_use_cases_read_the_stored_windows_and_get_the_same_data(shots_library, monkeypatch):
    store = shots_library.store
    videos = store.searchable_videos()
    before = {
        v.id: windows_of(v.id, v.path, store.frames_of(v.id).times, store.frames_of(v.id).vectors,
                         1.0 / store.fps)
        for v in videos
    }  # fmt: skip
    old_clips = []  # library_clips as it was: windows cut from each video's frames
    for v in videos:
        frames = store.frames_of(v.id)
        for w in recut(store, v.id):
            seq = frames.vectors[w.first : w.last][frames.informative[w.first : w.last]]
            if len(seq) >= 2:
                old_clips.append((v.content_hash, seq))

    def no_cutting(*args, **kwargs):
        raise AssertionError("windows were cut again from the frames")

    monkeypatch.setattr("vsearch.match.windows.clip_windows", no_cutting)
    for v in videos:
        got, want = stored_windows(store, v.id, v.path), before[v.id]
        assert got.windows == want.windows
        assert all(np.array_equal(a, b) for a, b in zip(got.sequences, want.sequences, strict=True))
        np.testing.assert_array_equal(got.pooled, want.pooled)
    new_clips = library_clips(store)
    assert [k for k, _ in new_clips] == [k for k, _ in old_clips]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(new_clips, old_clips, strict=True))


def test_a_video_without_stored_clips_is_cut_as_its_clips_will_be(shots_library):
    """A library upgraded from before clips existed has frames and no clips until it is indexed
    again (``backfill_clips``)."""
    store = shots_library.store
    video = max(store.searchable_videos(), key=lambda v: v.n_frames or 0)
    want = recut(store, video.id)
    with store.sessions() as session, session.begin():
        session.execute(delete(ClipRow).where(ClipRow.video_id == video.id))
    assert len(store.clips_of(video.id)) == 0
    assert store.clip_windows_of(video.id).windows == want
    assert store.backfill_clips() == 1
    assert store.clip_windows_of(video.id).windows == want


def test_clips_that_do_not_fit_the_frames_are_cut_again(shots_library, caplog):
    store = shots_library.store
    video = max(store.searchable_videos(), key=lambda v: v.n_frames or 0)
    want = recut(store, video.id)
    last = store.frames_of(video.id).times[-1]
    with store.sessions() as session, session.begin():
        session.execute(
            update(ClipRow)
            .where(ClipRow.video_id == video.id, ClipRow.start == 0.0)
            .values(start=last + 10.0, end=last + 14.0)
        )
    assert store.clip_windows_of(video.id).windows == want
    assert f"video {video.id}: its clips do not fit its frames" in caplog.text
    store.use_pooler(store.pooler, None)  # re-pooling the clips stores them afresh
    assert store.clip_windows_of(video.id).windows == want
