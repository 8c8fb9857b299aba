"""The label / labels / classify / train classifier commands through Typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli as run


@pytest.fixture()
def lib_dir(tmp_path, clips):
    lib = tmp_path / "lib"
    assert run(lib, "init", "--model", "colorgrid").exit_code == 0
    paths = [str(clips[n]) for n in ("testsrc", "mandel", "life", "smpte")]
    r = run(lib, "index", *paths)
    assert r.exit_code == 0, r.output
    return lib


def test_label_errors_are_one_line_and_name_the_csv_line(lib_dir, clips, tmp_path):
    r = run(lib_dir, "label", str(tmp_path / "nope.mp4"), "cat")
    assert r.exit_code == 2 and "is not in library" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run(lib_dir, "label", str(clips["testsrc"]), "cat", "--start", "3", "--end", "1")
    assert r.exit_code == 2 and "bad segment" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,label\n{clips['testsrc']},cat\n{clips['mandel']},dog,abc\n")
    r = run(lib_dir, "label", "--import", str(bad))
    assert r.exit_code == 2 and "bad.csv line 3" in r.stderr
    missing = tmp_path / "missing.csv"
    missing.write_text(f"{clips['testsrc']},cat\n{tmp_path / 'gone.mp4'},dog\n")
    r = run(lib_dir, "label", "--import", str(missing))
    assert r.exit_code == 2 and "missing.csv line 2" in r.stderr and "not in library" in r.stderr
    # A failed import adds nothing.
    r = run(lib_dir, "labels", "--json")
    assert json.loads(r.stdout) == {"counts": {}, "labels": []}
    r = run(lib_dir, "label", str(clips["testsrc"]))
    assert r.exit_code == 2 and "PATH LABEL" in r.stderr


@pytest.mark.slow
def test_label_import_list_train_and_classify_json(lib_dir, clips, tmp_path):
    r = run(lib_dir, "label", str(clips["testsrc"]), "pattern", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["label"] == "pattern"
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "path,label,start,end\n"
        f"{clips['smpte']},pattern\n"
        f"{clips['mandel']},organic,,\n"
        f'"{clips["life"]}",organic,0,4\n'
    )
    r = run(lib_dir, "label", "--import", str(csv))
    assert r.exit_code == 0, r.output
    assert r.stdout.count("labelled") == 3
    r = run(lib_dir, "labels", "--json")
    data = json.loads(r.stdout)
    assert data["counts"] == {
        "organic": {"labels": 2, "videos": 2},
        "pattern": {"labels": 2, "videos": 2},
    }
    assert [x["start"] for x in data["labels"] if x["path"] == str(clips["life"])] == [0.0]
    r = run(lib_dir, "labels")
    assert r.exit_code == 0 and "organic" in r.stdout

    r = run(lib_dir, "train", "classifier", "--arch", "linear", "--epochs", "30")
    assert r.exit_code == 0, r.output
    assert "held-out accuracy" in r.stdout and "confusion" in r.stdout
    r = run(lib_dir, "train", "classifier", "--arch", "tcn", "--epochs", "5", "--json")
    report = json.loads(r.stdout)
    assert report["arch"] == "tcn" and report["labels"] == ["organic", "pattern"]
    assert report["val_videos"] == 2 and report["train_videos"] == 2
    assert report["encoder"].startswith("colorgrid")

    # Default head: the latest (tcn); --head linear picks the latest linear one.
    for extra in ([], ["--head", "linear"], ["--by-examples", "-k", "3"]):
        r = run(lib_dir, "classify", str(clips["mandel"]), "--json", *extra)
        assert r.exit_code == 0, r.output
        (video,) = json.loads(r.stdout)
        assert set(video) >= {"path", "label", "score", "scores", "segments"}
        assert set(video["scores"]) == {"organic", "pattern"}
        assert video["label"] in ("organic", "pattern") and 0 < video["score"] <= 1
        first = video["segments"][0]
        assert set(first) == {"start", "end", "label", "score", "scores", "start_frame",
                              "end_frame"}  # fmt: skip
        assert abs(sum(first["scores"].values()) - 1) < 1e-3
    r = run(lib_dir, "classify", "--library", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)) == 4
    # The listing formats of the other commands: one object a line, CSV, paths, to a file.
    r = run(lib_dir, "classify", "--all", "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.exit_code == 0 and len(rows) == 4 and all("segments" in x for x in rows)
    r = run(lib_dir, "classify", "--all", "--format", "csv")
    header, *lines = r.stdout.splitlines()
    assert header.split(",")[:3] == ["path", "label", "score"] and len(lines) == 4
    r = run(lib_dir, "classify", "--all", "--format", "paths")
    assert sorted(r.stdout.splitlines()) == sorted(
        str(clips[n]) for n in ("testsrc", "mandel", "life", "smpte")
    )
    out = tmp_path / "classified.json"
    r = run(lib_dir, "classify", str(clips["mandel"]), "--format", "json", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    assert json.loads(out.read_text())[0]["path"] == str(clips["mandel"])
    r = run(lib_dir, "classify", str(clips["mandel"]))
    assert r.exit_code == 0 and "00:00:00.000" in r.stdout  # segment times as timecodes
    r = run(lib_dir, "classify", "--all", "--unlabelled", "--json")
    assert json.loads(r.stdout) == []
    r = run(lib_dir, "classify", str(clips["mandel"]), "--labels", "cat,dog")
    assert r.exit_code == 1 and "no text tower" in r.stderr
    r = run(lib_dir, "classify", str(clips["mandel"]), "--labels", "a,b", "--by-examples")
    assert r.exit_code == 2
    r = run(lib_dir, "classify")
    assert r.exit_code == 2 and "FILE" in r.stderr
