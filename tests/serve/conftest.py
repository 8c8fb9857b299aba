"""A small indexed library (colorgrid) shared by the server tests, and query files."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import excerpt, frame_image, run_ffmpeg
from serve_helpers import NON_UTF8_NAME

from vsearch.config import Settings


@pytest.fixture(scope="session")
def served_library(tmp_path_factory, clips):
    """(settings, videos folder, query files) of an indexed library at 2 frames/s."""
    root = tmp_path_factory.mktemp("served")
    videos = root / "videos"
    videos.mkdir()
    for name in ("testsrc", "mandel", "life"):
        shutil.copy(clips[name], videos / clips[name].name)
    shutil.copy(clips["smpte"], videos / NON_UTF8_NAME)
    # A mirrored copy of mandel.mp4: the duplicate the dups view must show.
    run_ffmpeg("-i", clips["mandel"], "-vf", "hflip", videos / "mandel-flipped.mp4")
    queries = root / "queries"
    queries.mkdir()
    frame_image(clips["mandel"], queries / "mandel3.png", at=3)
    excerpt(clips["life"], queries / "life-1-3.mp4", 1, 2)
    (queries / "garbage.png").write_bytes(os.urandom(2000))
    settings = Settings.load(library=root / "lib", model="colorgrid", decoders=2)
    from vsearch.pipeline.library import Library

    with Library.open(settings=settings, create=True, fps=2) as lib:
        report = lib.index([videos])
        assert not report.failed, report.failed
    return settings, videos, queries
