"""Checks of numbers and times that come from outside (arguments, CSV files, settings).

Every value is checked before any work starts; a bad one is a UsageError (exit 2) that names
it as the parameter of the Python API (`` `end` ``), which the CLI shows as its flag. NaN and
infinities are never accepted: they compare false with everything and would slip through
range tests, and JSON cannot carry them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from vsearch.errors import UsageError


def finite_number(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """``value`` as a float when finite and within [low, high] (``low_open``: (low, high])."""
    if isinstance(value, bool):
        raise UsageError(f"`{name}` must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"`{name}` must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"`{name}` must be a finite number, got {value!r}")
    too_low = low is not None and (number < low or (low_open and number == low))
    if too_low or (high is not None and number > high):
        left = "(" if low_open else "["
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}]"
        raise UsageError(f"`{name}` must be in {left}{lo}, {hi}, got {number:g}")
    return number


def positive_count(name: str, value: int, *, high: int | None = None) -> int:
    """A whole number >= 1 (``k``, ``limit``, epochs...)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"`{name}` must be a whole number, got {value!r}")
    if value < 1 or (high is not None and value > high):
        bound = f", at most {high}" if high is not None else ""
        raise UsageError(f"`{name}` must be at least 1{bound}, got {value}")
    return value


def time_range(
    start: float | None,
    end: float | None,
    *,
    min_length: float = 0.0,
    duration: float | None = None,
) -> tuple[float | None, float | None]:
    """Check a ``[start, end)`` range in seconds: finite, start >= 0, end > start.

    ``min_length`` (e.g. one sampling interval) refuses a range too short to hold a frame,
    instead of silently using the whole video. With a known ``duration`` (> 0) of the clip,
    a start at or past its end is refused and the range comes back concrete: start 0 when
    not given, the end clamped to the duration.
    """
    if start is not None:
        start = finite_number("start", start, low=0.0)
    if end is not None:
        end = finite_number("end", end, low=0.0, low_open=True)
    lo = start or 0.0
    if end is not None and end <= lo:
        raise UsageError(f"`end` ({end:g}) must come after `start` ({lo:g})")
    if end is not None and min_length > 0 and end - lo < min_length:
        raise UsageError(
            f"the range {lo:g}..{end:g} s is shorter than one sampled frame ({min_length:g} s)"
        )
    if duration is not None and duration > 0:
        if lo >= duration:
            raise UsageError(f"`start` {lo:g} s is past the end of the clip ({duration:.3f} s)")
        return lo, duration if end is None else min(end, duration)
    return start, end


def check_paths(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse no path or an empty one (it would silently mean the current folder)."""
    if not paths:
        raise UsageError("give at least one video file or folder")
    if any(not os.fspath(p).strip() for p in paths):
        raise UsageError("an empty path was given: name a video file or folder")
