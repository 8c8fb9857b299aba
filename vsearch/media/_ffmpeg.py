"""Helpers shared by the ffmpeg-backed modules: safe input names, stderr parsing, version."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from vsearch.errors import FfmpegNotFoundError

# ffmpeg prints "[ctx @ 0x55...] [error] message" or "[error] message" with -loglevel level+...
_LEVEL_LINE = re.compile(r"^(?:\[[^\]]* @ 0x[0-9a-fA-F]+\] )?\[(\w+)\] ?(.*)$")
_ERROR_LEVELS = frozenset({"error", "fatal", "panic"})
GENERIC_ERRORS = ("invalid data found", "conversion failed", "error opening input", "error while")


def input_name(path: str | os.PathLike[str]) -> str:
    """The name to give ffmpeg for a local file.

    The ``file:`` protocol prefix makes ffmpeg read the name literally: a name that starts
    with '-' is not an option and one that contains ':' is not another protocol.
    """
    return "file:" + os.path.abspath(os.fspath(path))


@contextlib.contextmanager
def utf8_alias(path: str | os.PathLike[str]) -> Iterator[str]:
    """A UTF-8 name for ``path`` while the block runs (for ffmpeg-python, which cannot carry
    file names that are not valid UTF-8): the name itself when it is valid, else a symlink
    to it in a private temporary folder, removed afterwards."""
    name = os.path.abspath(os.fspath(path))
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        yield name
        return
    folder = tempfile.mkdtemp(prefix="vsearch-name-")
    try:
        ext = os.path.splitext(name)[1]
        try:
            ext.encode("ascii")
        except UnicodeEncodeError:
            ext = ""
        link = os.path.join(folder, "input" + ext)
        os.symlink(name, link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def short_cause(stderr: str | bytes, path: str | os.PathLike[str] | None = None) -> str:
    """One line naming why ffmpeg/ffprobe failed, taken from its stderr.

    With ``-loglevel level+...`` the error lines are picked out; the most specific one wins:
    the last error line that is not a generic wrap-up ("Invalid data found when processing
    input", "Conversion failed!"), else the last error line, else the last line. The
    ``file:/path: `` prefix ffmpeg puts in front of messages is dropped.
    """
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    if path is not None:
        name = input_name(path)
        text = text.replace(name + ": ", "").replace(name, "<input>")
    errors: list[str] = []
    others: list[str] = []
    for raw in text.splitlines():
        match = _LEVEL_LINE.match(raw.strip())
        if match is None:
            continue
        level, message = match.group(1), match.group(2).strip()
        if message:
            (errors if level in _ERROR_LEVELS else others).append(message)
    specific = [m for m in errors if not m.lower().startswith(GENERIC_ERRORS)]
    for candidates in (specific, errors, others):
        if candidates:
            return candidates[-1]
    return "ffmpeg failed without a message"


def error_lines(stderr_lines: list[str]) -> list[str]:
    """The messages of the error-level lines among ``-loglevel level+info`` stderr lines."""
    found = []
    for line in stderr_lines:
        match = _LEVEL_LINE.match(line.strip())
        if match is not None and match.group(1) in _ERROR_LEVELS:
            found.append(match.group(2).strip())
    return found


@functools.lru_cache(maxsize=1)
def _version_line() -> str:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise FfmpegNotFoundError()
    try:
        proc = subprocess.run(
            ["ffmpeg", "-hide_banner", "-version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise FfmpegNotFoundError() from exc
    first = proc.stdout.decode("utf-8", "replace").splitlines()[:1]
    if proc.returncode != 0 or not first or not first[0].startswith("ffmpeg version"):
        raise FfmpegNotFoundError()
    words = first[0].split()
    return " ".join(words[:3])


def check_ffmpeg() -> str:
    """``"ffmpeg version x.y"``; FfmpegNotFoundError when ffmpeg or ffprobe is missing."""
    return _version_line()


def supports_fps_mode() -> bool:
    """True when ffmpeg knows ``-fps_mode`` (5.1 and later; git builds are assumed recent)."""
    match = re.match(r"ffmpeg version n?(\d+)\.(\d+)", _version_line())
    return match is None or (int(match.group(1)), int(match.group(2))) >= (5, 1)
