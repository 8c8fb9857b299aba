"""One writer at a time; readers never wait for the writer and see the last committed state."""

from __future__ import annotations

import json
import threading
import time

import pytest
from helpers import assert_consistent, lavfi, make_videos
from reliability_helpers import indexed_count, start_index
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.config import Settings
from vsearch.errors import LibraryLockedError
from vsearch.pipeline.library import Library

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("db_backend")  # SQLite and PostgreSQL metadata


@pytest.mark.slow
def test_second_writer_stops_with_exit_4_or_waits(tmp_path, monkeypatch):
    lib_dir = tmp_path / "lib"
    lavfi(tmp_path / "v" / "a.mp4", "testsrc2=s=64x48:r=10:d=2")
    settings = Settings.load(library=lib_dir, model="colorgrid")
    holder = Library.open(settings=settings, create=True)
    args = ["--library", str(lib_dir), "index", str(tmp_path / "v")]
    with holder.store.writing():
        other = Library.open(settings=settings)
        with pytest.raises(LibraryLockedError, match="being written by another vsearch process"):
            other.store._acquire_lock(0.0)
        other.close()
        result = runner.invoke(app, args)
        assert result.exit_code == 4, result.output
        line = result.stderr.strip()
        assert "being written by another vsearch process (pid" in line
        assert "VSEARCH_LOCK_TIMEOUT" in line and "\n" not in line

        monkeypatch.setenv("VSEARCH_LOCK_TIMEOUT", "0.5")
        started = time.monotonic()
        assert runner.invoke(app, args).exit_code == 4
        assert time.monotonic() - started >= 0.5

        monkeypatch.setenv("VSEARCH_LOCK_TIMEOUT", "30")
        threading.Timer(0.8, holder.store._release_lock).start()
        waited = runner.invoke(app, [*args, "--json"])
    holder.close()
    assert waited.exit_code == 0, waited.output
    assert len(json.loads(waited.stdout)["indexed"]) == 1
    assert_consistent(lib_dir)


@pytest.mark.slow
def test_readers_work_while_a_writer_runs(tmp_path, monkeypatch):
    videos = make_videos(tmp_path / "videos", 7)
    lib = tmp_path / "lib"
    image = lavfi(tmp_path / "q.png", "testsrc2=s=64x48", "-frames:v", "1")
    writer = start_index(lib, videos, slow_save=1.0)
    deadline = time.monotonic() + 60
    while indexed_count(lib) < 1 and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # A reader with a long lock timeout must still not wait: it never needs the writer lock,
    # also when it finds the index file behind the database and repairs it in memory.
    monkeypatch.setenv("VSEARCH_LOCK_TIMEOUT", "60")
    base = ["--library", str(lib)]
    seen = []
    for command in (["videos", "--json"], ["stats", "--json"], ["search", str(image), "--json"]):
        started = time.monotonic()
        result = runner.invoke(app, [*base, *command])
        assert result.exit_code == 0, (command, result.output)
        assert time.monotonic() - started < 10, f"{command} waited for the writer"
        seen.append(json.loads(result.stdout))
    assert writer.poll() is None, "the writer finished before the readers ran"
    assert 1 <= len(seen[0]) < 7 and all(v["frames"] > 0 for v in seen[0])
    assert seen[1]["frames"] == sum(v["frames"] for v in seen[0]) or seen[1]["videos"] >= 1
    assert seen[2] and seen[2][0]["score"] > 0
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert assert_consistent(lib)["videos"] == 7


@pytest.mark.slow
def test_two_index_runs_at_once_never_corrupt(tmp_path):
    videos = make_videos(tmp_path / "videos", 4)
    lib = tmp_path / "lib"
    first = start_index(lib, videos)
    time.sleep(1.5)
    second = start_index(lib, videos)
    results = [p.communicate(timeout=120) + (p.returncode,) for p in (first, second)]
    codes = sorted(r[2] for r in results)
    assert codes in ([0, 0], [0, 4]), results
    for _out, err, code in results:
        if code == 4:
            assert "being written by another vsearch process" in err
    assert assert_consistent(lib)["videos"] == 4 and indexed_count(lib) == 4
