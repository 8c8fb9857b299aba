"""Disk full and read-only libraries: a clear error, and nothing already committed is lost."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess

import pytest
from helpers import assert_consistent, lavfi
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.errors import StorageError

runner = CliRunner()


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsearch: error: "), result.stderr
    return lines[0]


@pytest.fixture()
def two_batches(tmp_path):
    first = tmp_path / "v1"
    second = tmp_path / "v2"
    lavfi(first / "a.mp4", "testsrc2=s=64x48:r=10:d=2")
    lavfi(second / "b.mp4", "mandelbrot=s=64x48:r=10,trim=duration=2")
    lavfi(second / "c.mp4", "testsrc2=s=64x48:r=10:d=3,hue=h=90")
    return first, second


def test_disk_full_on_index_save_keeps_committed_videos(library, two_batches, monkeypatch):
    from vsearch.index.faiss_index import FaissIndex

    first, second = two_batches
    library.index([first])

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FaissIndex, "save", full)
    with pytest.raises(StorageError, match="disk full"):
        library.index([second])
    monkeypatch.undo()
    counts = assert_consistent(library.root)  # the database kept every committed video
    assert counts["videos"] == 3 and counts["db"] > counts["file"]


def test_disk_full_in_the_database_is_one_line(tmp_path, two_batches, monkeypatch):
    from vsearch.db import queries

    first, second = two_batches
    lib = ["--library", str(tmp_path / "lib")]
    assert runner.invoke(app, [*lib, "index", str(first), "--model", "colorgrid"]).exit_code == 0

    def full(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(queries, "replace_frames", full)
    result = runner.invoke(app, [*lib, "index", str(second)])
    assert result.exit_code == 1 and "disk full" in one_error_line(result)
    monkeypatch.undo()
    assert assert_consistent(tmp_path / "lib")["videos"] == 1
    again = runner.invoke(app, [*lib, "index", str(second), "--json"])
    assert again.exit_code == 0 and len(json.loads(again.stdout)["indexed"]) == 2


@pytest.fixture()
def small_mount(tmp_path):
    """A 3 MiB tmpfs (root only); skipped where mounting is not permitted."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_real_disk_full_and_read_only_library(small_mount, two_batches, tmp_path):
    first, second = two_batches
    lib = small_mount / "lib"
    base = ["--library", str(lib)]
    assert runner.invoke(app, [*base, "index", str(first), "--model", "colorgrid"]).exit_code == 0
    before = assert_consistent(lib)
    filler = small_mount / "filler"
    with open(filler, "wb") as fh:  # fill the disk to the last block
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    for _ in range(3):  # more than one chance for the full disk to be hit
        result = runner.invoke(app, [*base, "index", str(second)])
        if result.exit_code != 0:
            break
    assert result.exit_code == 1, result.output
    assert "disk full" in one_error_line(result) and "Traceback" not in result.output
    filler.unlink()
    after = assert_consistent(lib)
    assert after["videos"] >= before["videos"]
    again = runner.invoke(app, [*base, "index", str(second)])
    assert again.exit_code == 0, again.output

    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    try:
        denied = runner.invoke(app, [*base, "index", str(first)])
        assert denied.exit_code == 1 and "read-only" in one_error_line(denied)
        listed = runner.invoke(app, [*base, "videos", "--json"])
        assert listed.exit_code == 0, listed.output
        assert len(json.loads(listed.stdout)) == 3
        image = lavfi(tmp_path / "q.png", "testsrc2=s=64x48", "-frames:v", "1")
        found = runner.invoke(app, [*base, "search", str(image), "--json"])
        assert found.exit_code == 0, found.output
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_mount)], check=False)
    assert shutil.disk_usage(small_mount).free > 0
