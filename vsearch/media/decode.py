"""``iter_frames``: sample a video at a fixed rate with one ffmpeg process; thumbnails.

Sampling is by presentation timestamp, so variable frame rate input is handled: the video time
line is cut into buckets of ``1/fps`` seconds and the first frame whose timestamp falls in each
bucket is kept (ffmpeg ``select`` filter). Each kept frame's true timestamp is read from the
``showinfo`` filter placed after it (stderr, one line per frame, always written before the frame
reaches stdout), so a reported time is the presentation time of the frame shown. The time is
the frame's integer ``pts`` times the filter's time base, not the printed ``pts_time`` (six
significant digits in ffmpeg 5: 0.1 s steps past 10^4 s, too coarse for frame numbers). A
bucket with no frame (a gap in a VFR file longer than ``1/fps``) gives no sample.

Sparse sampling (at most one frame in SPARSE_RATIO of the native rate) tells the decoder to
skip non-reference frames (``-skip_frame noref``): no other frame is predicted from them, so
every frame still decoded is exact, and a sample is at most a frame or two later than the
first frame of its bucket while the decoder does about half the work on streams with
B-frames (a 1080p x264 file sampled at 1 frame/s: 3.2 -> 1.7 CPU-seconds). A stream whose
every frame is non-reference would give nothing that way; it is decoded again in full.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Generator

import ffmpeg
import numpy as np

from vsearch.checks import time_range
from vsearch.errors import (
    DecodeError,
    FfmpegNotFoundError,
    PartialDecodeError,
    UsageError,
)
from vsearch.media._ffmpeg import (
    error_lines,
    input_name,
    short_cause,
    supports_fps_mode,
    utf8_alias,
)
from vsearch.media.framing import check_framing, trim_borders
from vsearch.media.informative import informative_mask
from vsearch.media.probe import check_readable, probe_video
from vsearch.types import DEFAULT_FRAMING, FrameBatch, Framing, VideoInfo

log = logging.getLogger(__name__)

_SHOWINFO = re.compile(r"\bn:\s*\d+\s+pts:\s*(\S+)\s+pts_time:(\S+)")
_TIME_BASE = re.compile(r"\bconfig in time_base:\s*(\d+)/(\d+)")
_EOF = object()
# global options go first: ffmpeg-python's global_args() would put them after the output
_GLOBAL_ARGS = ("-nostdin", "-hide_banner", "-nostats")
_TIME_WAIT_S = 30.0  # longest wait for a frame's showinfo line once its pixels have arrived
# Stretch non-square pixels (anamorphic video) to the displayed shape; a no-op when SAR is 1.
_SQUARE_PIXELS = "scale=w='max(2,trunc(iw*sar/2)*2)':h=ih,setsar=1"
SPARSE_RATIO = 8  # sampling at most 1 frame in this many skips non-reference frames
_SPARSE_SKIP = "noref"  # the decoder's -skip_frame value when sampling sparsely


def sample_filter(fps: float, size: int, framing: str = DEFAULT_FRAMING) -> str:
    """The ffmpeg filter chain: pick one frame per ``1/fps`` bucket, make it ``size`` square.

    ``full`` framing squeezes the whole picture to the square (its borders are trimmed
    afterwards, per frame, by ``vsearch.media.framing``). ``centre`` framing first stretches
    non-square pixels (anamorphic video, SAR != 1) to the displayed shape, scales so the short
    side is ``size`` (bicubic) and crops the centre square. showinfo reports each kept frame's
    timestamp.
    """
    fps, size = float(fps), int(size)  # numpy scalars would print as np.float64(...)
    bucket = f"floor(t*{fps!r}+1e-6)"
    prev = f"floor(prev_selected_t*{fps!r}+1e-6)"
    if check_framing(framing) is Framing.FULL:
        geometry = [f"scale={size}:{size}:flags=bicubic"]
    else:
        geometry = [
            _SQUARE_PIXELS,
            f"scale=w='if(lt(iw,ih),{size},-1)':h='if(lt(iw,ih),-1,{size})':flags=bicubic",
            f"crop={size}:{size}",
        ]
    return ",".join(
        [f"select='isnan(prev_selected_t)+gt({bucket},{prev})'", *geometry, "setsar=1", "showinfo"]
    )


def iter_frames(
    path: str | os.PathLike[str],
    fps: float = 1.0,
    size: int = 224,
    *,
    info: VideoInfo | None = None,
    start: float | None = None,
    end: float | None = None,
    chunk: int = 32,
    threads: int = 2,
    framing: str = DEFAULT_FRAMING,
) -> Generator[FrameBatch, None, None]:
    """Yield FrameBatch chunks (at most ``chunk`` frames) of ``path`` sampled at ``fps``.

    Frames are upright (rotation applied), RGB, ``size`` x ``size`` in the given ``framing``
    (``vsearch.media.framing``); times are seconds from the start of the video, also when
    ``start``/``end`` restrict the range (fast input seek, then exact trim). ``threads``
    bounds ffmpeg's decoder threads, for many parallel decoders. Raises DecodeError when
    nothing decodes, and PartialDecodeError after yielding the frames decoded before a
    failure (truncated file, corrupt tail).
    """
    name = os.fspath(path)
    _check_args(fps, size, chunk, start, end)
    check_framing(framing)
    if info is None:
        info = probe_video(name)
    else:
        check_readable(name)
    if start is not None:
        try:
            time_range(start, end, duration=info.duration)
        except UsageError as exc:
            raise UsageError(f"{name}: {exc}") from None
    sparse = info.fps > 0 and fps * SPARSE_RATIO <= info.fps
    yielded = False
    try:
        for batch in _decode(name, info, fps, size, start, end, chunk, threads, framing, sparse):
            yielded = True
            yield batch
    except DecodeError:
        if not sparse or yielded:
            raise
        log.debug("%s: nothing decoded without non-reference frames, decoding them all", name)
        yield from _decode(name, info, fps, size, start, end, chunk, threads, framing, False)


def _decode(
    name: str,
    info: VideoInfo,
    fps: float,
    size: int,
    start: float | None,
    end: float | None,
    chunk: int,
    threads: int,
    framing: str,
    sparse: bool,
) -> Generator[FrameBatch, None, None]:
    """One ffmpeg run of ``iter_frames`` (``sparse``: non-reference frames skipped)."""
    trim = check_framing(framing) is Framing.FULL
    aliases = contextlib.ExitStack()
    alias = aliases.enter_context(utf8_alias(name))
    try:
        proc = _start_ffmpeg(alias, fps, size, start, end, threads, framing, sparse)
    except BaseException:
        aliases.close()
        raise
    aliases.callback(_stop, proc)  # stop ffmpeg before its input name goes away
    stderr = _StderrReader(proc.stderr)
    offset = float(start or 0.0)
    frame_bytes = size * size * 3
    count = 0
    last_time = -1.0
    times: list[float] = []
    images: list[np.ndarray] = []
    try:
        while True:
            raw = _read_exact(proc.stdout, frame_bytes)
            if len(raw) < frame_bytes:
                break
            frame_time = stderr.next_time()
            if frame_time is None:
                log.warning("%s: no timestamp for frame %d, estimating it", name, count)
                frame_time = last_time + 1.0 / fps if count else 0.0
            else:
                frame_time += offset
            last_time = frame_time
            times.append(frame_time)
            image = np.frombuffer(raw, np.uint8).reshape(size, size, 3)
            images.append(trim_borders(image, size) if trim else image)
            count += 1
            if len(times) >= chunk:
                yield _batch(times, images)
                times, images = [], []
        if times:
            yield _batch(times, images)
        returncode = proc.wait()
        stderr.join()
        _check_outcome(name, alias, info, returncode, stderr, count, last_time, fps, start, end)
    finally:
        aliases.close()
        stderr.join()


def _check_args(fps: float, size: int, chunk: int, start: float | None, end: float | None) -> None:
    if not fps > 0 or not size > 0 or not chunk > 0:
        raise UsageError(f"fps, size and chunk must be positive (got {fps}, {size}, {chunk})")
    time_range(start, end)


def _start_ffmpeg(
    name: str,
    fps: float,
    size: int,
    start: float | None,
    end: float | None,
    threads: int,
    framing: str,
    sparse: bool = False,
) -> subprocess.Popen:
    input_opts: dict[str, object] = {"threads": threads}
    if sparse:
        input_opts["skip_frame"] = _SPARSE_SKIP
    if start:
        input_opts["ss"] = f"{start:.6f}"
    if end is not None:
        input_opts["t"] = f"{end - (start or 0.0):.6f}"
    sync = {"fps_mode": "passthrough"} if supports_fps_mode() else {"vsync": "passthrough"}
    stream = (
        ffmpeg.input(input_name(name), **input_opts)
        .output(
            "pipe:", vf=sample_filter(fps, size, framing), format="rawvideo", pix_fmt="rgb24",
            an=None, sn=None, dn=None, filter_threads=1, **sync,
        )
    )  # fmt: skip
    cmd = ["ffmpeg", *_GLOBAL_ARGS, "-loglevel", "level+info"]
    log.debug("%s %s", " ".join(cmd), " ".join(stream.get_args()))
    try:
        return stream.run_async(cmd=cmd, pipe_stdout=True, pipe_stderr=True)
    except FileNotFoundError as exc:
        raise FfmpegNotFoundError() from exc


def _check_outcome(
    name: str,
    alias: str,
    info: VideoInfo,
    returncode: int,
    stderr: _StderrReader,
    count: int,
    last_time: float,
    fps: float,
    start: float | None,
    end: float | None,
) -> None:
    lines = list(stderr.lines)
    errors = error_lines(lines)
    cause = short_cause("\n".join(lines), alias) if errors or returncode else ""
    if returncode < 0:  # killed (out of memory, an operator...): say so, not a stale line
        cause = f"ffmpeg was killed by signal {_signal_name(-returncode)}" + (
            f" ({cause})" if errors else ""
        )
    if count == 0:
        if returncode != 0 or errors:
            raise DecodeError(name, f"no frames could be decoded ({cause})")
        if info.nb_frames == 0:
            raise DecodeError(name, "video has no frames")
        if info.duration > 0:
            raise DecodeError(name, "no frames could be decoded")
        raise DecodeError(name, "video has no frames")
    if returncode != 0:
        raise PartialDecodeError(name, cause, count)
    if errors:
        expected_end = min(end, info.duration) if end is not None and info.duration else end
        expected_end = info.duration if expected_end is None else expected_end
        if expected_end and last_time < expected_end - 1.0 / fps - 0.5:
            raise PartialDecodeError(name, f"{cause}; stopped at {last_time:.1f} s", count)
        log.warning("%s: ffmpeg reported errors but decoded to the end: %s", name, cause)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _batch(times: list[float], images: list[np.ndarray]) -> FrameBatch:
    stacked = np.stack(images)
    return FrameBatch(
        times=np.asarray(times, dtype=np.float64),
        images=stacked,
        informative=informative_mask(stacked),
    )


def _read_exact(stream, n: int) -> bytes:
    parts = []
    remaining = n
    while remaining:
        data = stream.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("ffmpeg (pid %d) did not exit after kill", proc.pid)


class _StderrReader:
    """Drains ffmpeg's stderr in a thread: frame times to a queue, other lines kept."""

    def __init__(self, pipe) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=2000)
        self._times: queue.Queue = queue.Queue()
        self._timed_out = False
        self._time_base: tuple[int, int] | None = None  # showinfo's input time base
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe) -> None:
        try:
            for raw in pipe:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                match = _SHOWINFO.search(line)
                if match is not None:
                    self._times.put(self._time_of(match.group(1), match.group(2)))
                elif "Parsed_showinfo" in line:
                    base = _TIME_BASE.search(line)
                    if base is not None and int(base.group(2)) > 0:
                        self._time_base = (int(base.group(1)), int(base.group(2)))
                else:
                    self.lines.append(line)
        except (OSError, ValueError):
            pass
        finally:
            self._times.put(_EOF)

    def _time_of(self, pts: str, pts_time: str) -> float | None:
        """pts x time base when both are known (exact), else the printed pts_time."""
        if self._time_base is not None and pts.lstrip("-").isdigit():
            num, den = self._time_base
            return int(pts) * num / den
        return _parse_time(pts_time)

    def next_time(self) -> float | None:
        """The next frame's showinfo time; None when unknown (then estimated by the caller)."""
        if self._timed_out:  # showinfo lines never came: do not wait once per frame
            return None
        try:
            value = self._times.get(timeout=_TIME_WAIT_S)
        except queue.Empty:
            self._timed_out = True
            return None
        if value is _EOF:
            self._times.put(_EOF)
            return None
        return value

    def join(self) -> None:
        self._thread.join(timeout=10)


def _parse_time(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None


def extract_thumbnail(path: str | os.PathLike[str], time: float, width: int = 240) -> bytes:
    """JPEG bytes of the (upright) frame shown at ``time`` seconds, ``width`` px wide.

    A time in the last fraction of a second can fall after the last frame (durations are
    rounded up to a whole sampling step): then the frame shown just before is taken.
    """
    name = os.fspath(path)
    check_readable(name)
    cause = f"no frame at {time:g} s"
    for t in dict.fromkeys(max(0.0, time - back) for back in (0.0, 0.3, 1.0)):
        out, err = _thumbnail_at(name, t, width)
        if out:
            return out
        if err and err.strip():
            cause = short_cause(err, name)
    raise DecodeError(name, cause)


def _thumbnail_at(name: str, time: float, width: int) -> tuple[bytes, bytes]:
    with utf8_alias(name) as alias:
        return _thumbnail_of(alias, name, time, width)


def _thumbnail_of(alias: str, name: str, time: float, width: int) -> tuple[bytes, bytes]:
    stream = (
        ffmpeg.input(input_name(alias), ss=f"{time:.6f}")
        .output(
            "pipe:", vframes=1, vf=f"{_SQUARE_PIXELS},scale={int(width)}:-2:flags=bicubic",
            format="image2pipe",
            vcodec="mjpeg", **{"q:v": 3},
        )
    )  # fmt: skip
    cmd = ["ffmpeg", *_GLOBAL_ARGS, "-loglevel", "error"]
    try:
        return stream.run(cmd=cmd, capture_stdout=True, capture_stderr=True)
    except FileNotFoundError as exc:
        raise FfmpegNotFoundError() from exc
    except ffmpeg.Error as exc:
        raise DecodeError(name, short_cause(exc.stderr or b"", alias)) from None
