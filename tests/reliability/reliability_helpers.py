"""The process harness of the reliability tests: `vsearch index` started in its own process
group (optionally with slow index saves), killed, and the indexed count read from outside.
Footage and the consistency check are in tests/helpers.py."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), VSEARCH_DECODERS="2", **extra)
    env.pop("VSEARCH_LIBRARY", None)
    return env


def start_index(
    lib: Path, videos: Path, *, slow_save: float | None = None, **env: str
) -> subprocess.Popen:
    """`vsearch index` in its own process; ``slow_save``: seconds each index save takes (and
    a save after every video), injected by slow_save_cli.py."""
    if slow_save is None:
        cmd = [sys.executable, "-m", "vsearch"]
    else:
        cmd = [sys.executable, str(Path(__file__).with_name("slow_save_cli.py")), str(slow_save)]
    cmd += ["-q", "--library", str(lib), "index", str(videos), "--model", "colorgrid"]
    cmd += ["--fps", "4"]
    return subprocess.Popen(
        cmd,
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: the kill takes its ffmpeg children too
    )


def indexed_count(lib: Path) -> int:
    if os.environ.get("VSEARCH_DB_URL"):  # the db_backend fixture's PostgreSQL database
        from sqlalchemy import create_engine, text

        engine = create_engine(os.environ["VSEARCH_DB_URL"])
        try:
            with engine.connect() as conn:
                return conn.scalar(text("SELECT count(*) FROM videos WHERE status='indexed'"))
        except Exception:  # not created yet
            return 0
        finally:
            engine.dispose()
    db = lib / "library.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM videos WHERE status='indexed'").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
