"""Labels as people use them: no duplicates, unlabel, stored predictions, a warning when a
second whole-video label cannot be used by training."""

from __future__ import annotations

import json
import logging

import pytest
from helpers import run_cli as run


@pytest.fixture()
def lib_dir(tmp_path, clips):
    lib = tmp_path / "lib"
    paths = [str(clips[n]) for n in ("testsrc", "mandel", "life", "smpte")]
    r = run(lib, "index", *paths, "--model", "colorgrid")
    assert r.exit_code == 0, r.output
    return lib


def labels_of(lib) -> list[dict]:
    return json.loads(run(lib, "labels", "--json").stdout)["labels"]


def test_labels_are_not_duplicated_and_can_be_removed(lib_dir, clips, tmp_path):
    video = str(clips["testsrc"])
    for _ in range(2):
        assert run(lib_dir, "label", video, "pattern").exit_code == 0
        assert run(lib_dir, "label", video, "pattern", "--start", "1", "--end", "2").exit_code == 0
    table = tmp_path / "labels.csv"
    table.write_text(f"{video},pattern\n{video},pattern\n")
    assert run(lib_dir, "label", "--import", str(table)).exit_code == 0
    assert len(labels_of(lib_dir)) == 2  # one whole-video label and one segment label
    r = run(lib_dir, "unlabel", video, "pattern", "--start", "1", "--end", "2", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"removed": 1}
    assert [(x["start"], x["end"]) for x in labels_of(lib_dir)] == [(None, None)]
    r = run(lib_dir, "unlabel", video, "nothing-like-it")
    assert r.exit_code == 2 and "no such label" in r.stderr
    assert run(lib_dir, "unlabel", video).exit_code == 0
    assert labels_of(lib_dir) == []


def test_predictions_are_listed_with_all_scores(lib_dir, clips):
    run(lib_dir, "label", str(clips["testsrc"]), "pattern")
    run(lib_dir, "label", str(clips["smpte"]), "pattern")
    run(lib_dir, "label", str(clips["mandel"]), "organic")
    run(lib_dir, "label", str(clips["life"]), "organic")
    r = run(lib_dir, "classify", "--all", "--by-examples", "-k", "2", "--json")
    assert r.exit_code == 0, r.output
    classified = json.loads(r.stdout)
    assert all(set(v["scores"]) == {"organic", "pattern"} for v in classified)
    r = run(lib_dir, "predictions", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {row["path"] for row in rows} == {v["path"] for v in classified}
    assert all(row["label"] in ("organic", "pattern") for row in rows)
    r = run(lib_dir, "predictions", str(clips["life"]), "--format", "csv")
    assert r.exit_code == 0 and r.stdout.startswith("path,classifier,label,score,start,end")


def test_second_whole_video_label_dropped_by_training_is_said(lib_dir, clips, caplog):
    from vsearch.config import Settings
    from vsearch.pipeline.classify import labelled_windows
    from vsearch.pipeline.library import Library

    run(lib_dir, "label", str(clips["testsrc"]), "pattern")
    run(lib_dir, "label", str(clips["testsrc"]), "colourful")
    with (
        Library.open(settings=Settings.load(library=lib_dir)) as lib,
        caplog.at_level(logging.WARNING),
    ):
        labelled_windows(lib.store)
    assert "2 whole-video labels" in caplog.text and "drops" in caplog.text
