"""search --batch: many image and clip queries, the same answers as one at a time."""

from __future__ import annotations

import csv
import json
import os

import pytest
from helpers import excerpt, frame_image
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.config import Settings
from vsearch.errors import UsageError
from vsearch.pipeline.batch_search import list_queries
from vsearch.pipeline.library import Library
from vsearch.pipeline.search import search_vector, search_vectors


@pytest.fixture(scope="module")
def setup(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("batch")
    settings = Settings.load(library=root / "lib", model="colorgrid", decoders=2)
    with Library.open(settings=settings, create=True) as lib:
        lib.index([clips["testsrc"].parent])  # testsrc, mandel, sub dir/life
    q = root / "queries"
    (q / "deeper").mkdir(parents=True)
    frame_image(clips["mandel"], q / "mandel3.png", at=3)
    frame_image(clips["testsrc"], q / "deeper" / "t1.jpg", at=1)
    excerpt(clips["life"], q / "life-part.mp4", 1, 2.5)
    (q / "garbage.png").write_bytes(os.urandom(500))
    (q / "broken.mp4").write_bytes(b"\0" * 300)
    (q / "notes.md").write_text("not a query")
    return settings, q, clips


def test_batch_answers_equal_single_queries_and_bad_files_do_not_stop_it(setup):
    settings, q, clips = setup
    with Library.open(settings=settings) as lib:
        answers = list(lib.search_batch(q, k=2, threshold=0.8))
        by_query = {os.path.relpath(a.query, q): a for a in answers}
        assert set(by_query) == {"mandel3.png", os.path.join("deeper", "t1.jpg"),
                                 "life-part.mp4", "garbage.png", "broken.mp4"}  # fmt: skip
        for name in ("mandel3.png", os.path.join("deeper", "t1.jpg")):
            assert by_query[name].error is None
            assert by_query[name].hits == lib.search_image(q / name, k=2)
        assert by_query["mandel3.png"].hits[0].path == str(clips["mandel"])
        clip = by_query["life-part.mp4"]
        assert clip.kind == "clip" and clip.hits == lib.search_video(
            q / "life-part.mp4", k=2, threshold=0.8
        )
        assert clip.hits[0].path == str(clips["life"])
        for bad in ("garbage.png", "broken.mp4"):
            assert by_query[bad].hits == [] and by_query[bad].error


def test_batched_index_search_equals_one_query_at_a_time(setup):
    settings, _q, _clips = setup
    with Library.open(settings=settings) as lib:
        import numpy as np

        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(7, lib.model_info.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for frames in (False, True):
            batched = search_vectors(lib.store, vectors, k=3, frames=frames)
            assert batched == [search_vector(lib.store, v, k=3, frames=frames) for v in vectors]
            assert all(len(hits) == 3 for hits in batched)


def test_query_lists_and_folders(setup, tmp_path):
    _settings, q, _clips = setup
    listed = q / "list.txt"
    listed.write_text("# queries\nmandel3.png\n\ndeeper/t1.jpg\n")
    assert list_queries(listed) == [str(q / "mandel3.png"), str(q / "deeper" / "t1.jpg")]
    table = q / "list.csv"
    table.write_text("query,note\nlife-part.mp4,x\n")
    assert list_queries(table) == [str(q / "life-part.mp4")]
    assert list_queries(q / "mandel3.png") == [str(q / "mandel3.png")]
    with pytest.raises(UsageError, match="no image or video"):
        list_queries(tmp_path)
    with pytest.raises(UsageError, match="no such file"):
        list_queries(tmp_path / "missing")
    listed.unlink()
    table.unlink()


def test_cli_batch_writes_csv_and_json_lines_and_exits_3_on_bad_files(setup, tmp_path):
    settings, q, clips = setup
    runner = CliRunner()
    base = ["--library", str(settings.library), "search", "--batch", str(q), "-k", "2"]
    out = tmp_path / "cands.csv"
    r = runner.invoke(app, [*base, "--out", str(out), "--threshold", "0.8"])
    assert r.exit_code == 3, r.output
    failed = [line for line in r.stderr.splitlines() if line.startswith("vsearch: failed")]
    assert len(failed) == 2 and any("garbage.png: " in line for line in failed)
    assert "5 queries" in r.stderr and "2 failed" in r.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["query", "ref", "score", "query_start", "query_end", "ref_start",
                             "ref_end", "query_start_frame", "query_end_frame",
                             "ref_start_frame", "ref_end_frame"]  # fmt: skip
    mandel = [r for r in rows if r["query"].endswith("mandel3.png")]
    assert mandel[0]["ref"] == str(clips["mandel"]) and mandel[0]["query_start"] == ""
    assert abs(float(mandel[0]["ref_start"]) - 3) <= 1
    life = [r for r in rows if r["query"].endswith("life-part.mp4")]
    assert life[0]["ref"] == str(clips["life"]) and float(life[0]["query_end"]) > 0
    r = runner.invoke(app, [*base, "--threshold", "0.8"])
    assert r.exit_code == 3
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert {"query", "ref", "score", "segments"} == set(lines[0])
    assert any(x["ref"] == str(clips["life"]) and x["segments"][0]["ref_end"] > 0 for x in lines)
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "c.xlsx")])
    assert r.exit_code == 2 and ".csv or a .jsonl" in r.stderr
    r = runner.invoke(app, [*base, "--video", str(q / "life-part.mp4")])
    assert r.exit_code == 2
