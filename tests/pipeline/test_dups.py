"""Near-duplicate detection on generated libraries with known copies (colorgrid encoder)."""

from __future__ import annotations

import html
import json
import re
import shutil

import numpy as np
import pytest
from helpers import concat_videos, make_video
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.errors import EmptyLibraryError, UsageError
from vsearch.pipeline.dups import DupReport, match_frames, thin_frames
from vsearch.report.html import render_report
from vsearch.types import DupMatch

FPS = 2.0
STEP = 1.0 / FPS


@pytest.fixture(scope="module")
def dup_videos(tmp_path_factory, clips):
    """A source, a copy embedded at 3 s, a mirrored copy, a byte copy and unrelated footage."""
    root = tmp_path_factory.mktemp("dups")
    src = make_video(root / "parts" / "src.mp4", "testsrc2", 5)
    filler = make_video(root / "parts" / "filler.mp4", "mandelbrot", 3)
    lib = root / "lib"
    lib.mkdir()
    shutil.copy(src, lib / "source.mp4")
    concat_videos(lib / "embedded.mp4", [filler, src, clips["smpte"]])
    make_video(lib / "mirrored.mp4", "testsrc2", 5, vf="hflip")
    shutil.copy(src, lib / "byte_copy.mp4")
    shutil.copy(clips["life"], lib / "life.mp4")
    return lib


@pytest.fixture()
def dup_library(settings, dup_videos):
    from vsearch.pipeline.library import Library

    lib = Library.open(settings=settings, create=True, fps=FPS)
    lib.index([dup_videos])
    yield lib
    lib.close()


def names(m: DupMatch) -> set[str]:
    return {m.a_path.rsplit("/", 1)[-1], m.b_path.rsplit("/", 1)[-1]}


def test_known_copies_found_and_localised(dup_library):
    report = dup_library.find_duplicates()
    found = {frozenset(names(m)): m for m in report.matches}
    exact = [m for m in report.matches if m.exact]
    assert [names(m) for m in exact] == [{"source.mp4", "byte_copy.mp4"}]
    assert report.matches[0].exact and report.matches[0].score == 1.0
    emb = found[frozenset({"source.mp4", "embedded.mp4"})]
    src_side = (emb.a_start, emb.a_end) if "source" in emb.a_path else (emb.b_start, emb.b_end)
    emb_side = (emb.b_start, emb.b_end) if "source" in emb.a_path else (emb.a_start, emb.a_end)
    assert src_side[0] == pytest.approx(0.0, abs=STEP + 1e-6)
    assert src_side[1] == pytest.approx(5.0, abs=STEP + 1e-6)
    assert emb_side[0] == pytest.approx(3.0, abs=STEP + 1e-6)
    assert emb_side[1] == pytest.approx(8.0, abs=STEP + 1e-6)
    assert emb.score > 0.9 and emb.frames >= 8
    assert frozenset({"source.mp4", "mirrored.mp4"}) in found
    for m in report.matches:  # nothing pairs with unrelated footage
        assert "life.mp4" not in names(m)
    scores = [m.score for m in report.matches]
    assert scores == sorted(scores, reverse=True)


def test_byte_copy_not_reported_twice(dup_library):
    report = dup_library.find_duplicates()
    pairs = [frozenset(names(m)) for m in report.matches]
    assert pairs.count(frozenset({"source.mp4", "byte_copy.mp4"})) == 1


def test_shared_black_intro_and_title_card_make_no_match(tmp_path, settings):
    """Two unrelated videos open with the same 2 s of black and 3 s of a still card."""
    from vsearch.pipeline.library import Library

    black = make_video(tmp_path / "p" / "black.mp4", "color=c=black:size=128x96:rate=10", 2)
    card = make_video(tmp_path / "p" / "card.mp4", "smptebars", 3, vf="trim=end_frame=1,loop=-1:1")
    one = make_video(tmp_path / "p" / "one.mp4", "testsrc2", 4)
    two = make_video(tmp_path / "p" / "two.mp4", "mandelbrot", 4)
    lib_dir = tmp_path / "v"
    lib_dir.mkdir()
    concat_videos(lib_dir / "first.mp4", [black, card, one])
    concat_videos(lib_dir / "second.mp4", [black, card, two])
    lib = Library.open(settings=settings, create=True, fps=FPS)
    with lib:
        lib.index([lib_dir])
        report = lib.find_duplicates(min_duration=0.0)
    assert report.matches == []
    assert report.searched_frames < report.frames  # black and static card frames left out


def test_within_finds_a_repeat_inside_one_video(tmp_path, settings, clips):
    from vsearch.pipeline.library import Library

    lib_dir = tmp_path / "v"
    lib_dir.mkdir()
    part = make_video(tmp_path / "p" / "part.mp4", "testsrc2", 3)
    concat_videos(lib_dir / "repeat.mp4", [part, clips["life"], part])
    lib = Library.open(settings=settings, create=True, fps=FPS)
    with lib:
        lib.index([lib_dir])
        assert lib.find_duplicates().matches == []
        report = lib.find_duplicates(within=True)
    assert len(report.matches) == 1
    m = report.matches[0]
    assert m.a_path == m.b_path
    assert m.a_start == pytest.approx(0.0, abs=STEP + 1e-6)
    assert m.b_start == pytest.approx(7.0, abs=STEP + 1e-6)
    assert m.b_end - m.b_start == pytest.approx(3.0, abs=STEP + 1e-6)


def test_bad_options_and_empty_library(library):
    with pytest.raises(UsageError):
        library.find_duplicates(threshold=1.5)
    with pytest.raises(UsageError):
        library.find_duplicates(min_duration=-1)
    with pytest.raises(EmptyLibraryError):
        library.find_duplicates()


def test_thin_frames_keeps_first_frame_of_static_runs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 8)).astype(np.float32)
    a /= np.linalg.norm(a)
    b /= np.linalg.norm(b)
    vectors = np.stack([a, a, a, b, b, a])
    videos = np.array([1, 1, 1, 1, 1, 2])
    informative = np.array([True, True, True, True, False, True])
    kept, run_last = thin_frames(videos, informative, vectors)
    assert kept.tolist() == [True, False, False, True, False, True]
    assert run_last[0] == 2 and run_last[3] == 3


def synthetic_library(n_videos=40, frames=60, dim=32, seed=1):
    """Random-walk 'videos'; video 1 holds frames 10-29 of video 0 at 30-49 (with noise)."""
    rng = np.random.default_rng(seed)
    vecs, vids, times = [], [], []
    for v in range(n_videos):
        walk = np.cumsum(rng.normal(size=(frames, dim)), axis=0) + rng.normal(size=dim) * 3
        vecs.append(walk)
        vids.append(np.full(frames, v))
        times.append(np.arange(frames) * STEP)
    vecs[1][30:50] = vecs[0][10:30] + rng.normal(size=(20, dim)) * 0.05
    x = np.concatenate(vecs).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.concatenate(vids), np.concatenate(times), np.ones(len(x), bool), x


@pytest.mark.parametrize("approximate", [False, True])
def test_match_frames_exact_and_ivf_find_the_planted_run(approximate):
    vids, times, inf, x = synthetic_library()
    report = DupReport()
    found = match_frames(
        vids, times, inf, x, step=STEP, threshold=0.95, approximate=approximate, report=report
    )
    assert ("IVF" in report.search) == approximate
    assert [(f.a, f.b) for f in found] == [(0, 1)]
    seg = found[0].segment
    assert seg.a_start == pytest.approx(5.0, abs=STEP) and seg.a_end == pytest.approx(
        15.0, abs=STEP
    )
    assert seg.b_start == pytest.approx(15.0, abs=STEP)


def test_copy_of_a_slow_shot_is_one_segment_pair_not_two():
    """Neighbouring frames of a slow shot score above the threshold, so the frames just before
    the source run also match the copy's first frames: that shadow must not be a second match."""
    rng = np.random.default_rng(1)  # a seed where the shadow scores above the threshold
    n_videos, frames, dim = 6, 100, 128
    z = rng.normal(size=(n_videos, dim))
    x = np.empty((n_videos, frames, dim))
    for t in range(frames):  # AR(1) walks: frames 1 apart ~0.95, 2 apart ~0.9
        z = 0.9 * z + np.sqrt(1 - 0.81) * rng.normal(size=z.shape)
        x[:, t] = z + 1.0
    x[4, 60:90] = x[1, 20:50] + rng.normal(size=(30, dim)) * 0.15
    x = x.reshape(-1, dim).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    vids = np.repeat(np.arange(n_videos), frames)
    times = np.tile(np.arange(frames, dtype=np.float64), n_videos)
    found = match_frames(vids, times, np.ones(len(x), bool), x, step=1.0, threshold=0.9)
    assert [(f.a, f.b) for f in found] == [(1, 4)]
    seg = found[0].segment
    assert (seg.a_start, seg.b_start) == (20.0, 60.0) and seg.a_end == pytest.approx(50.0)


def test_cli_json_csv_and_html(dup_library, tmp_path):
    runner = CliRunner()
    out_html, out_csv = tmp_path / "r.html", tmp_path / "r.csv"
    args = ["--library", str(dup_library.root), "dups", "--json"]
    r = runner.invoke(app, [*args, "--html", str(out_html), "--csv", str(out_csv)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data[0]["exact"] is True and set(data[0]["a"]) == {
        "path",
        "start",
        "end",
        "start_frame",
        "end_frame",
    }
    assert [d["score"] for d in data] == sorted((d["score"] for d in data), reverse=True)
    assert len(out_csv.read_text().splitlines()) == len(data) + 1
    page = out_html.read_text()
    assert page.count('class="match"') == len(data)
    assert page.count("data:image/jpeg;base64,") >= 6
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # nothing loaded from outside


def test_report_escapes_hostile_file_names():
    evil = "/videos/<img src=x onerror=alert(1)>.mp4"
    report = DupReport(
        matches=[DupMatch(evil, 0.0, 4.0, "/videos/a&b.mp4", 1.0, 5.0, 0.97, frames=8)]
    )
    page = render_report(report, thumbnail=lambda path, t: b"\xff\xd8jpeg")
    assert "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert html.escape(evil) in page and "a&amp;b.mp4" in page
    assert page.count("<img ") == 6
