"""The command line contract, through Typer's CliRunner."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import frame_image
from helpers import run_cli as run
from typer.testing import CliRunner

from vsearch.cli import app

runner = CliRunner()


def all_commands():
    import typer.main

    group = typer.main.get_command(app)
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += [[name, sub] for sub in cmd.commands]
        else:
            out.append([name])
    return out


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output) > 200


def test_init_index_search_json(tmp_path, clips):
    lib = tmp_path / "lib"
    videos = tmp_path / "v"
    shutil.copytree(clips["testsrc"].parent, videos)
    r = run(lib, "init", "--model", "colorgrid", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["model"]["family"] == "colorgrid"
    r = run(lib, "index", str(videos), "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert len(summary["indexed"]) == 3 and summary["failed"] == []
    q = frame_image(videos / "mandel.mp4", tmp_path / "q.png", at=3)
    r = run(lib, "search", str(q), "-k", "2", "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert hits[0]["path"] == str(videos / "mandel.mp4")
    assert abs(hits[0]["time"] - 3.0) <= 1.0
    assert set(hits[0]) >= {"path", "time", "score"} and hits[0]["score"] >= hits[1]["score"]
    for cmd in (["videos"], ["stats"], ["doctor"]):
        r = run(lib, *cmd, "--json")
        assert r.exit_code == 0, (cmd, r.output)
        json.loads(r.stdout)
    r = run(lib, "remove", str(videos / "mandel.mp4"), "--json")
    assert json.loads(r.stdout)["removed"] == [str(videos / "mandel.mp4")]
    assert len(json.loads(run(lib, "videos", "--json").stdout)) == 2


def test_bad_input_is_one_line_and_nonzero(tmp_path, clips):
    lib = tmp_path / "lib"
    videos = tmp_path / "v"
    videos.mkdir()
    shutil.copy(clips["testsrc"], videos / "good.mp4")
    (videos / "bad.mp4").write_bytes(b"\x00garbage" * 100)
    r = run(lib, "index", str(videos), "--model", "colorgrid")
    assert r.exit_code == 3, r.output
    assert "bad.mp4" in r.stderr
    r = run(lib, "videos", "--errors", "--json")
    rows = json.loads(r.stdout)
    assert [row["status"] for row in rows] == ["failed"] and rows[0]["error"]
    r = run(lib, "search", str(tmp_path / "missing.png"))
    assert r.exit_code != 0
    assert r.stderr.count("\n") == 1 and "missing.png" in r.stderr
    r = run(lib, "search", str(videos / "good.mp4"), "-k", "0")
    assert r.exit_code == 2
    r = run(tmp_path / "nolib", "stats")
    assert r.exit_code == 1 and "vsearch init" in r.stderr


def test_debug_shows_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("VSEARCH_DEBUG", "1")
    r = run(tmp_path / "nolib", "stats")
    assert r.exit_code == 1 and "Traceback" in r.stderr
