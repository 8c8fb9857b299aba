"""``probe_video``: what ffprobe says of a file's video stream, with clear errors."""

from __future__ import annotations

import logging
import os
import stat
from typing import Any

import ffmpeg

from vsearch.errors import (
    DecodeError,
    FfmpegNotFoundError,
    NotAVideoError,
    UnreadableFileError,
)
from vsearch.media._ffmpeg import GENERIC_ERRORS, input_name, short_cause, utf8_alias
from vsearch.media.files import describe_os_error, special_file_cause
from vsearch.types import VideoInfo

log = logging.getLogger(__name__)

MAX_SIDE = 16384
# ffprobe demuxer names of single images: a PNG is a "video" stream of one frame to ffprobe.
_IMAGE_FORMATS = ("image2", "_pipe", "apng", "tiff")
_MP4_BOXES = frozenset({b"ftyp", b"mdat", b"moov", b"free", b"skip", b"wide", b"pnot"})
_MAX_FPS = 1000.0  # r_frame_rate of VFR files is often the time base (e.g. 16000/1)
_VFR_TOLERANCE = 0.01  # relative difference between r_frame_rate and avg_frame_rate


def check_readable(path: str | os.PathLike[str]) -> os.stat_result:
    """Raise UnreadableFileError unless ``path`` is a regular file this process can open."""
    name = os.fspath(path)
    try:
        st = os.stat(name)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableFileError(name, "is a directory")
        if not stat.S_ISREG(st.st_mode):  # opening a FIFO would block
            raise UnreadableFileError(name, special_file_cause(st))
        with open(name, "rb"):
            pass
    except OSError as exc:
        raise UnreadableFileError(name, describe_os_error(exc)) from exc
    return st


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path`` (cover art and other still pictures skipped).

    Raises UnreadableFileError (missing, no permission, a folder), NotAVideoError (empty file,
    not a media file, audio only, a still image), DecodeError (a video stream ffprobe cannot
    use, or frames larger than 16384 px) and FfmpegNotFoundError.
    """
    name = os.fspath(path)
    if check_readable(name).st_size == 0:
        raise NotAVideoError(name, "empty file (0 bytes)")
    data = _run_ffprobe(name)
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not video:
        kinds = {s.get("codec_type") for s in streams}
        what = "audio only" if "audio" in kinds else "no streams" if not streams else "no video"
        raise NotAVideoError(name, f"no video stream ({what})")
    if _is_image_format(fmt.get("format_name", "")):
        raise NotAVideoError(name, "a still image, not a video")
    return _video_info(name, video[0], fmt)


def _run_ffprobe(name: str) -> dict[str, Any]:
    with utf8_alias(name) as alias:
        try:
            return ffmpeg.probe(input_name(alias), v="level+error")
        except FileNotFoundError as exc:  # the ffprobe executable itself
            raise FfmpegNotFoundError() from exc
        except ffmpeg.Error as exc:
            cause = short_cause(exc.stderr or b"", alias)
        if cause.lower().startswith(GENERIC_ERRORS):
            raise NotAVideoError(name, f"not a media file ffmpeg knows ({cause})") from None
        if "moov atom not found" in cause:
            if not _looks_like_mp4(name):  # a .mp4 name made ffprobe try the mp4 demuxer
                raise NotAVideoError(
                    name, "not a media file ffmpeg knows (no mp4 header)"
                ) from None
            cause += " (truncated, or an unfinished recording)"
        raise DecodeError(name, cause) from None


def _looks_like_mp4(name: str) -> bool:
    """True when the file starts with an ISO-BMFF box (ftyp, mdat, moov, free...)."""
    try:
        with open(name, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return head[4:8] in _MP4_BOXES


def _is_image_format(format_name: str) -> bool:
    return any(part == "image2" or part.endswith(_IMAGE_FORMATS) for part in format_name.split(","))


def _video_info(name: str, stream: dict[str, Any], fmt: dict[str, Any]) -> VideoInfo:
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise DecodeError(name, "video stream has no frame size")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise DecodeError(name, f"frame size {width}x{height} too large")
    rotation = stream_rotation(stream)
    if rotation in (90, 270):
        width, height = height, width
    avg = _rate(stream.get("avg_frame_rate"))
    real = _rate(stream.get("r_frame_rate"))
    fps = next((r for r in (avg, real) if 0 < r <= _MAX_FPS), 0.0)
    nb_frames = _int_or_none(stream.get("nb_frames"))
    duration = _float(fmt.get("duration")) or _float(stream.get("duration"))
    if nb_frames == 0 and duration == 0.0:
        raise NotAVideoError(name, "video has no frames")
    return VideoInfo(
        path=name,
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        rotation=rotation,
        codec=str(stream.get("codec_name") or "unknown"),
        nb_frames=nb_frames,
        variable_frame_rate=bool(avg and real and abs(avg - real) > _VFR_TOLERANCE * real),
        start_time=_float(fmt.get("start_time")),
    )


def stream_rotation(stream: dict[str, Any]) -> int:
    """Clockwise degrees (0, 90, 180, 270) the frames must be turned to be shown upright.

    The display matrix ffprobe reports holds a counter-clockwise angle, hence the minus; the
    legacy ``rotate`` tag (older ffmpeg) is already clockwise.
    """
    for side in stream.get("side_data_list") or []:
        if side.get("side_data_type") == "Display Matrix" and "rotation" in side:
            return _quarter(-_float(side.get("rotation")))
    tag = (stream.get("tags") or {}).get("rotate")
    return _quarter(_float(tag)) if tag is not None else 0


def _quarter(degrees: float) -> int:
    return int(round(degrees / 90.0)) % 4 * 90


def _rate(text: Any) -> float:
    if not text or not isinstance(text, str):
        return 0.0
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if value > 0 else 0.0


def _float(value: Any) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return 0.0
    return result if result == result and abs(result) != float("inf") else 0.0


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
