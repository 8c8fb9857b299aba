"""Two indexers on two hosts sharing one PostgreSQL database: each host has its own library
folder (its index caches); the writers claim files through the database, never a lock file,
so they index disjoint files, and a killed writer's claims go with its connection."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from helpers import assert_consistent, make_videos
from reliability_helpers import cli_env, indexed_count, kill_group

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture()
def shared_db(postgres, monkeypatch):
    with postgres.database() as url:
        monkeypatch.setenv("VSEARCH_DB_URL", url)
        yield url


def start(lib, videos, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vsearch", "-q", "--library", str(lib), "index", str(videos)]
    cmd += ["--model", "colorgrid", "--fps", "4", "--decoders", "1", *extra]
    return subprocess.Popen(
        cmd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_two_hosts_index_disjoint_files_of_one_database(tmp_path, shared_db):
    videos = make_videos(tmp_path / "videos", 8)
    first = start(tmp_path / "host-a", videos, "--json")
    time.sleep(0.5)
    second = start(tmp_path / "host-b", videos, "--json")
    results = [p.communicate(timeout=180) for p in (first, second)]
    for proc, (_out, err) in zip((first, second), results, strict=True):
        assert proc.returncode == 0, err
    a, b = (json.loads(out) for out, _ in results)
    names = {p.rsplit("/", 1)[-1] for p in a["indexed"] + b["indexed"]}
    assert a["indexed"] and b["indexed"], "the writers did not share the work"
    assert not set(a["indexed"]) & set(b["indexed"]), "a file was indexed by both writers"
    assert len(names) == 8 and indexed_count(tmp_path) == 8
    assert set(a["elsewhere"]) | set(a["indexed"]) | set(a["skipped"]) == {
        str(p) for p in videos.iterdir()
    }
    # Each host's index cache agrees with the shared database (repaired from it on open).
    for host in ("host-a", "host-b"):
        counts = assert_consistent(tmp_path / host)
        assert counts["videos"] == 8 and counts["db"] > 0


def test_a_killed_writer_leaves_no_claims_behind(tmp_path, shared_db):
    videos = make_videos(tmp_path / "videos", 6)
    proc = start(tmp_path / "host-a", videos)
    deadline = time.monotonic() + 60
    while indexed_count(tmp_path) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_group(proc, signal.SIGKILL)  # its claims die with its database connection
    proc.communicate(timeout=30)
    done = indexed_count(tmp_path)
    assert done < 6, "the first writer finished before it could be killed"
    other = start(tmp_path / "host-b", videos, "--json")
    out, err = other.communicate(timeout=180)
    assert other.returncode == 0, err
    report = json.loads(out)
    assert report["elsewhere"] == [], "a dead writer's claim blocked a file"
    assert indexed_count(tmp_path) == 6
    assert assert_consistent(tmp_path / "host-b")["videos"] == 6
