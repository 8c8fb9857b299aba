"""A long-lived reader picks up what another writer commits (Library.refresh)."""

from __future__ import annotations

import os
import shutil

from vsearch.pipeline.library import Library


def test_reader_sees_videos_indexed_and_removed_by_another_writer(settings, clips, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shutil.copy(clips["testsrc"], first / "testsrc.mp4")
    shutil.copy(clips["mandel"], second / "mandel.mp4")
    with Library.open(settings=settings, create=True) as writer:
        writer.index([first])
    with Library.open(settings=settings) as reader:
        reader.load()
        before = reader.sizes()
        assert reader.refresh() is None and not reader.committed_elsewhere()
        with Library.open(settings=settings) as writer:
            writer.index([second])
        assert reader.committed_elsewhere()
        changes = reader.refresh()
        assert changes["frames_added"] > 0 and changes["clips_added"] > 0
        after = reader.sizes()
        assert after["frames"] > before["frames"] and after["clips"] > before["clips"]
        assert reader.refresh() is None
        with Library.open(settings=settings) as writer:
            writer.remove(second / "mandel.mp4")
        changes = reader.refresh()
        assert changes["frames_removed"] > 0 and changes["frames_added"] == 0
        assert reader.sizes() == before


def test_file_names_that_are_not_utf8_are_indexed_and_found(settings, clips, tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    name = os.fsdecode(b"\xff\xfe-clip.mp4")
    shutil.copy(clips["mandel"], folder / name)
    with Library.open(settings=settings, create=True) as lib:
        report = lib.index([folder])
        assert report.indexed == [str(folder / name)] and not report.failed
        (video,) = lib.videos()
        assert os.fsencode(video.path).endswith(b"\xff\xfe-clip.mp4")
        assert lib.video(path=video.path).id == video.id
        assert lib.thumbnail(video.id, 1.0)[:2] == b"\xff\xd8"
    with Library.open(settings=settings) as lib:  # read back from the database
        assert lib.videos()[0].path == video.path
        assert lib.index([folder]).skipped == [video.path]  # unchanged, found by its name
