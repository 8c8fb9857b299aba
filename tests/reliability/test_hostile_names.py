"""Names and values an attacker (or an unlucky archive) brings: file names that are not UTF-8,
names and labels that look like terminal markup, settings and arguments out of range.

Each must give a one-line error or be handled, never a traceback, and never lose data."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pytest
from helpers import lavfi
from helpers import run_cli as run

BAD_NAME = b"bad\xff\xfe name.mp4"  # not UTF-8: any byte but '/' and NUL is a valid name


def one_error_line(result, code: int = 2) -> str:
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("vsearch: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A library holding a non-UTF-8 name, a markup-looking name and a plain one."""
    root = tmp_path_factory.mktemp("hostile")
    good = lavfi(root / "src" / "good.mp4", "testsrc2=s=96x64:r=10:d=3")
    other = lavfi(root / "src" / "other.mp4", "mandelbrot=s=96x64:r=10,trim=duration=3")
    folder = root / "in [x]"
    folder.mkdir()
    bad = os.path.join(os.fsencode(folder), BAD_NAME)
    shutil.copy(good, bad)
    shutil.copy(other, folder / "[bold red]x.mp4")
    shutil.copy(other, folder / "plain.mp4")
    lavfi(folder / "copy.mp4", "testsrc2=s=96x64:r=10:d=3", "-crf", "30")  # re-encoded twin
    lib = root / "lib"
    r = run(lib, "index", str(folder), "--model", "colorgrid")
    assert r.exit_code == 0, r.output
    return {"root": root, "lib": lib, "folder": folder, "bad": os.fsdecode(bad)}


def test_non_utf8_name_is_indexed_and_round_trips(hostile):
    lib, bad = hostile["lib"], hostile["bad"]
    r = run(lib, "videos", "--json")
    assert r.exit_code == 0
    paths = [v["path"] for v in json.loads(r.stdout)]
    assert bad in paths  # JSON carries the name as \udcXX escapes: exact round trip
    assert os.fsencode(bad) in [os.fsencode(p) for p in paths]
    r = run(lib, "videos")
    assert r.exit_code == 0 and "bad\\xff\\xfe name.mp4" in r.stdout  # shown escaped
    r = run(lib, "search", "--video", bad, "--json")
    assert r.exit_code == 0, r.output
    assert bad in [m["path"] for m in json.loads(r.stdout)]
    r = run(lib, "label", bad, "odd-name")
    assert r.exit_code == 0, r.output
    r = run(lib, "labels", "--json")
    assert bad in json.dumps(json.loads(r.stdout), ensure_ascii=False)
    r = run(lib, "remove", bad, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["removed"] == [bad]
    r = run(lib, "index", hostile["folder"].as_posix(), "--json")  # indexed again, unharmed
    assert r.exit_code == 0, r.output


def test_non_utf8_name_in_labels_csv_and_html(hostile, tmp_path):
    lib, bad = hostile["lib"], hostile["bad"]
    table = tmp_path / "labels.csv"
    with open(table, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        csv.writer(fh).writerow([bad, "from-csv"])
    r = run(lib, "label", "--import", str(table))
    assert r.exit_code == 0, r.output
    report = tmp_path / "dups.html"
    r = run(lib, "dups", "--html", str(report), "--csv", str(tmp_path / "dups.csv"))
    assert r.exit_code == 0, r.output
    html = report.read_text(encoding="utf-8")  # valid UTF-8 whatever the names
    assert "bad\\xff\\xfe name.mp4" in html or "bad%FF%FE%20name.mp4" in html
    rows = (tmp_path / "dups.csv").read_bytes()
    assert b"bad\xff\xfe name.mp4" in rows  # CSV keeps the exact bytes of the name


def test_markup_in_names_and_labels_is_shown_verbatim(hostile):
    lib = hostile["lib"]
    name = str(hostile["folder"] / "[bold red]x.mp4")
    r = run(lib, "videos")
    assert r.exit_code == 0 and "[bold red]x.mp4" in r.stdout and "in [x]" in r.stdout
    r = run(lib, "label", name, "[red]not markup[/]")
    assert r.exit_code == 0 and "[red]not markup[/]" in r.stdout, r.output
    for args in (["labels"], ["labels", "--json"], ["search", "--video", name]):
        r = run(lib, *args)
        assert r.exit_code == 0, r.output
        assert "Traceback" not in r.output
    r = run(lib, "labels")
    assert "[red]not markup[/]" in r.stdout and "[bold red]x.mp4" in r.stdout
    r = run(lib, "label", name, "[/]")  # a closing tag alone used to crash rich
    assert r.exit_code == 0 and "[/]" in r.stdout


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("VSEARCH_BATCH_SIZE", "-1"),
        ("VSEARCH_BATCH_SIZE", "lots"),
        ("VSEARCH_DECODERS", "1.5"),
        ("VSEARCH_FPS", "nan"),
        ("VSEARCH_FPS", "inf"),
        ("VSEARCH_FPS", "0"),
        ("VSEARCH_LOCK_TIMEOUT", "-3"),
        ("VSEARCH_LOCK_TIMEOUT", "NaN"),
    ],
)
def test_bad_settings_refused_before_any_work(hostile, var, value):
    lib = hostile["lib"]
    before = json.loads(run(lib, "videos", "--json").stdout)
    r = run(lib, "index", "--retry-failed", str(hostile["folder"]), env={var: value})
    assert var in one_error_line(r)
    assert json.loads(run(lib, "videos", "--json").stdout) == before  # nothing deleted


@pytest.mark.parametrize(
    "args",
    [
        ["remove", ""],
        ["remove", "   "],
        ["index", ""],
        ["init", "--fps", "0"],
        ["init", "--fps", "nan"],
        ["init", "--fps", "-1"],
        ["search", "--video", "{clip}", "--start", "nan"],
        ["search", "--video", "{clip}", "--end", "inf"],
        ["search", "--video", "{clip}", "--end", "1e-9"],
        ["search", "--video", "{clip}", "--threshold", "nan"],
        ["dups", "--min-duration", "nan"],
        ["dups", "--threshold", "inf"],
        ["label", "{clip}", "x", "--start", "nan"],
        ["label", "{clip}", "x", "--end", "inf"],
        ["classify", "{clip}", "--labels", "a,b", "--prompt", "{}{}"],
        ["classify", "{clip}", "--labels", "a,b", "--prompt", "{0}"],
    ],
)
def test_bad_arguments_are_one_line_exit_2(hostile, tmp_path, args):
    lib = hostile["lib"]
    clip = str(hostile["folder"] / "plain.mp4")
    if args[0] == "init":
        lib = tmp_path / "new"
    before = run(lib, "videos", "--json").stdout if lib.exists() else None
    r = run(lib, *[clip if a == "{clip}" else a for a in args])
    one_error_line(r)
    if before is not None:
        assert run(lib, "videos", "--json").stdout == before
    assert not (tmp_path / "new" / "library.db").exists()


def test_label_times_never_print_non_json(hostile):
    r = run(hostile["lib"], "labels", "--json")
    assert r.exit_code == 0
    assert "Infinity" not in r.stdout and "NaN" not in r.stdout
    json.load(io.StringIO(r.stdout))
