"""The files of a library belong to it, and files that are not its own are left alone.

Library paths with URL characters, foreign index files, temporary files vsearch did not make,
special files (FIFOs, devices), over-long paths and oversized images."""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import faststart, lavfi
from helpers import run_cli as run

from vsearch.config import Settings
from vsearch.errors import ImageError
from vsearch.pipeline.library import FRAME_INDEX, Library
from vsearch.store.locking import WriterLock


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("owned")
    return {
        "a": lavfi(root / "a.mp4", "testsrc2=s=96x64:r=10:d=3"),
        "b": lavfi(root / "b.mp4", "mandelbrot=s=96x64:r=10,trim=duration=3"),
    }


def open_lib(root: Path, create: bool = False) -> Library:
    return Library.open(settings=Settings.load(library=root, model="colorgrid"), create=create)


@pytest.mark.parametrize("name", ["we?ird", "hash#tag", "per%20cent", "both?mode=ro#x"])
def test_library_path_is_a_file_path_never_a_url(tmp_path, clips, name):
    lib = tmp_path / name / "lib"
    r = run(lib, "index", str(clips["a"]), "--model", "colorgrid")
    assert r.exit_code == 0, r.output
    assert (lib / "library.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no database elsewhere
    r = run(lib, "videos", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 1
    with open_lib(lib) as library:  # the read-only connection string is built the same way
        from vsearch.db.engine import create_db_engine

        engine = create_db_engine(library.store.db_path, readonly=True)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("select count(*) from videos").scalar() == 1
        engine.dispose()


def test_foreign_index_file_is_rebuilt_not_trusted(tmp_path, clips):
    one, two = tmp_path / "one", tmp_path / "two"
    with open_lib(one, create=True) as lib:
        lib.index([clips["a"]])
    with open_lib(two, create=True) as lib:
        lib.index([clips["b"]])
        own = lib.store.frame_index.ntotal
    for suffix in ("", ".id.json"):  # same dimension, same ids, other vectors
        shutil.copy(one / (FRAME_INDEX + suffix), two / (FRAME_INDEX + suffix))
    with open_lib(two) as lib:
        assert lib.store.frame_sync.rebuilt and "library" in lib.store.frame_sync.reason
        assert lib.store.frame_index.ntotal == own
        hits = lib.search_video(clips["b"], k=1)
        assert hits and hits[0].path == str(clips["b"])
    with open_lib(two) as lib:  # the rebuilt index was saved with its own record
        assert lib.store.frame_sync.agreed


def test_doctor_quiet_after_remove_and_during_another_writer(tmp_path, clips):
    root = tmp_path / "lib"
    with open_lib(root, create=True) as lib:
        lib.index([clips["a"], clips["b"]])
    r = run(root, "remove", str(clips["a"]))
    assert r.exit_code == 0, r.output
    r = run(root, "doctor", "--json")
    report = json.loads(r.stdout)
    assert report["checks"]["index"]["ok"] and report["checks"]["clips"]["ok"], report
    # Another process is indexing: its committed rows are ahead of its last index save.
    with open_lib(root) as lib:
        lib.index([clips["a"]])
        ids = lib.store.frame_index.ids()
        lagging = lib.store.frame_index
        lagging.remove(ids[-2:])
        lagging.save(root / FRAME_INDEX)
    other = WriterLock(root)
    other.acquire(0)
    try:
        r = run(root, "doctor", "--json")
        checks = json.loads(r.stdout)["checks"]
        assert checks["index"]["ok"], checks["index"]
        assert "writer" in checks["index"]["detail"]
    finally:
        other.release()


def test_files_vsearch_did_not_make_are_never_deleted(tmp_path, clips):
    root = tmp_path / "lib"
    with open_lib(root, create=True) as lib:
        lib.index([clips["a"]])
    theirs = [".notes.tmp", ".frames.faiss.backup.tmp", ".x.tmp"]
    for name in theirs:
        (root / name).write_text("keep me")
    ours = root / ".frames.faiss.vsearch-tmp.k3j4h5.tmp"  # left by a killed save
    ours.write_bytes(b"half an index")
    r = run(root, "index", str(clips["b"]))
    assert r.exit_code == 0, r.output
    assert all((root / name).read_text() == "keep me" for name in theirs)
    assert not ours.exists()


def test_special_files_are_refused_at_once(tmp_path, clips):
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.mp4")
    shutil.copy(clips["a"], folder / "a.mp4")
    lib = tmp_path / "lib"
    started = time.monotonic()
    r = run(
        lib,
        "index",
        str(folder),
        "/dev/zero",
        str(folder / "pipe.mp4"),
        "--json",
        "-m",
        "colorgrid",
    )
    assert time.monotonic() - started < 60
    assert r.exit_code == 3, r.output
    failed = {f["path"]: f["error"] for f in json.loads(r.stdout)["failed"]}
    assert "FIFO" in failed[str(folder / "pipe.mp4")]
    assert "device" in failed["/dev/zero"]
    for query in (["search", str(folder / "pipe.mp4")], ["search", "--video", "/dev/zero"]):
        r = run(lib, *query)
        assert r.exit_code == 2 and "not a regular file" in r.stderr, r.output


def test_over_long_path_is_recorded_as_failed(tmp_path, clips):
    deep = tmp_path / "in"
    parts = ["d" * 200] * 22  # each name is fine; the whole path is over PATH_MAX (4096)
    fd = os.open(deep.parent, os.O_RDONLY)
    try:
        os.mkdir("in", dir_fd=fd)
        cur = os.open("in", os.O_RDONLY, dir_fd=fd)
        for part in parts:
            os.mkdir(part, dir_fd=cur)
            nxt = os.open(part, os.O_RDONLY, dir_fd=cur)
            os.close(cur)
            cur = nxt
        with open(clips["a"], "rb") as src:
            data = src.read()
        out = os.open("clip.mp4", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=cur)
        os.write(out, data)
        os.close(out)
        os.close(cur)
    finally:
        os.close(fd)
    lib = tmp_path / "lib"
    r = run(lib, "index", str(deep), "--json", "--model", "colorgrid")
    assert "Traceback" not in r.output
    assert r.exit_code == 3, r.output
    (failure,) = json.loads(r.stdout)["failed"]
    assert len(failure["path"]) > 4096 and "too long" in failure["error"]
    r = run(lib, "videos", "--errors", "--json")
    assert [v["status"] for v in json.loads(r.stdout)] == ["failed"]


def _png(width: int, height: int, rows: bytes | None = None) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    raw = rows if rows is not None else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def test_image_bombs_are_refused_with_bounded_memory(tmp_path):
    import resource

    from vsearch.media import load_image

    huge = tmp_path / "huge.png"  # 100k x 100k pixels declared: 30 GB if decoded
    huge.write_bytes(_png(100_000, 100_000, b"\x00" * 1_000_000))
    text_bomb = tmp_path / "text.png"  # a zTXt chunk that inflates to 200 MB
    good = _png(2, 2, b"\x00" + b"\x00" * 6 + b"\x00" + b"\x00" * 6)
    ztxt = b"Comment\x00\x00" + zlib.compress(b"A" * 200_000_000, 9)
    body = b"zTXt" + ztxt
    bomb_chunk = len(ztxt).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    text_bomb.write_bytes(good[:33] + bomb_chunk + good[33:])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path in (huge, text_bomb):
        with pytest.raises(ImageError):
            load_image(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 400
    assert run(tmp_path / "lib", "init", "--model", "colorgrid").exit_code == 0
    r = run(tmp_path / "lib", "search", str(huge))
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_vectors_match_after_repooling_was_interrupted(tmp_path, clips):
    """The clip index records what made its vectors: one left from before a re-pool (the
    process died after the commit, before the save) is rebuilt, not searched."""
    root = tmp_path / "lib"
    with open_lib(root, create=True) as lib:
        lib.index([clips["a"], clips["b"]])
        _ = lib.store.clip_index
    stale = (root / "clips.faiss").read_bytes(), (root / "clips.faiss.id.json").read_bytes()
    from vsearch.db import queries
    from vsearch.db.engine import transaction

    with open_lib(root) as lib, transaction(lib.store.sessions) as session:
        queries.set_meta(
            "pooler",
            json.dumps({"name": "mean", "checkpoint": None, "sha256": "x"}),
            session=session,
        )
        ids = queries.clip_ids(session=session)
        queries.update_clip_vectors(
            ids, np.eye(len(ids), lib.model_info.dim, dtype=np.float32), session=session
        )
    (root / "clips.faiss").write_bytes(stale[0])
    (root / "clips.faiss.id.json").write_bytes(stale[1])
    with open_lib(root) as lib:
        assert lib.store.clip_sync.rebuilt and "vectors" in lib.store.clip_sync.reason


def test_retry_failed_also_retries_partial_files(tmp_path):
    src = lavfi(tmp_path / "src.mp4", "testsrc2=s=96x64:r=10:d=6")
    whole = faststart(src, tmp_path / "fast.mp4")
    folder = tmp_path / "in"
    folder.mkdir()
    data = whole.read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    lib = tmp_path / "lib"
    r = run(lib, "index", str(folder), "--json", "--model", "colorgrid")
    assert [p["path"] for p in json.loads(r.stdout)["partial"]] == [str(folder / "cut.mp4")]
    r = run(lib, "index", str(folder), "--json")
    assert json.loads(r.stdout)["skipped"] == [str(folder / "cut.mp4")]
    r = run(lib, "index", str(folder), "--retry-failed", "--json")
    report = json.loads(r.stdout)
    assert report["skipped"] == [] and len(report["partial"]) == 1, report
