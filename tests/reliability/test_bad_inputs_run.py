"""A whole `vsearch index` run over every kind of bad input: each file fails (or is kept
partially) with a one-line error naming it, recorded in the library; the rest is indexed."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    CODECS,
    X264,
    assert_consistent,
    color_src,
    concat_sources,
    faststart,
    has_encoder,
    lavfi,
    skip_without_ffmpeg,
    tone,
    with_display_rotation,
)
from typer.testing import CliRunner

from vsearch.cli import app

runner = CliRunner()

WEIRD = [
    "with space.mp4",
    'quote\'s "double".mp4',
    "vidéo ü 日本.mp4",
    "new\nline.mp4",
    "-dash.mp4",
]


def build_inputs(root: Path) -> tuple[dict[str, str], list[Path]]:
    """Files under ``root/in`` and explicit extra paths; the status each one must end with."""
    d = root / "in"
    d.mkdir(parents=True)
    expect: dict[str, str] = {}
    good = lavfi(root / "src" / "good.mp4", "testsrc2=s=96x64:r=10:d=4")
    (d / "empty.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(np.random.default_rng(1).bytes(20000))
    (d / "text.mp4").write_text("just some notes\n" * 100)
    data = good.read_bytes()  # default mp4: moov at the end, so half a file has none
    (d / "no_moov.mp4").write_bytes(data[: len(data) // 2])
    fast = lavfi(root / "src" / "fast.mp4", "testsrc2=s=96x64:r=10:d=6", *X264)
    fs = faststart(fast, root / "fs.mp4").read_bytes()
    (d / "cut_half.mp4").write_bytes(fs[: len(fs) // 2])
    tone(d / "tone.mp4")
    png = lavfi(root / "still.png", "testsrc2=s=64x48", "-frames:v", "1")
    shutil.copy(png, d / "still_png.mp4")
    lavfi(d / "zero.mkv", "testsrc2=s=64x48:r=10", "-t", "0", *X264)
    os.symlink(d / "loop_b.mp4", d / "loop_a.mp4")
    os.symlink(d / "loop_a.mp4", d / "loop_b.mp4")
    shutil.copy(good, d / "locked.mp4")  # denied by an injected EACCES (root reads anything)
    expect |= dict.fromkeys(
        ["empty.mp4", "random.mp4", "text.mp4", "no_moov.mp4", "tone.mp4", "still_png.mp4"],
        "failed",
    )
    expect |= {"zero.mkv": "failed", "loop_a.mp4": "failed", "loop_b.mp4": "failed"}
    expect |= {"locked.mp4": "failed", "cut_half.mp4": "partial"}

    lavfi(d / "big4096.mp4", "testsrc2=s=4096x4096:r=2:d=1", *X264)
    src = root / "src" / "plain.mp4"
    lavfi(src, "color=black:s=64x48:r=10:d=1,drawbox=x=0:y=0:w=32:h=48:color=white:t=fill")
    with_display_rotation(src, d / "rotated.mp4")
    vfr = [color_src("red", 2, 3), color_src("green", 1, 25)]
    concat_sources(d / "vfr.mkv", vfr, *X264, "-fps_mode", "vfr")
    expect |= {"big4096.mp4": "indexed", "rotated.mp4": "indexed", "vfr.mkv": "indexed"}
    for i, (name, encoder, codec) in enumerate(CODECS):
        if has_encoder(encoder):
            lavfi(d / name, f"testsrc2=s=64x48:r=10:d={1 + i * 0.2:.1f}", *codec)
            expect[name] = "indexed"
    for i, name in enumerate(WEIRD):  # distinct contents, so each one is decoded
        lavfi(d / name, f"mandelbrot=s=64x48:r=10,trim=duration={1 + i * 0.3:.1f}", *X264)
        expect[name] = "indexed"
    text = root / "notes.txt"
    text.write_text("not a video\n")
    expect |= {"notes.txt": "failed", "still.png": "failed"}
    return expect, [d, text, png]


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    skip_without_ffmpeg()
    root = tmp_path_factory.mktemp("bad")
    expect, args = build_inputs(root)
    locked = str(root / "in" / "locked.mp4")
    import builtins

    import vsearch.media.files as files_mod
    import vsearch.media.probe as probe_mod

    def denied(name, *a, **kw):
        if os.fspath(name) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", locked)
        return builtins.open(name, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(files_mod, "open", denied, raising=False)
    mp.setattr(probe_mod, "open", denied, raising=False)
    lib = root / "lib"
    try:
        result = runner.invoke(
            app, ["--library", str(lib), "index", "--model", "colorgrid", *map(str, args)]
        )
    finally:
        mp.undo()
    rows = json.loads(runner.invoke(app, ["--library", str(lib), "videos", "--json"]).stdout)
    errors = json.loads(
        runner.invoke(app, ["--library", str(lib), "videos", "--errors", "--json"]).stdout
    )
    return {"root": root, "lib": lib, "expect": expect, "result": result, "rows": rows,
            "errors": errors}  # fmt: skip


@pytest.mark.slow
def test_exit_code_says_some_files_failed(bad_run):
    result = bad_run["result"]
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_every_input_ends_with_its_status(bad_run):
    got = {os.path.basename(r["path"]): r["status"] for r in bad_run["rows"]}
    assert got == bad_run["expect"]
    for row in bad_run["rows"]:
        if row["status"] == "indexed":
            assert row["frames"] > 0 and row["error"] is None, row


@pytest.mark.slow
def test_each_failure_is_one_line_naming_file_and_cause(bad_run):
    stderr = bad_run["result"].stderr
    failed = [r for r in bad_run["errors"] if r["status"] == "failed"]
    expected_failed = [n for n, s in bad_run["expect"].items() if s == "failed"]
    assert sorted(os.path.basename(r["path"]) for r in failed) == sorted(expected_failed)
    for row in bad_run["errors"]:
        assert row["error"] and "\n" not in row["error"], row
        line = [ln for ln in stderr.splitlines() if row["path"] in ln]
        assert line, f"{row['path']} not named on stderr"
        assert row["error"] in line[-1] or row["error"].split(" (")[0] in line[-1]
    causes = {os.path.basename(r["path"]): r["error"] for r in bad_run["errors"]}
    assert causes["empty.mp4"] == "empty file (0 bytes)"
    assert "permission denied" in causes["locked.mp4"]
    assert "symlink loop" in causes["loop_a.mp4"]
    assert "audio only" in causes["tone.mp4"]
    assert "still image" in causes["still_png.mp4"] and "still image" in causes["still.png"]
    assert "moov atom not found" in causes["no_moov.mp4"]
    assert "kept the first" in causes["cut_half.mp4"]


@pytest.mark.slow
def test_partial_file_keeps_decoded_frames_and_library_agrees(bad_run):
    part = next(r for r in bad_run["rows"] if r["path"].endswith("cut_half.mp4"))
    assert 0 < part["frames"] < 6
    counts = assert_consistent(bad_run["lib"])
    indexed = [r for r in bad_run["rows"] if r["status"] != "failed"]
    assert counts["db"] == sum(r["frames"] for r in indexed)


@pytest.mark.slow
def test_rerun_skips_failures_and_retry_tries_them_again(bad_run):
    lib, root = bad_run["lib"], bad_run["root"]
    again = runner.invoke(app, ["--library", str(lib), "index", str(root / "in"), "--json"])
    summary = json.loads(again.stdout)
    assert summary["indexed"] == [] and summary["partial"] == []
    # Unchanged failed files are skipped; only what the walk itself trips on is reported.
    assert again.exit_code == 3
    assert {os.path.basename(f["path"]) for f in summary["failed"]} == {"loop_a.mp4", "loop_b.mp4"}
    retry = runner.invoke(
        app, ["--library", str(lib), "index", str(root / "in"), "--retry-failed", "--json"]
    )
    assert retry.exit_code == 3
    assert {os.path.basename(f["path"]) for f in json.loads(retry.stdout)["failed"]} >= {
        "empty.mp4",
        "random.mp4",
    }


@pytest.mark.slow
def test_rotated_video_is_stored_upright(bad_run):
    row = next(r for r in bad_run["rows"] if r["path"].endswith("rotated.mp4"))
    assert (row["width"], row["height"]) == (48, 64)


def test_folder_vanishing_mid_run(library, tmp_path):
    from vsearch.progress import NullProgress

    keep = lavfi(tmp_path / "v" / "keep.mp4", "testsrc2=s=64x48:r=10:d=2")
    gone = tmp_path / "v" / "gone"
    lavfi(gone / "a.mp4", "mandelbrot=s=64x48:r=10,trim=duration=2")
    lavfi(gone / "b.mp4", "mandelbrot=s=64x48:r=10,trim=duration=3")

    class RemoveFolderOnStart(NullProgress):  # planned, probed, then the folder goes
        def begin(self, total: float, unit: str, description: str) -> None:
            shutil.rmtree(gone)

    report = library.index([tmp_path / "v"], progress=RemoveFolderOnStart())
    assert report.indexed == [str(keep)]
    assert sorted(p for p, _ in report.failed) == [str(gone / "a.mp4"), str(gone / "b.mp4")]
    assert all("no such file" in cause for _, cause in report.failed)
    failed = {v.path: v for v in library.videos(errors_only=True)}
    assert set(failed) == {str(gone / "a.mp4"), str(gone / "b.mp4")}
    assert library.store.frame_index.ntotal == sum(v.n_frames for v in library.videos())


def test_leading_dash_argument_is_a_file_not_an_option(tmp_path, monkeypatch):
    lavfi(tmp_path / "-i.mp4", "testsrc2=s=64x48:r=10:d=2")
    monkeypatch.chdir(tmp_path)
    lib = str(tmp_path / "lib")
    result = runner.invoke(
        app, ["--library", lib, "index", "--model", "colorgrid", "--json", "--", "-i.mp4"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["indexed"] == [str(tmp_path / "-i.mp4")]
