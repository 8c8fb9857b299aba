"""Helpers shared by the tests: the one ffmpeg runner, codec settings, the lavfi footage
builders and the library consistency check. Fixtures stay in the conftest.py files and call
these; a builder that only one test file uses stays in that file.

Importable from every test as ``from helpers import ...`` (``pythonpath`` in pyproject.toml).
The builders pass ffmpeg the same arguments every time, so the footage is the same bytes on
the same ffmpeg: tests may depend on it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from click.testing import Result

FFMPEG = ("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y")
FFMPEG_TIMEOUT_S = 300  # a generous bound for a busy shared machine: clips take a second or two
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fast, for most clips
H264 = ("-c:v", "libx264", "-pix_fmt", "yuv420p")  # x264 at its default preset
# Less common encoders: (file name, ffmpeg encoder, output options). A test uses the ones this
# ffmpeg has (has_encoder).
CODECS = [
    ("mjpeg.avi", "mjpeg", ("-c:v", "mjpeg", "-q:v", "5")),
    ("ffv1.mkv", "ffv1", ("-c:v", "ffv1")),
    ("huffyuv.avi", "huffyuv", ("-c:v", "huffyuv")),
    ("theora.ogv", "libtheora", ("-c:v", "libtheora")),
    ("vp9.webm", "libvpx-vp9", ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8")),
    ("cinepak.mov", "cinepak", ("-c:v", "cinepak")),
    ("msvideo1.avi", "msvideo1", ("-c:v", "msvideo1")),
    ("mpeg2.ts", "mpeg2video", ("-c:v", "mpeg2video")),
]
SIZE, RATE = "128x96", 10  # make_video's defaults
SMALL = "64x48"  # the media tests' clips

Arg = str | os.PathLike[str]


class FFmpegError(subprocess.CalledProcessError):
    """An ffmpeg run that failed; its message carries the command and ffmpeg's stderr."""

    def __str__(self) -> str:
        err = self.stderr.decode(errors="replace") if isinstance(self.stderr, bytes) else ""
        command = " ".join(map(str, self.cmd))
        return f"ffmpeg exited with {self.returncode}: {command}\n{err.strip()}"


def run_ffmpeg(*args: Arg, timeout: float = FFMPEG_TIMEOUT_S) -> None:
    """``ffmpeg ARGS`` (quiet, overwriting); raises FFmpegError with ffmpeg's stderr."""
    cmd = [*FFMPEG, *map(os.fspath, args)]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if proc.returncode:
        raise FFmpegError(proc.returncode, cmd, proc.stdout, proc.stderr)


def skip_without_ffmpeg(*tools: str) -> None:
    """Skip the calling test (or fixture) where ffmpeg (and the other ``tools``) is missing."""
    missing = [t for t in ("ffmpeg", *tools) if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed")


@functools.cache
def has_encoder(name: str) -> bool:
    """Whether this ffmpeg build has the encoder ``name`` (libx264, libvpx-vp9, ...)."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return any(line.split()[1:2] == [name] for line in out.stdout.splitlines() if line.strip())


# --- footage -----------------------------------------------------------------------------------


def lavfi(out: Path, source: str, *codec: str) -> Path:
    """``out`` made from the lavfi graph ``source``; ``codec``: the output options (X264 if
    none), e.g. ``"-frames:v", "1"`` for a still image."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg("-f", "lavfi", "-i", source, *(codec or X264), out)
    return out


def make_video(
    path: Path,
    source: str,
    seconds: float,
    size: str = SIZE,
    rate: int = RATE,
    vf: str | None = None,
    codec: str = "libx264",
) -> Path:
    """A clip from an ffmpeg lavfi source: a name (testsrc2, mandelbrot...) or a full graph."""
    src = source if "=" in source else f"{source}=size={size}:rate={rate}"
    filters = ("-vf", vf) if vf else ()
    return lavfi(path, src, "-t", str(seconds), *filters, "-pix_fmt", "yuv420p", "-c:v", codec)


def make_videos(
    root: Path, n: int, *, seconds: int = 2, hue_step: int = 40, name: str = "clip{:02d}.mp4"
) -> Path:
    """``n`` small distinct testsrc2 clips in ``root``: ``seconds`` to ``seconds + 2`` long,
    hue turned by ``hue_step`` degrees from one to the next."""
    for i in range(n):
        src = f"testsrc2=s={SMALL}:r={RATE}:d={seconds + i % 3},hue=h={i * hue_step}"
        lavfi(root / name.format(i), src, *X264)
    return root


def color_src(color: str, seconds: float, rate: float = RATE, size: str = SMALL) -> str:
    """A lavfi source of one colour."""
    return f"color=c={color}:s={size}:r={rate}:d={seconds}"


def concat_sources(out: Path, sources: Sequence[str], *codec: str) -> Path:
    """The lavfi ``sources`` one after the other in ``out`` (each keeps its own rate)."""
    inputs = [arg for src in sources for arg in ("-f", "lavfi", "-i", src)]
    labels = "".join(f"[{i}:v]" for i in range(len(sources)))
    graph = f"{labels}concat=n={len(sources)}:v=1:a=0[v]"
    run_ffmpeg(*inputs, "-filter_complex", graph, "-map", "[v]", *codec, out)
    return out


def concat_videos(out: Path, parts: Sequence[Path], size: str = SIZE, rate: int = RATE) -> Path:
    """The video files ``parts`` one after the other, scaled to ``size`` at ``rate``."""
    w, h = size.split("x")
    inputs: list[Arg] = []
    for p in parts:
        inputs += ["-i", p]
    chains = "".join(f"[{i}:v]scale={w}:{h},setsar=1,fps={rate}[v{i}];" for i in range(len(parts)))
    joined = "".join(f"[v{i}]" for i in range(len(parts)))
    graph = f"{chains}{joined}concat=n={len(parts)}:v=1:a=0[o]"
    run_ffmpeg(*inputs, "-filter_complex", graph, "-map", "[o]", "-pix_fmt", "yuv420p",
               "-c:v", "libx264", out)  # fmt: skip
    return out


def excerpt(video: Path, out: Path, start: float, seconds: float, *codec: str) -> Path:
    """``seconds`` of ``video`` from ``start`` (input seeking), re-encoded with ``codec``
    output options (ffmpeg's defaults for ``out`` if none)."""
    run_ffmpeg("-ss", str(start), "-t", str(seconds), "-i", video, *codec, out)
    return out


def frame_image(
    video: Path, out: Path, *, at: float | None = None, number: int | None = None
) -> Path:
    """One frame of ``video`` as an image: the one shown ``at`` seconds, or frame ``number``
    (0-based, counted by ffmpeg's select filter)."""
    if (at is None) == (number is None):
        raise ValueError("give exactly one of at= and number=")
    if at is not None:
        run_ffmpeg("-ss", str(at), "-i", video, "-frames:v", "1", out)
    else:
        run_ffmpeg("-i", video, "-vf", f"select=eq(n\\,{number})", "-frames:v", "1", out)
    return out


def faststart(video: Path, out: Path) -> Path:
    """``video`` remuxed with its index (moov) first, so that half a file still has one."""
    run_ffmpeg("-i", video, "-c", "copy", "-movflags", "+faststart", out)
    return out


def with_display_rotation(video: Path, out: Path, degrees: int = 90) -> Path:
    """``video`` remuxed with a display rotation of ``degrees`` (a display matrix)."""
    try:  # ffmpeg >= 6
        run_ffmpeg("-display_rotation", str(degrees), "-i", video, "-c", "copy", out)
    except subprocess.CalledProcessError:
        run_ffmpeg("-i", video, "-c", "copy", "-metadata:s:v", f"rotate={degrees}", out)
    return out


def tone(out: Path) -> Path:
    """A one-second sine tone with no video stream."""
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", out)
    return out


# --- libraries ---------------------------------------------------------------------------------


def unit_sequences(dim: int, lengths: Sequence[int], seed: int = 0) -> list[np.ndarray]:
    """Random frame-vector sequences of unit rows, one (n, dim) float32 array per length."""
    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        x = rng.normal(size=(n, dim)).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


def run_cli(library: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``vsearch --library LIBRARY ARGS`` through Typer's CliRunner, in this process."""
    from typer.testing import CliRunner

    from vsearch.cli import app

    return CliRunner().invoke(app, ["--library", str(library), *args], env=env)


def assert_consistent(root: Path, *, create: bool = False) -> dict[str, int]:
    """Open the library at ``root`` as a user would and check that index and database agree.

    Returns counts: frames in the database, ids in the index file as found, stale ids that
    the file held and the database did not (repaired on open).
    """
    import faiss

    from vsearch.config import Settings
    from vsearch.db import queries
    from vsearch.pipeline.library import FRAME_INDEX, Library

    index_file = root / FRAME_INDEX
    file_ids = np.zeros(0, np.int64)
    if index_file.exists():  # a save is atomic: the file is always a whole index
        raw = faiss.read_index(str(index_file))
        file_ids = faiss.vector_to_array(raw.id_map).astype(np.int64)
        assert len(np.unique(file_ids)) == len(file_ids), "duplicate ids in the index file"
    settings = Settings.load(library=root, model="colorgrid")
    with Library.open(settings=settings, create=create) as lib:
        with lib.store.sessions() as session:
            db_ids = np.sort(queries.frame_ids(session=session))
            videos = queries.list_videos(session=session)
            for video in videos:
                ids = queries.video_frames(video.id, session=session).ids
                assert len(ids) == video.n_frames, f"{video.path}: frames != n_frames"
                assert video.status in ("indexed", "partial", "failed"), video.status
        index_ids = np.sort(lib.store.frame_index.ids())
        assert len(np.unique(index_ids)) == len(index_ids), "duplicate ids in the index"
        assert np.array_equal(index_ids, db_ids), "index ids differ from the frame ids in the DB"
        assert lib.doctor().checks["schema"].ok
        with lib.store.sessions() as session:
            db_clips = np.sort(queries.clip_ids(session=session))
        clip_ids = np.sort(lib.store.clip_index.ids())
        assert len(np.unique(clip_ids)) == len(clip_ids), "duplicate ids in the clip index"
        assert np.array_equal(clip_ids, db_clips), "clip index ids differ from the DB's clips"
    return {
        "db": len(db_ids),
        "file": len(file_ids),
        "stale": len(np.setdiff1d(file_ids, db_ids)),
        "videos": len(videos),
    }
