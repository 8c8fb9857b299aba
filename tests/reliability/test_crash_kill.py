"""Kill `vsearch index` at random moments (SIGKILL, including inside index saves) and stop it
with Ctrl+C (SIGINT); after each stop the library must open, its FAISS index and database must
agree id for id, and a new run must finish the job."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from helpers import assert_consistent, make_videos
from reliability_helpers import indexed_count, kill_group, start_index

KILLS = 22
pytestmark = pytest.mark.usefixtures("db_backend")  # SQLite and PostgreSQL metadata
SAVE_DELAY = 0.25


def temp_files(lib: Path) -> list[Path]:
    return list(lib.glob(".*.tmp")) if lib.exists() else []


@pytest.mark.slow
def test_sigkill_at_random_moments_never_damages_the_library(tmp_path, db_backend, monkeypatch):
    # A kill before the run created the library leaves none: the check below then creates
    # it, and must do so at the runs' sampling rate.
    monkeypatch.setenv("VSEARCH_FPS", "4")
    rng = random.Random(6)
    kills = KILLS if db_backend == "sqlite" else KILLS // 2  # the same code paths, less time
    videos = make_videos(tmp_path / "videos", 7)
    lib = tmp_path / "lib"
    landed = 0
    attempts = 0
    while landed < kills and attempts < 3 * kills:
        attempts += 1
        # Give every run work to do: changed files are decoded again and replace old frames.
        for path in rng.sample(sorted(videos.iterdir()), 4):
            os.utime(path, (time.time(), time.time() + attempts))
        proc = start_index(lib, videos, slow_save=SAVE_DELAY)
        if attempts % 3 == 0:  # wait for a save to be under way, then kill inside it
            deadline = time.monotonic() + 40  # a busy machine starts slowly
            while not temp_files(lib) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        else:
            time.sleep(rng.uniform(0.3, 3.5))
        alive = proc.poll() is None
        kill_group(proc, signal.SIGKILL)
        proc.communicate(timeout=30)
        landed += alive
        # Whatever the moment of the kill (every third one waits for a save under way): the
        # library opens, its index files agree with the database, no temporary file is left.
        assert_consistent(lib, create=True)
        assert not temp_files(lib), "a stale temporary save file was left behind"

    final = start_index(lib, videos)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    counts = assert_consistent(lib)
    assert counts["videos"] == 7 and indexed_count(lib) == 7
    assert counts["db"] == counts["file"] > 0


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_committed_videos(tmp_path):
    videos = make_videos(tmp_path / "videos", 6)
    lib = tmp_path / "lib"
    proc = start_index(lib, videos, slow_save=0.5)
    deadline = time.monotonic() + 60
    while indexed_count(lib) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    committed = indexed_count(lib)
    proc.send_signal(signal.SIGINT)  # the process only, as a terminal's Ctrl+C reaches Python
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert indexed_count(lib) >= committed
    counts = assert_consistent(lib)
    assert 0 < counts["videos"] < 6 or indexed_count(lib) == 6
    again = start_index(lib, videos)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert indexed_count(lib) == 6
    assert_consistent(lib)
