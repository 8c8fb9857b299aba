"""Frame numbers beside every time in seconds of a JSON answer (README "Times and frame numbers").

Real videos at known rates: 30000/1001 (29.97) and 25 frames/s, sampled by the library at
1 frame/s, so every sampled time is a frame's own presentation time (multiples of 1.001 s and
1 s) and the expected frame numbers can be computed: floor((t + 0.0005) * rate). A 1001 frames/s
file has a rate vsearch does not trust (above 1000/s ffprobe's rate is often a time base):
its frame numbers are null. The same answers are checked on the Python API, the CLI in every
machine-readable format, ``search --batch`` and the HTTP API.
"""

from __future__ import annotations

import csv
import io
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from helpers import H264, excerpt, frame_image, make_video, run_ffmpeg
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.config import Settings
from vsearch.pipeline.library import Library
from vsearch.types import FRAME_SLACK_S, frame_at

runner = CliRunner()
NTSC = Fraction(30000, 1001)
PAL = Fraction(25)


def expected(seconds: float | None, rate: Fraction | None) -> int | None:
    """The documented rule, computed exactly (rationals) on the seconds a JSON answer gives."""
    if seconds is None or rate is None:
        return None
    return math.floor((Fraction(seconds) + Fraction(FRAME_SLACK_S)) * rate)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    folder = root / "in"
    ntsc = make_video(folder / "ntsc.mp4", "testsrc2=size=128x96:rate=30000/1001", 8)
    # the same footage from 2 s to 6 s at 25 frames/s: a copy at another rate
    pal = excerpt(ntsc, folder / "pal.mp4", 2, 4, "-r", "25", *H264)
    odd = make_video(folder / "odd.mp4", "mandelbrot=size=64x48:rate=1001", 3)
    # an exact frame of ntsc.mp4 (3.1698 s)
    frame_95 = frame_image(ntsc, root / "frame95.png", number=95)
    settings = Settings.load(library=root / "lib", model="colorgrid", fps=1.0, decoders=1)
    with Library.open(settings=settings, create=True) as library:
        report = library.index([folder])
        assert not report.failed, report.failed
        library.label(ntsc, "bars", start=1.001, end=4.004)
        library.label(odd, "fractal")
    return {"settings": settings, "ntsc": ntsc, "pal": pal, "odd": odd, "image": frame_95}


def cli(lib, *args: str) -> str:
    r = runner.invoke(app, ["--library", str(lib["settings"].library), *args])
    assert r.exit_code == 0, r.output
    return r.stdout


def cli_json(lib, *args: str):
    return json.loads(cli(lib, *args, "--json"))


def rate_of(lib, path: str) -> Fraction | None:
    return {str(lib["ntsc"]): NTSC, str(lib["pal"]): PAL, str(lib["odd"]): None}[path]


# --- the rule ------------------------------------------------------------------------------


def test_frame_at_counts_from_the_first_frame_at_the_stream_rate():
    rate = float(NTSC)
    for n in (0, 1, 29, 30, 95, 107_892, 10**7):
        t = n * 1001 / 30000  # the frame's own presentation time
        assert frame_at(t, rate) == n
        assert frame_at(t + 0.5 / rate, rate) == n  # still on screen half a frame later
        assert frame_at(round(t, 3), rate) == n  # stored in whole milliseconds (Matroska)
        if n:
            assert frame_at(t - 1e-3, rate) == n - 1
    assert frame_at(2.0, 25.0) == 50 and frame_at(1.999, 25.0) == 49
    for unknown in (None, 0.0, -1.0, float("nan"), float("inf")):
        assert frame_at(1.0, unknown) is None
    assert frame_at(None, 25.0) is None and frame_at(float("nan"), 25.0) is None


def test_probe_keeps_the_average_rate_and_distrusts_rates_above_1000(lib):
    from vsearch.media import probe_video

    assert probe_video(lib["ntsc"]).fps == pytest.approx(float(NTSC), rel=1e-12)
    assert probe_video(lib["pal"]).fps == 25.0
    assert probe_video(lib["odd"]).fps == 0.0
    videos = {v["path"]: v for v in cli_json(lib, "videos")}
    assert videos[str(lib["ntsc"])]["fps"] == pytest.approx(float(NTSC))
    assert videos[str(lib["odd"])]["fps"] is None


def test_decoded_times_are_exact_presentation_times(lib):
    """Times come from the integer pts, not the 6-digit pts_time: a sample at 1 frame/s of a
    29.97 file is exactly a frame's time, the first decoded in its second (non-reference
    frames are skipped at this sparse rate, so at most two frames into it)."""
    from vsearch.media import iter_frames

    times = [t for b in iter_frames(lib["ntsc"], fps=1.0, size=32) for t in b.times]
    into = [frame_at(t, float(NTSC)) - 30 * k for k, t in enumerate(times)]
    assert len(times) == 8 and into[0] == 0 and all(0 <= n <= 2 for n in into), into
    assert all(abs(t * NTSC - round(t * NTSC)) < 1e-9 for t in times)
    dense = [t for b in iter_frames(lib["ntsc"], fps=4.0, size=32) for t in b.times]
    assert [frame_at(t, float(NTSC)) for t in dense[::4]] == [30 * k for k in range(8)]


def test_millisecond_timestamps_name_their_own_frame(tmp_path):
    """Matroska keeps whole milliseconds: frame 9 of a 29.97 file is at 0.300 s (8.991 frames
    in), and is still frame 9."""
    from vsearch.media import iter_frames

    mkv = make_video(tmp_path / "ntsc.mkv", "testsrc2=size=64x48:rate=30000/1001", 3)
    times = [t for b in iter_frames(mkv, fps=7.0, size=32) for t in b.times]
    assert 0.3 in times and frame_at(0.3, float(NTSC)) == 9
    assert [frame_at(t, float(NTSC)) for t in times] == [round(t * NTSC) for t in times]


def test_times_count_from_the_video_streams_first_frame(tmp_path):
    """A transport stream whose video starts 0.4 s after its audio (and the container): the
    first video frame is at 0 s, frame 0, as an editor counts the stream's frames."""
    from vsearch.media import iter_frames

    late = tmp_path / "late.ts"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=3",
               "-f", "lavfi", "-i", "sine=duration=3.5",
               "-filter_complex", "[0:v]setpts=PTS+0.4/TB[v]", "-map", "[v]", "-map", "1:a",
               *H264, "-c:a", "aac", late)  # fmt: skip
    times = [t for b in iter_frames(late, fps=5.0, size=32) for t in b.times]
    assert [frame_at(t, 25.0) for t in times[::5]] == [0, 25, 50]


def test_showinfo_times_keep_their_precision_past_ten_thousand_seconds():
    from vsearch.media.decode import _StderrReader

    lines = [
        b"[Parsed_showinfo_5 @ 0x1] config in time_base: 1/30000, frame_rate: 30000/1001\n",
        # frame 300030 at 10010.0001 s: ffmpeg 5 prints pts_time with 6 digits (10010)
        b"[Parsed_showinfo_5 @ 0x1] n:   0 pts:300303003 pts_time:10010.1 pos: 1 fmt:rgb24\n",
        b"[Parsed_showinfo_5 @ 0x1] n:   1 pts:NOPTS pts_time:NOPTS pos: 1 fmt:rgb24\n",
    ]
    reader = _StderrReader(io.BytesIO(b"".join(lines)))
    first = reader.next_time()
    assert first == pytest.approx(300303003 / 30000, abs=1e-9)
    assert frame_at(first, float(NTSC)) == 300003
    assert reader.next_time() is None  # no timestamp: the caller estimates it
    reader.join()


# --- every answer with times ---------------------------------------------------------------


def check_frames(row: dict, rate: Fraction | None, pairs: dict[str, str]) -> None:
    for time_key, frame_key in pairs.items():
        assert row[frame_key] == expected(row[time_key], rate), (time_key, row)


SEGMENT = {"start": "start_frame", "end": "end_frame"}


def test_clip_search_gives_frames_of_both_files_at_their_own_rates(lib):
    settings = lib["settings"]
    with Library.open(settings=settings) as library:
        matches = library.search_video(lib["pal"], k=3, exclude_self=True)
    best = matches[0]
    assert best.path == str(lib["ntsc"])
    assert best.fps == pytest.approx(float(NTSC)) and best.query_fps == 25.0
    assert abs(best.start - 2.0) <= 1.01 and best.query_start <= 1.0
    assert best.start_frame == round(best.start * NTSC)  # a sampled frame's own time
    assert best.query_start_frame == round(best.query_start * PAL)
    rows = cli_json(lib, "search", str(lib["pal"]), "-k", "3", "--exclude-self")
    assert rows == [m.to_dict() for m in matches]
    for row in rows:
        check_frames(row, rate_of(lib, row["path"]), SEGMENT)
        check_frames(row, PAL, {"query_start": "query_start_frame", "query_end": "query_end_frame"})
    text = cli(lib, "search", str(lib["pal"]), "-k", "3", "--exclude-self", "--format", "csv")
    listed = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["start_frame"]) for r in listed] == [r["start_frame"] for r in rows]


def test_image_search_hit_gives_the_exact_frame(lib):
    with Library.open(settings=lib["settings"]) as library:
        hits = library.search_image(lib["image"], k=3)
        sampled = library.search_image(lib["image"], k=3, refine=0)
    best = hits[0]
    assert best.path == str(lib["ntsc"])
    # re-timed at the native rate: a frame's own time, within a frame of the one shown
    assert abs(best.time * NTSC - round(best.time * NTSC)) < 1e-6
    assert abs(best.frame - 95) <= 1
    assert sampled[0].frame == 90  # the sampled frame at 3.003 s
    rows = cli_json(lib, "search", str(lib["image"]), "-k", "3")
    assert rows == [h.to_dict() for h in hits]
    for row in cli_json(lib, "search", str(lib["image"]), "-k", "3", "--refine", "0"):
        check_frames(row, rate_of(lib, row["path"]), {"time": "frame"})
    frames = cli_json(lib, "search", str(lib["image"]), "--frames", "-k", "20")
    assert any(r["path"] == str(lib["odd"]) and r["frame"] is None for r in frames)


def test_duplicates_give_frames_on_both_sides_and_in_every_format(lib):
    from vsearch.media import probe_video

    with Library.open(settings=lib["settings"]) as library:
        report = library.find_duplicates(min_duration=1.0)
        groups = library.group_duplicates(report)
    both = {str(lib["ntsc"]), str(lib["pal"])}
    pair = next(m for m in report.matches if {m.a_path, m.b_path} == both)
    rows = cli_json(lib, "dups", "--min-duration", "1")
    assert rows == [m.to_dict() for m in report.matches]
    for row in rows:
        for side in ("a", "b"):
            check_frames(row[side], rate_of(lib, row[side]["path"]), SEGMENT)
    ntsc_side = "a" if pair.a_path == str(lib["ntsc"]) else "b"
    # a sample at k x 1.001 s, or a frame or two later (non-reference frames are skipped)
    assert getattr(pair, f"{ntsc_side}_start_frame") % 30 <= 2
    flat = list(csv.DictReader(io.StringIO(cli(lib, "dups", "--min-duration", "1",
                                               "--format", "csv"))))  # fmt: skip
    assert list(flat[0])[-4:] == ["a_start_frame", "a_end_frame", "b_start_frame", "b_end_frame"]
    assert [int(r["a_start_frame"]) for r in flat] == [r["a"]["start_frame"] for r in rows]
    (group,) = cli_json(lib, "dups", "--min-duration", "1", "--group")
    assert group == groups[0].to_dict()
    for video in group["videos"]:
        check_frames(video, rate_of(lib, video["path"]), {"duration": "duration_frames"})
    by_path = {v["path"]: v for v in group["videos"]}
    # the whole file's length in frames: its frame count (4.08 s at 25 frames/s)
    assert by_path[str(lib["pal"])]["duration_frames"] == probe_video(lib["pal"]).nb_frames == 102


def test_labels_classification_and_predictions_give_frames(lib):
    listed = cli_json(lib, "labels")["labels"]  # {"counts", "labels"}
    (label,) = [r for r in listed if r["label"] == "bars"]
    assert (label["start_frame"], label["end_frame"]) == (30, 120)
    with Library.open(settings=lib["settings"]) as library:
        record = next(r for r in library.labels() if r.label == "bars")
    assert (record.start_frame, record.end_frame) == (30, 120)
    odd_label = next(r for r in listed if r["label"] == "fractal")
    assert odd_label["start_frame"] is None and odd_label["end_frame"] is None
    for path, rate in ((lib["pal"], PAL), (lib["ntsc"], NTSC), (lib["odd"], None)):
        (result,) = cli_json(lib, "classify", str(path), "--by-examples", "-k", "2")
        assert result["fps"] == (float(rate) if rate else None)
        assert result["segments"]
        for seg in result["segments"]:
            check_frames(seg, rate, SEGMENT)
    cli_json(lib, "classify", "--all", "--by-examples", "-k", "2")
    rows = cli_json(lib, "predictions")
    assert rows and {r["path"] for r in rows} == {str(lib[k]) for k in ("ntsc", "pal", "odd")}
    for row in rows:
        check_frames(row, rate_of(lib, row["path"]), SEGMENT)
    assert any(r["start_frame"] is not None for r in rows)


def test_classifying_a_file_outside_the_library_uses_its_own_rate(lib, tmp_path):
    outside = make_video(tmp_path / "outside.mp4", "testsrc2=size=128x96:rate=24000/1001", 5)
    with Library.open(settings=lib["settings"]) as library:
        (result,) = library.classify(outside, by_examples=True, k=2)
    assert result.fps == pytest.approx(24000 / 1001)
    for seg in result.segments:
        assert seg.start_frame == expected(seg.start, Fraction(24000, 1001))
        assert seg.end_frame == expected(seg.end, Fraction(24000, 1001))


def test_batch_candidates_give_frames_in_csv_and_jsonl(lib, tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "pal.mp4").write_bytes(Path(lib["pal"]).read_bytes())
    (queries / "frame.png").write_bytes(Path(lib["image"]).read_bytes())
    base = ["search", "--batch", str(queries), "-k", "2", "--refine", "0", "--out"]
    out_csv, out_jsonl = tmp_path / "c.csv", tmp_path / "c.jsonl"
    cli(lib, *base, str(out_csv))
    cli(lib, *base, str(out_jsonl))
    rows = list(csv.DictReader(out_csv.open()))
    for row in rows:
        rate = rate_of(lib, row["ref"])
        for key in ("ref_start", "ref_end"):
            want = expected(float(row[key]), rate)
            assert row[f"{key}_frame"] == ("" if want is None else str(want))
        if row["query"].endswith(".mp4"):
            assert int(row["query_start_frame"]) == expected(float(row["query_start"]), PAL)
        else:
            assert row["query_start_frame"] == row["query_end_frame"] == ""
    image_row = next(r for r in rows if r["query"].endswith("frame.png"))
    assert image_row["ref"] == str(lib["ntsc"]) and image_row["ref_start_frame"] == "90"
    lines = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    segments = [(line["ref"], s) for line in lines for s in line["segments"]]
    assert len(segments) == len(rows)
    for ref, seg in segments:
        check_frames(seg, rate_of(lib, ref), {"ref_start": "ref_start_frame"})


def test_http_api_answers_the_same_frames(lib):
    pytest.importorskip("starlette", reason="the serve extra is not installed")
    from starlette.testclient import TestClient

    from vsearch.serve import create_app

    with TestClient(create_app(Library.open(settings=lib["settings"]))) as client:
        r = client.post(
            "/api/search/clip",
            params={"k": 3},
            content=Path(lib["pal"]).read_bytes(),
            headers={"Content-Type": "video/mp4", "X-Filename": "pal.mp4"},
        )
        assert r.status_code == 200, r.text
        served = [{k: v for k, v in m.items() if k != "video_id"} for m in r.json()]
        assert served == cli_json(lib, "search", str(lib["pal"]), "-k", "3")
        assert all(m["query_start_frame"] == expected(m["query_start"], PAL) for m in served)
        dups = client.get("/api/dups", params={"min_duration": 1}).json()
        assert dups and all("start_frame" in d["a"] and "end_frame" in d["b"] for d in dups)
        for d in dups:
            check_frames(d["a"], rate_of(lib, d["a"]["path"]), SEGMENT)
        labels = client.get("/api/labels").json()
        assert any(x.get("start_frame") == 30 for x in labels["labels"])
        videos = client.get("/api/videos").json()
        assert {v["path"]: v["fps"] for v in videos}[str(lib["odd"])] is None


def test_readme_documents_the_rule_and_every_frame_field():
    """One source of truth: the README section names the code's slack and every frame
    field that an answer's dict carries."""
    import re

    from vsearch.report.candidates import FRAME_COLUMNS
    from vsearch.types import DupMatch, FrameHit, LabelRecord, SegmentLabel, SegmentMatch

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Times and frame numbers", 1)[1].split("\n### ", 1)[0]
    (slack,) = re.findall(r"frame = floor\(\(t \+ ([0-9.e-]+)\) \* fps\)", section)
    assert float(slack) == FRAME_SLACK_S
    dicts = [
        FrameHit("v.mp4", 1.0, 0.9, 1, 1, fps=25.0).to_dict(),
        SegmentMatch("v.mp4", 0.9, 1.0, 2.0, 0.0, 1.0, fps=25.0).to_dict(),
        DupMatch("a.mp4", 0, 1, "b.mp4", 0, 1, 0.9).to_dict()["a"],
        DupMatch("a.mp4", 0, 1, "b.mp4", 0, 1, 0.9).to_row(),
        SegmentLabel(0.0, 4.0, "x", 0.9).to_dict(),
        LabelRecord(1, 1, "v.mp4", "x", 0.0, 1.0, "now").to_dict(),
        dict.fromkeys(FRAME_COLUMNS),
        dict.fromkeys(["duration_frames"]),  # dups --group (pipeline.dups.group_duplicates)
    ]
    fields = {k for d in dicts for k in d if k == "frame" or k.endswith(("_frame", "_frames"))}
    assert len(fields) == 12
    for name in fields:
        assert f"`{name}`" in section, name
