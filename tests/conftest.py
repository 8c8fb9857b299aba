"""Shared fixtures: tiny generated videos and libraries built with the colorgrid encoder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vsearch.config import Settings

# A developer's own config file must not change what the tests see.
os.environ["VSEARCH_CONFIG"] = os.path.join(os.path.dirname(__file__), "no-such-config.toml")

FFMPEG = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def ffmpeg(*args: str) -> None:
    subprocess.run([*FFMPEG, *args], check=True)


def make_video(
    path: Path,
    source: str,
    seconds: float,
    size: str = "128x96",
    rate: int = 10,
    vf: str | None = None,
    codec: str = "libx264",
) -> Path:
    """A clip from an ffmpeg lavfi source: a name (testsrc2, mandelbrot...) or a full graph."""
    path.parent.mkdir(parents=True, exist_ok=True)
    src = source if "=" in source else f"{source}=size={size}:rate={rate}"
    args = ["-f", "lavfi", "-i", src, "-t", str(seconds)]
    if vf:
        args += ["-vf", vf]
    args += ["-pix_fmt", "yuv420p", "-c:v", codec, str(path)]
    ffmpeg(*args)
    return path


def concat_videos(out: Path, parts: list[Path], size: str = "128x96", rate: int = 10) -> Path:
    w, h = size.split("x")
    inputs: list[str] = []
    for p in parts:
        inputs += ["-i", str(p)]
    chains = "".join(f"[{i}:v]scale={w}:{h},setsar=1,fps={rate}[v{i}];" for i in range(len(parts)))
    joined = "".join(f"[v{i}]" for i in range(len(parts)))
    ffmpeg(
        *inputs,
        "-filter_complex",
        f"{chains}{joined}concat=n={len(parts)}:v=1:a=0[o]",
        "-map",
        "[o]",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        str(out),
    )
    return out


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """A few visually distinct short videos."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    root = tmp_path_factory.mktemp("clips")
    return {
        "testsrc": make_video(root / "lib" / "testsrc.mp4", "testsrc", 4),
        "mandel": make_video(root / "lib" / "mandel.mp4", "mandelbrot", 4),
        "life": make_video(
            root / "lib" / "sub dir" / "life.mp4",
            "life=s=128x96:mold=10:r=10:ratio=0.5:seed=7:death_color=#C83232:"
            "life_color=#00ff00,format=yuv420p",
            4,
            size="128x96",
        ),
        "smpte": make_video(root / "other" / "smpte.mkv", "smptebars", 3),
    }


@pytest.fixture()
def settings(tmp_path) -> Settings:
    return Settings.load(library=tmp_path / "lib", model="colorgrid", decoders=2)


@pytest.fixture()
def library(settings):
    from vsearch.pipeline.library import Library

    lib = Library.open(settings=settings, create=True)
    yield lib
    lib.close()


# --- database backends: every DB-facing test runs on SQLite and on a real PostgreSQL --------


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of this test session (tests/postgres_server.py)."""
    import importlib.util
    import os

    from postgres_server import PostgresServer, server_bin

    missing = [
        what
        for what, ok in (
            (
                "the psycopg driver (pip install -e '.[postgres]')",
                importlib.util.find_spec("psycopg"),
            ),
            ("the PostgreSQL server (apt-get install postgresql)", server_bin("initdb")),
        )
        if not ok
    ]
    if missing:
        message = "PostgreSQL tests need " + " and ".join(missing) + ": scripts/setup.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_backend(request, monkeypatch) -> str:
    """The metadata database of the libraries a test opens: "sqlite" (library.db in the
    library folder) or "postgresql" (a fresh database on the test server, via VSEARCH_DB_URL,
    which subprocesses inherit)."""
    monkeypatch.delenv("VSEARCH_DB_URL", raising=False)
    if request.param == "sqlite":
        yield "sqlite"
        return
    server = request.getfixturevalue("postgres")
    with server.database() as url:
        monkeypatch.setenv("VSEARCH_DB_URL", url)
        yield "postgresql"
