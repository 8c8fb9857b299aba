"""Shared fixtures: tiny generated videos and libraries built with the colorgrid encoder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import make_video, skip_without_ffmpeg

from vsearch.config import Settings

# A developer's own config file must not change what the tests see.
os.environ["VSEARCH_CONFIG"] = os.path.join(os.path.dirname(__file__), "no-such-config.toml")


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """A few visually distinct short videos."""
    skip_without_ffmpeg()
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


# --- registries and plugins --------------------------------------------------------------------


@pytest.fixture()
def registries(monkeypatch):
    """What a test registers, and the plugins it makes vsearch load, are undone after it."""
    from vsearch.index.base import INDEXES
    from vsearch.models.heads import HEADS
    from vsearch.models.registry import ENCODERS
    from vsearch.models.temporal import POOLERS

    for registry in (ENCODERS, POOLERS, HEADS, INDEXES):
        registry.names()  # built-ins (and installed plugins) in before the copy
        for attr in ("_entries", "_origins", "_failed"):
            monkeypatch.setattr(registry, attr, dict(getattr(registry, attr)))
        monkeypatch.setattr(registry, "_plugins_loaded", registry._plugins_loaded)
    return {"encoders": ENCODERS, "poolers": POOLERS, "heads": HEADS, "indexes": INDEXES}


def write_distribution(
    root: Path, name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]
) -> Path:
    """An installed distribution as `pip install` leaves it: ``NAME-1.0.dist-info`` (METADATA,
    entry_points.txt) beside its modules, under ``root`` (put ``root`` on sys.path)."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
            for group, points in entry_points.items()
        )
    )
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    return root


@pytest.fixture()
def install_plugin(tmp_path, monkeypatch):
    """``install_plugin(name, {group: {entry: "module[:attr]"}}, {module: source})``: a
    distribution importable for this test only (its modules are forgotten after it)."""
    import sys

    installed: list[str] = []
    roots: list[Path] = []

    def install(
        name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]
    ) -> Path:
        root = write_distribution(tmp_path / f"site{len(roots)}", name, entry_points, modules)
        monkeypatch.syspath_prepend(str(root))
        installed.extend(modules)
        roots.append(root)
        return root

    yield install
    for module in installed:
        sys.modules.pop(module, None)
