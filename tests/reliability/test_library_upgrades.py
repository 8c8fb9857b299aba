"""Libraries written by an older schema are migrated with their data; newer ones are refused."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from helpers import assert_consistent, lavfi
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.config import Settings
from vsearch.db.engine import create_db_engine
from vsearch.db.migrate import current_revision, head_revision, upgrade_database
from vsearch.errors import SchemaTooNewError
from vsearch.pipeline.library import DB_NAME, Library

runner = CliRunner()


def old_library(root) -> np.ndarray:
    """A library as revision 0001 wrote it: meta, one video, three frames with vectors (in
    library.db, or in the database of VSEARCH_DB_URL when the test runs on PostgreSQL)."""
    import os

    from sqlalchemy import text

    from vsearch.db.engine import create_server_engine
    from vsearch.models import create_encoder

    root.mkdir(parents=True)
    url = os.environ.get("VSEARCH_DB_URL")
    engine = create_server_engine(url) if url else create_db_engine(root / DB_NAME)
    upgrade_database(engine, "0001")
    info = create_encoder("colorgrid").info
    vectors = np.random.default_rng(0).normal(size=(3, info.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO library_meta (key, value) VALUES ('encoder', :e), ('fps', '1.0')"),
            {"e": json.dumps(info.to_dict())},
        )
        conn.execute(
            text(
                "INSERT INTO videos (id, path, size, mtime, status, n_frames) "
                "VALUES (1, '/videos/old.mp4', 10, 1.0, 'indexed', 3)"
            )
        )
        for i, vec in enumerate(vectors):
            conn.execute(
                text(
                    "INSERT INTO frames (video_id, t, informative, vector) VALUES (1, :t, :inf, :v)"
                ),
                {"t": float(i), "inf": True, "v": vec.tobytes()},
            )
    engine.dispose()
    return vectors


def test_old_schema_is_migrated_and_keeps_its_data(db_backend, tmp_path):
    root = tmp_path / "lib"
    vectors = old_library(root)
    with Library.open(settings=Settings.load(library=root)) as lib:
        assert current_revision(lib.store.engine) == head_revision()
        assert [(v.path, v.n_frames) for v in lib.videos()] == [("/videos/old.mp4", 3)]
        scores, ids = lib.store.frame_index.search(vectors[1:2], 1)  # rebuilt from stored vectors
        assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert assert_consistent(root)["db"] == 3
    result = runner.invoke(app, ["--library", str(root), "videos", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["frames"] == 3


def test_newer_schema_is_refused_untouched(tmp_path):
    root = tmp_path / "lib"
    old_library(root)
    engine = create_db_engine(root / DB_NAME)
    upgrade_database(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num='9999_future'")
    engine.dispose()
    digest = hashlib.sha256((root / DB_NAME).read_bytes()).hexdigest()
    with pytest.raises(SchemaTooNewError, match="newer vsearch"):
        Library.open(settings=Settings.load(library=root))
    query = tmp_path / "q.png"  # a real query: the library's refusal is what is tested
    from PIL import Image

    Image.new("RGB", (32, 32), "red").save(query)
    for command in (["stats"], ["index", str(tmp_path)], ["search", str(query)]):
        result = runner.invoke(app, ["--library", str(root), *command])
        assert result.exit_code == 1, result.output
        line = result.stderr.strip()
        assert "\n" not in line and "written by a newer vsearch" in line
    assert hashlib.sha256((root / DB_NAME).read_bytes()).hexdigest() == digest


def test_same_command_twice_on_an_existing_library(tmp_path):
    lavfi(tmp_path / "v" / "a.mp4", "testsrc2=s=64x48:r=10:d=2")
    args = ["--library", str(tmp_path / "lib"), "index", str(tmp_path / "v"), "--model"]
    assert runner.invoke(app, [*args, "colorgrid"]).exit_code == 0
    assert runner.invoke(app, [*args, "colorgrid"]).exit_code == 0  # stored as colorgrid:v1
    refused = runner.invoke(app, [*args, "torchvision:resnet18"])
    assert refused.exit_code == 1 and "refusing" in refused.stderr


def test_old_library_gets_clips_from_stored_frames_on_next_index(tmp_path):
    root = tmp_path / "lib"
    old_library(root)
    empty = tmp_path / "nothing-new"
    empty.mkdir()
    with Library.open(settings=Settings.load(library=root)) as lib:
        assert lib.store.clip_index.ntotal == 0
        report = lib.index([empty])  # no video to decode: clips come from stored frames
        assert report.indexed == []
        assert lib.store.clip_index.ntotal >= 1
        assert lib.store.clip_sync.in_db == 0  # opened before the backfill
    assert_consistent(root)


def test_a_library_being_created_is_never_migrated_by_a_reader(tmp_path):
    """A command that opens a library while another process is creating it waits for the
    creator's schema instead of running the migrations a second time beside it."""
    import threading

    from vsearch.store.locking import WriterLock

    root = tmp_path / "lib"
    root.mkdir()
    creator = WriterLock(root)
    creator.acquire(0.0)
    (root / DB_NAME).touch()  # what a creator has written before its first migration
    opened: list[object] = []

    def reader() -> None:
        try:
            Library.open(root).close()
            opened.append("opened")
        except Exception as exc:  # noqa: BLE001 - the outcome is the assertion
            opened.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive() and not opened  # waiting for the creator, not migrating
    engine = create_db_engine(root / DB_NAME)
    assert upgrade_database(engine)  # the creator's migration, alone
    engine.dispose()
    creator.release()
    thread.join(30)
    assert len(opened) == 1 and "no encoder recorded" in str(opened[0])
