"""A damaged library.db: every command says so in one line, `doctor` diagnoses it and
`doctor --repair` rebuilds what can be read, never touching the original until the copy
is verified."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import assert_consistent, lavfi
from helpers import run_cli as run


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    sources = ["testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "cellauto", "life"]
    folder = root / "in"
    for i, src in enumerate(sources):
        lavfi(folder / f"v{i}.mp4", f"{src}=s=96x64:r=10,trim=duration=6")
    lib = root / "lib"
    r = run(lib, "index", str(folder), "--model", "colorgrid", "--fps", "4")
    assert r.exit_code == 0, r.output
    r = run(lib, "label", str(folder / "v0.mp4"), "kept")
    assert r.exit_code == 0
    return root, folder, lib


def copy_library(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and not f.name.endswith(("-wal", "-shm")):
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def frames_leaf_page(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        pages = [
            p
            for (p,) in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'frames' AND pagetype = 'leaf'"
            )
        ]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    assert len(pages) > 3
    return pages[len(pages) // 2], size


def one_line(result, code: int) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code and len(lines) == 1, result.output
    return lines[0]


def test_corrupted_page_is_diagnosed_and_repaired(built, tmp_path):
    _root, folder, lib = built
    broken = copy_library(lib, tmp_path / "lib")
    db = broken / "library.db"
    page, size = frames_leaf_page(db)
    data = bytearray(db.read_bytes())
    data[(page - 1) * size + 8 : page * size] = b"\xab" * (size - 8)
    db.write_bytes(bytes(data))
    original = db.read_bytes()

    line = one_line(run(broken, "search", "--video", str(folder / "v1.mp4")), 1)
    assert "damaged" in line or "malformed" in line
    r = run(broken, "doctor", "--json")
    assert r.exit_code == 1
    diagnosis = json.loads(r.stdout)["database"]
    assert not diagnosis["ok"] and diagnosis["rows"]["videos"] == 6
    assert db.read_bytes() == original  # a diagnosis changes nothing

    r = run(broken, "doctor", "--repair", "--json")
    assert r.exit_code == 0, r.output
    repaired = json.loads(r.stdout)["repaired"]
    assert Path(repaired["backup"]).read_bytes() == original
    assert repaired["rows"]["videos"] == 6 and repaired["rows"]["labels"] == 1
    assert 1 <= len(repaired["videos_to_reindex"]) < 6, repaired
    assert repaired["rows"]["frames"] >= 6 * 24 - 8  # one page of frames lost, not more
    r = run(broken, "index", str(folder), "--json")  # the lost frames are decoded again
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(r.stdout)["indexed"]) == sorted(repaired["videos_to_reindex"])
    counts = assert_consistent(broken)
    assert counts
    r = run(broken, "labels", "--json")
    assert r.exit_code == 0 and "kept" in r.stdout


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_unrepairable_database_is_left_untouched(built, tmp_path, damage):
    _root, folder, lib = built
    broken = copy_library(lib, tmp_path / "lib")
    db = broken / "library.db"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3] if damage == "truncated" else bytes(range(256)) * 64)
    original = db.read_bytes()
    for args in (["videos"], ["stats"], ["search", "--video", str(folder / "v0.mp4")]):
        assert "doctor" in one_line(run(broken, *args), 1)
    assert "damaged" in one_line(run(broken, "doctor"), 1)
    r = run(broken, "doctor", "--repair")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert db.read_bytes() == original
    assert sorted(p.name for p in broken.iterdir() if p.name.startswith(".")) == []
