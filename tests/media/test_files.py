from __future__ import annotations

import os
from pathlib import Path

import pytest

from vsearch.errors import UnreadableFileError
from vsearch.media import (
    VIDEO_EXTENSIONS,
    content_hash,
    file_fingerprint,
    is_video_path,
    walk_videos,
)
from vsearch.media.files import HASH_CHUNK


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_extensions() -> None:
    for ext in ("mp4", "mkv", "mov", "avi", "webm", "m4v", "mpg", "ts", "m2ts", "y4m", "nut"):
        assert f".{ext}" in VIDEO_EXTENSIONS
    assert is_video_path("a/B.MP4")
    assert is_video_path(Path("x.mkv"))
    assert not is_video_path("notes.txt")
    assert not is_video_path("mp4")


def test_walk_sorted_filtered_recursive(tmp_path: Path) -> None:
    for name in ("b.mp4", "a.MKV", "c.txt", "sub/z.webm", "sub/deeper/y.avi", "sub/n.jpg"):
        touch(tmp_path / name)
    found = list(walk_videos([tmp_path]))
    assert all(err is None for _, err in found)
    rel = [os.path.relpath(p, tmp_path) for p, _ in found]
    assert rel == ["a.MKV", "b.mp4", os.path.join("sub", "deeper", "y.avi"), "sub/z.webm"]
    assert all(os.path.isabs(p) for p, _ in found)
    flat = [os.path.relpath(p, tmp_path) for p, _ in walk_videos([tmp_path], recursive=False)]
    assert flat == ["a.MKV", "b.mp4"]


def test_walk_explicit_file_any_extension_and_missing(tmp_path: Path) -> None:
    odd = touch(tmp_path / "clip.bin")
    missing = tmp_path / "nope.mp4"
    found = list(walk_videos([str(odd), missing, odd]))
    assert found[0] == (str(odd), None)
    assert found[1][0] == str(missing)
    assert isinstance(found[1][1], UnreadableFileError)
    assert "no such file" in str(found[1][1])
    assert len(found) == 2  # the repeated path is yielded once


def test_walk_relative_path_is_made_absolute(tmp_path: Path, monkeypatch) -> None:
    touch(tmp_path / "v" / "a.mp4")
    monkeypatch.chdir(tmp_path)
    assert list(walk_videos(["v"])) == [(str(tmp_path / "v" / "a.mp4"), None)]


def test_walk_symlink_loops(tmp_path: Path) -> None:
    touch(tmp_path / "d" / "a.mp4")
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")  # dir link to its own folder
    os.symlink(tmp_path, tmp_path / "d" / "up")  # link to an ancestor
    os.symlink(tmp_path / "x.mp4", tmp_path / "y.mp4")
    os.symlink(tmp_path / "y.mp4", tmp_path / "x.mp4")  # file link loop
    os.symlink(tmp_path / "gone.mp4", tmp_path / "broken.mp4")
    os.symlink(tmp_path / "d" / "a.mp4", tmp_path / "link.mp4")  # not resolved in output
    found = dict(walk_videos([tmp_path]))
    assert found[str(tmp_path / "d" / "a.mp4")] is None
    assert found[str(tmp_path / "link.mp4")] is None
    assert "symlink loop" in str(found[str(tmp_path / "x.mp4")])
    assert "broken symlink" in str(found[str(tmp_path / "broken.mp4")])
    explicit = list(walk_videos([tmp_path / "x.mp4"]))
    assert isinstance(explicit[0][1], UnreadableFileError)


@pytest.mark.parametrize(
    ("exc", "cause"),
    [(PermissionError(13, "Permission denied"), "permission denied"),
     (FileNotFoundError(2, "No such file"), "no such file")],
)  # fmt: skip
def test_walk_unlistable_dir_continues(tmp_path: Path, monkeypatch, exc, cause) -> None:
    touch(tmp_path / "a" / "1.mp4")
    touch(tmp_path / "b" / "2.mp4")
    real_scandir = os.scandir

    def flaky(path):
        if str(path).endswith(os.sep + "a"):
            raise exc  # no permission, or vanished between listing its parent and opening it
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", flaky)
    found = list(walk_videos([tmp_path]))
    assert found[0][0] == str(tmp_path / "a")
    assert isinstance(found[0][1], UnreadableFileError)
    assert cause in str(found[0][1])
    assert found[1] == (str(tmp_path / "b" / "2.mp4"), None)


def test_fingerprint(tmp_path: Path) -> None:
    path = touch(tmp_path / "f.mp4", b"12345")
    size, mtime = file_fingerprint(path)
    assert size == 5
    assert mtime == pytest.approx(path.stat().st_mtime)
    with pytest.raises(UnreadableFileError):
        file_fingerprint(tmp_path / "missing.mp4")


def test_content_hash_small_and_large(tmp_path: Path) -> None:
    a = touch(tmp_path / "a.mp4", b"hello")
    b = touch(tmp_path / "b.mp4", b"hello")
    c = touch(tmp_path / "c.mp4", b"hellO")
    assert content_hash(a) == content_hash(b) != content_hash(c)
    assert content_hash(a).startswith("q1:") and len(content_hash(a)) == 3 + 64
    big = bytearray(3 * HASH_CHUNK + 1000)
    path = touch(tmp_path / "big.mp4", bytes(big))
    base = content_hash(path)
    big[3 * HASH_CHUNK + 500] = 1  # inside the last window: seen
    assert content_hash(touch(path, bytes(big))) != base
    big[3 * HASH_CHUNK + 500] = 0
    big[HASH_CHUNK + 10] = 1  # between head and middle windows: unseen by design
    assert content_hash(touch(path, bytes(big))) == base
    with pytest.raises(UnreadableFileError, match="no such file"):
        content_hash(tmp_path / "missing.mp4")
    with pytest.raises(UnreadableFileError, match="is a directory"):
        content_hash(tmp_path)
