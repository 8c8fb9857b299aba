"""Schema changes only through Alembic; migrations ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from vsearch.db.engine import create_db_engine, create_server_engine
from vsearch.db.migrate import current_revision, head_revision, upgrade_database
from vsearch.db.schema import Base
from vsearch.errors import SchemaTooNewError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def engine(db_backend, tmp_path):
    """A blank database of each backend (SQLite file, PostgreSQL database)."""
    import os

    if db_backend == "sqlite":
        engine = create_db_engine(tmp_path / "x.db")
    else:
        engine = create_server_engine(os.environ["VSEARCH_DB_URL"])
    yield engine
    engine.dispose()


def test_blank_db_upgrades_to_head_with_no_autogenerate_diff(engine):
    assert upgrade_database(engine) is True
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    assert upgrade_database(engine) is False  # already at head: nothing to do


def test_newer_schema_is_refused_untouched(engine):
    upgrade_database(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num='9999_future'")
    with pytest.raises(SchemaTooNewError, match="newer vsearch"):
        upgrade_database(engine)
    assert current_revision(engine) == "9999_future"


def test_every_revision_upgrades_and_downgrades(engine):
    """Each revision applies and reverts on both backends (dialect-neutral migrations)."""
    from alembic import command

    from vsearch.db.migrate import _config

    upgrade_database(engine)
    cfg = _config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        conn.commit()
    assert current_revision(engine) is None
    assert upgrade_database(engine) is True and current_revision(engine) == head_revision()


def test_ids_and_sizes_are_64_bit(engine):
    """Files over 2 GiB and ids past 2^31 fit (PostgreSQL's INTEGER is 32-bit)."""
    from sqlalchemy import insert, select

    from vsearch.db.schema import FrameRow, VideoRow

    upgrade_database(engine)
    big = 3 * 2**31
    with engine.begin() as conn:
        conn.execute(
            insert(VideoRow).values(
                id=big, path="/v.mp4", size=big, mtime=0.0, status="indexed", n_frames=1
            )
        )
        conn.execute(
            insert(FrameRow).values(
                id=big + 1, video_id=big, t=0.0, informative=True, vector=b"\0" * 8
            )
        )
        assert conn.scalar(select(VideoRow.size)) == big
        assert conn.scalar(select(FrameRow.video_id)) == big


@pytest.mark.slow
def test_migrations_run_from_the_installed_wheel(tmp_path):
    pytest.importorskip("hatchling")
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next(out.glob("vsearch_video-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "vsearch/_migrations/env.py" in names
    assert any(n.startswith("vsearch/_migrations/versions/0001") for n in names)
    assert "vsearch/serve/static/index.html" in names  # the web page of `vsearch serve`
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import sys, vsearch.db.migrate as m; from pathlib import Path;"
        "from vsearch.db.engine import create_db_engine;"
        "assert '_migrations' in str(m.migrations_dir()), m.migrations_dir();"
        f"e = create_db_engine(Path({str(tmp_path / 'w.db')!r})); m.upgrade_database(e);"
        "print(m.current_revision(e))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == head_revision()


def test_head_is_recognised_without_alembic(tmp_path):
    """Opening a library at head skips importing Alembic; anything else goes through it."""
    from vsearch.db.engine import create_db_engine
    from vsearch.db.migrate import at_head, upgrade_database

    engine = create_db_engine(tmp_path / "x.db")
    assert not at_head(engine)  # blank: no stamp
    upgrade_database(engine)
    assert at_head(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    assert not at_head(engine)  # behind head: Alembic decides
