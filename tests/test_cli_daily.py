"""The command line as a new user meets it: files recognised by content, thresholds that say
what they hide, the same listing in every format, global options anywhere."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import pytest
from helpers import frame_image, make_video, run_ffmpeg
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.cli._app import hoist_global_options
from vsearch.types import timecode

runner = CliRunner()


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("daily")
    folder = root / "in"
    a = make_video(folder / "a.mp4", "testsrc2", 4)
    shutil.copy(a, folder / "a_copy.mp4")
    make_video(folder / "b.mp4", "mandelbrot", 4)
    image = frame_image(a, root / "frame.png", at=1)
    library = root / "lib"
    r = runner.invoke(app, ["index", str(folder), "-l", str(library), "--model", "colorgrid"])
    assert r.exit_code == 0, r.output
    return {"lib": library, "a": a, "image": image, "root": root, "folder": folder}


def run(lib, *args):
    return runner.invoke(app, [*args, "--library", str(lib["lib"])])  # global option last


def test_search_file_tells_image_from_video_by_content(lib):
    disguised = lib["root"] / "looks_like_video.mp4"
    shutil.copy(lib["image"], disguised)  # an image with a video name
    r = run(lib, "search", str(disguised), "--json")
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.stdout)[0]) >= {"path", "time", "score"}  # an image query
    r = run(lib, "search", str(lib["a"]), "--json")
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.stdout)[0]) >= {"start", "end", "query_start"}  # a clip query
    r = run(lib, "search", str(lib["root"] / "nope.jpg"))
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1


def test_exclude_self_and_hidden_answers_are_counted(lib):
    r = run(lib, "search", str(lib["a"]), "--json")
    paths = [m["path"] for m in json.loads(r.stdout)]
    assert str(lib["a"]) in paths
    r = run(lib, "search", str(lib["a"]), "--exclude-self", "--json")
    paths = [m["path"] for m in json.loads(r.stdout)]
    assert str(lib["a"]) not in paths and str(lib["folder"] / "a_copy.mp4") in paths
    b = lib["folder"] / "b.mp4"  # no other copy of it in the library
    r = run(lib, "search", str(b), "--exclude-self", "--min-score", "0.5", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []  # empty is [] and exit 0
    everything = json.loads(run(lib, "search", str(lib["a"]), "--min-score", "-1", "--json").stdout)
    for flag in ("--min-score", "--threshold"):  # the old name still works
        r = run(lib, "search", str(lib["a"]), flag, "0.9999999", "--json")
        assert r.exit_code == 0, r.output
        shown = json.loads(r.stdout)
        match = re.search(
            r"(\d+) more below 1, the best ([0-9.]+) \((.+) [0-9:.]+-[0-9:.]+\); "
            r"--min-score ([0-9.]+) to see it",
            " ".join(r.stderr.split()),
        )
        hidden = int(match.group(1)) if match else 0
        assert len(shown) + hidden == len(everything) >= 2
        if match:  # the best hidden answer is named, with a --min-score that shows it
            best = max((m for m in everything if m["score"] < 0.9999999), key=lambda m: m["score"])
            assert float(match.group(2)) == pytest.approx(best["score"], abs=5e-4)
            assert match.group(3) == best["path"]
            assert best["score"] - 0.05 <= float(match.group(4)) <= best["score"]
    r = run(lib, "search", str(lib["a"]), "--min-score", "1.5")
    assert r.exit_code == 2 and "--min-score must be in" in r.stderr


@pytest.mark.parametrize("command", [["videos"], ["labels"], ["dups"], ["search", "{a}"]])
def test_every_listing_in_every_format(lib, command, tmp_path):
    args = [str(lib["a"]) if a == "{a}" else a for a in command]
    as_json = json.loads(run(lib, *args, "--json").stdout)
    rows = as_json["labels"] if isinstance(as_json, dict) else as_json
    r = run(lib, *args, "--format", "jsonl")
    assert r.exit_code == 0
    assert len([ln for ln in r.stdout.splitlines() if ln]) == len(rows)
    r = run(lib, *args, "--format", "csv")
    assert r.exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(r.stdout)))) == len(rows)
    r = run(lib, *args, "--format", "paths")
    assert r.exit_code == 0
    assert all(line.startswith("/") for line in r.stdout.splitlines())
    out = tmp_path / "listing.json"
    r = run(lib, *args, "--format", "json", "-o", str(out))
    assert r.exit_code == 0 and json.loads(out.read_text()) == as_json
    r = run(lib, *args, "--format", "json", "-o", "-")
    assert json.loads(r.stdout) == as_json


def test_one_timecode_style_in_tables_seconds_in_json(lib):
    assert timecode(3725.5) == "01:02:05.500" and timecode(0.0004) == "00:00:00.000"
    r = run(lib, "search", str(lib["a"]))
    assert "00:00:00.000-00:00:0" in r.stdout
    r = run(lib, "videos")
    assert "00:00:04.000" in r.stdout


def test_stats_human_and_complete_in_json(lib):
    r = run(lib, "stats", "--json")
    data = json.loads(r.stdout)
    for key in ("videos", "frames", "clips", "clip_model", "heads", "labels", "disk_bytes"):
        assert key in data
    r = run(lib, "stats")
    assert r.exit_code == 0
    assert "clip model: mean" in r.stdout and "KiB" in r.stdout


def test_global_options_after_the_subcommand():
    commands = ["videos", "classify", "train"]
    assert hoist_global_options(["videos", "-l", "X", "--json"], commands) == [
        "-l", "X", "videos", "--json"
    ]  # fmt: skip
    assert hoist_global_options(["train", "temporal", "-q", "-vv"], commands) == [
        "-q", "-vv", "train", "temporal"
    ]  # fmt: skip
    assert hoist_global_options(["classify", "--library", "--json"], commands) == [
        "classify", "--all", "--json"
    ]  # fmt: skip
    assert hoist_global_options(["label", "--", "-l"], commands + ["label"])[-1] == "-l"


def test_dups_groups_copies_and_names_the_one_to_keep(lib, tmp_path):
    small = lib["folder"] / "a_small.mp4"
    run_ffmpeg("-i", lib["a"], "-vf", "scale=64:48", "-pix_fmt", "yuv420p", small)
    assert run(lib, "index", str(small)).exit_code == 0
    try:
        r = run(lib, "dups", "--group", "--json")
        assert r.exit_code == 0, r.output
        groups = json.loads(r.stdout)
        (group,) = [g for g in groups if str(small) in [v["path"] for v in g["videos"]]]
        assert group["keep"] != str(small)  # fewer pixels: not the one to keep
        assert str(small) in group["copies"] and len(group["videos"]) == 3
        assert all({"width", "height", "bitrate", "duration"} <= set(v) for v in group["videos"])
        r = run(lib, "dups", "--group", "--format", "paths")
        assert str(small) in r.stdout.splitlines() and group["keep"] not in r.stdout
        every = json.loads(run(lib, "dups", "--json").stdout)
        r = run(lib, "dups", "--limit", "1", "--json")
        assert json.loads(r.stdout) == every[:1]
        assert run(lib, "dups", "--limit", "0").exit_code == 2
    finally:
        run(lib, "remove", str(small))
        small.unlink()
