"""Indexing end to end with the colorgrid encoder: incremental, rename, prune, repair, query."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from helpers import frame_image

from vsearch.db import queries
from vsearch.errors import EmptyLibraryError, LibraryNotFoundError, ModelMismatchError, UsageError
from vsearch.pipeline.library import FRAME_INDEX, Library

pytestmark = pytest.mark.usefixtures("db_backend")  # SQLite and PostgreSQL metadata


@pytest.fixture()
def videos(tmp_path, clips):
    root = tmp_path / "videos"
    shutil.copytree(clips["testsrc"].parent, root)
    return root


def test_index_then_query_by_frame_finds_video_and_second(library, videos, tmp_path):
    report = library.index([videos])
    assert sorted(os.path.basename(p) for p in report.indexed) == [
        "life.mp4",
        "mandel.mp4",
        "testsrc.mp4",
    ]
    assert report.failed == [] and report.frames >= 12
    image = frame_image(videos / "testsrc.mp4", tmp_path / "q.png", at=2.0)
    hits = library.search_image(image, k=3)
    assert hits[0].path == str(videos / "testsrc.mp4")
    assert hits[0].time == pytest.approx(2.0, abs=1.0)
    assert hits[0].score > 0.9
    assert len({h.path for h in hits}) == len(hits)  # one hit per video


def test_frames_option_returns_raw_frame_hits(library, videos, tmp_path):
    library.index([videos])
    image = frame_image(videos / "mandel.mp4", tmp_path / "q.png", at=1.0)
    hits = library.search_image(image, k=4, frames=True)
    assert len(hits) == 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_incremental_rename_duplicate_change_and_prune(library, videos):
    first = library.index([videos])
    assert len(first.indexed) == 3
    again = library.index([videos])
    assert again.indexed == [] and len(again.skipped) == 3

    os.rename(videos / "mandel.mp4", videos / "mandel_renamed.mp4")
    shutil.copy(videos / "testsrc.mp4", videos / "testsrc_copy.mp4")
    third = library.index([videos], prune=True)
    assert sorted(os.path.basename(p) for p in third.reused) == [
        "mandel_renamed.mp4",
        "testsrc_copy.mp4",
    ]
    assert third.indexed == []
    paths = {os.path.basename(v.path) for v in library.videos()}
    assert "mandel.mp4" not in paths and "mandel_renamed.mp4" in paths

    # A changed file is decoded again, and its old vectors leave the index.
    with library.store.sessions() as s:
        before = queries.count_frames(session=s)
    shutil.copy(videos / "sub dir" / "life.mp4", videos / "testsrc_copy.mp4")
    os.utime(videos / "testsrc_copy.mp4", (1, 1))
    fourth = library.index([videos])
    assert [os.path.basename(p) for p in fourth.reused + fourth.indexed] == ["testsrc_copy.mp4"]
    with library.store.sessions() as s:
        assert queries.count_frames(session=s) == before
    assert library.store.frame_index.ntotal == before

    os.remove(videos / "testsrc_copy.mp4")
    fifth = library.index([videos], prune=True)
    assert [os.path.basename(p) for p in fifth.pruned] == ["testsrc_copy.mp4"]
    assert library.store.frame_index.ntotal == sum(v.n_frames for v in library.videos())


def reopen(lib) -> Library:
    settings = lib.settings
    lib.close()
    return Library.open(settings=settings)


def test_index_repaired_from_stored_vectors(library, videos):
    library.index([videos])
    n = library.store.frame_index.ntotal
    ids = np.sort(library.store.frame_index.ids())
    index_file = library.root / FRAME_INDEX

    index_file.unlink()  # missing file: rebuilt
    lib = reopen(library)
    assert lib.store.frame_sync.rebuilt and lib.store.frame_index.ntotal == n

    index_file.write_bytes(b"garbage")  # corrupt file: rebuilt
    lib = reopen(lib)
    assert lib.store.frame_sync.rebuilt and np.array_equal(
        np.sort(lib.store.frame_index.ids()), ids
    )

    # A lagging file (a crash before the last save): the missing ids are added back.
    lib.store.frame_index.remove(ids[:5])
    lib.store.frame_index.add(np.array([10**9]), np.ones((1, lib.model_info.dim), np.float32))
    lib.store.frame_index.save(index_file)
    lib = reopen(lib)
    assert (lib.store.frame_sync.added, lib.store.frame_sync.removed) == (5, 1)
    assert np.array_equal(np.sort(lib.store.frame_index.ids()), ids)
    lib = reopen(lib)  # the repair was saved
    assert lib.store.frame_sync.agreed
    lib.close()


def test_other_model_or_fps_refused(library, settings):
    library.close()
    with pytest.raises(ModelMismatchError, match="colorgrid"):
        Library.open(settings=settings, model="torchvision:resnet18")
    with pytest.raises(ModelMismatchError, match="frames/s"):
        Library.open(settings=settings, fps=2.0)


def test_missing_library_and_empty_queries(settings, tmp_path):
    with pytest.raises(LibraryNotFoundError):
        Library.open(settings=settings)
    lib = Library.open(settings=settings, create=True)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (32, 32), "red").save(image)
    with pytest.raises(EmptyLibraryError):
        lib.search_image(image)
    with pytest.raises(UsageError):
        lib.search_image(image, k=0)
    lib.close()


def test_periodic_saves_back_off_when_saving_is_slow(library, videos, monkeypatch):
    import time

    library.index([videos])
    index_file = library.root / FRAME_INDEX
    before = index_file.stat().st_mtime_ns
    library.store._dirty = True
    library.store._last_save = time.monotonic() - 60  # a minute since the last save
    library.store._save_s = 10.0  # ...which took 10 s: wait 20 x 10 s before the next one
    library.store.save_indexes(force=False)
    assert index_file.stat().st_mtime_ns == before and library.store._dirty
    library.store._save_s = 0.5  # a cheap save: the 30 s floor applies, and a minute has passed
    library.store.save_indexes(force=False)
    assert not library.store._dirty and index_file.stat().st_mtime_ns != before
