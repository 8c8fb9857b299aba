"""Bad query input gives one clear line and a usage exit code, never a traceback."""

from __future__ import annotations

import math

import pytest
from helpers import lavfi
from typer.testing import CliRunner

from vsearch.checks import time_range
from vsearch.cli import app
from vsearch.errors import UsageError

runner = CliRunner()


@pytest.mark.parametrize(
    ("start", "end", "duration", "expected"),
    [
        (None, None, 10.0, (0.0, 10.0)),
        (2.0, None, 10.0, (2.0, 10.0)),
        (2.0, 50.0, 10.0, (2.0, 10.0)),  # an end past the clip is clamped
        (0.0, 4.0, 0.0, (0.0, 4.0)),  # unknown duration: taken as given
        (None, None, None, (None, None)),  # nothing known: nothing made up
    ],
)
def test_time_range_accepted(start, end, duration, expected):
    assert time_range(start, end, duration=duration) == expected


@pytest.mark.parametrize(
    ("start", "end", "duration", "match"),
    [
        (-1.0, None, 10.0, r"`start` must be in \[0"),
        (5.0, 5.0, 10.0, "must come after `start`"),
        (6.0, 2.0, 10.0, "must come after `start`"),
        (10.0, None, 10.0, "past the end"),
        (1e9, None, 10.0, "past the end"),
        (math.nan, None, 10.0, "finite number"),
        (0.0, math.inf, 10.0, "finite number"),
    ],
)
def test_absurd_time_range_refused(start, end, duration, match):
    with pytest.raises(UsageError, match=match):
        time_range(start, end, duration=duration)


def one_error_line(result) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsearch: error: "), result.stderr
    return lines[0]


def test_query_inputs_from_the_command_line(tmp_path):
    lib = str(tmp_path / "lib")
    assert runner.invoke(app, ["--library", lib, "init", "--model", "colorgrid"]).exit_code == 0
    image = tmp_path / "q.png"
    lavfi(image, "testsrc2=s=64x48", "-frames:v", "1")

    empty = runner.invoke(app, ["--library", lib, "search", str(image)])
    assert empty.exit_code == 1 and "no indexed frames" in one_error_line(empty)

    lavfi(tmp_path / "v" / "a.mp4", "testsrc2=s=64x48:r=10:d=2")
    empty = runner.invoke(
        app, ["--library", lib, "search", "--video", str(tmp_path / "v" / "a.mp4")]
    )
    assert empty.exit_code == 1 and "no indexed frames" in one_error_line(empty)

    assert runner.invoke(app, ["--library", lib, "index", str(tmp_path / "v")]).exit_code == 0

    missing = runner.invoke(app, ["--library", lib, "search", str(tmp_path / "nope.png")])
    assert missing.exit_code != 0 and "nope.png" in one_error_line(missing)

    fake = tmp_path / "fake.png"
    fake.write_text("not an image at all\n")
    bad = runner.invoke(app, ["--library", lib, "search", str(fake)])
    assert bad.exit_code != 0 and "fake.png" in one_error_line(bad)

    for k in ("0", "-3"):
        result = runner.invoke(app, ["--library", lib, "search", str(image), "-k", k])
        assert result.exit_code == 2 and "positive" in one_error_line(result)

    ok = runner.invoke(app, ["--library", lib, "search", str(image), "-k", "1", "--json"])
    assert ok.exit_code == 0, ok.output
