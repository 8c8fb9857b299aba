"""Near-duplicate detection: every pair of segments of library videos that show the same footage.

Stages (each timed in the report):

1. **load**: frame ids, videos, times, informative flags and vectors from the database.
2. **thin**: frames that must not create matches are left out of the search: uninformative
   ones (black, blank, one colour, plain title cards: ``frames.informative``) and every frame
   of a static run but its first (consecutive frames of a video with similarity >=
   ``STATIC_SIMILARITY``). A still title card or a frozen frame is then one frame, and a
   match needs ``MIN_FRAMES`` distinct frames, so shared stills never make a duplicate, and
   long static runs cannot crowd the neighbour lists.
3. **search**: every kept frame queries an index of all kept frames in batches (exact flat
   below ``APPROX_MIN_VECTORS`` vectors, IVF above: see ``vsearch.index.neighbors``); the hits
   above the threshold between two different videos (or, with ``within``, two distant
   moments of one video) are kept: at most a few per frame, never an all-pairs matrix.
4. **chain**: the hits of each pair of videos are chained in time by ``chain_segments``
   (steady speed, gaps up to ``MAX_GAP`` seconds), giving segment pairs scored by the mean
   similarity of their frames; segments shorter than ``min_duration`` are dropped.

Whole files with the same content hash are reported first as exact duplicates.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vsearch.checks import finite_number
from vsearch.errors import EmptyLibraryError, UsageError
from vsearch.index.neighbors import IvfParams, NeighborSearch, neighbors_above
from vsearch.match.align import Segment, chain_segments
from vsearch.pipeline.scoring import RAW, scoring_for
from vsearch.progress import NullProgress, Progress
from vsearch.types import DupMatch, JSONObject, VideoRecord, frame_at, known_fps

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = RAW.dups.threshold  # raw cosine; calibrated models: scoring.CALIBRATED
DEFAULT_MIN_DURATION = 2.0  # seconds
DEFAULT_NEIGHBORS = 16  # neighbours per frame (widened automatically when crowded)
STATIC_SIMILARITY = 0.995  # consecutive frames at least this similar belong to one static run
MIN_FRAMES = 2  # distinct (non-static) frames a match needs
MAX_GAP = 4.0  # seconds a chain may skip (at least 3 sampling steps)
BIAS_MARGIN = 0.05  # each chained hit gains (similarity - (threshold - margin))
BATCH = 8192  # query frames per search batch


@dataclass
class DupReport:
    """Matches, best first, and what the run did."""

    matches: list[DupMatch] = field(default_factory=list)
    videos: int = 0
    frames: int = 0
    searched_frames: int = 0  # frames left after thinning
    hits: int = 0  # frame pairs above the threshold
    search: str = ""  # the index used, e.g. "exact flat over 392 vectors"
    threshold: float = DEFAULT_THRESHOLD
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> JSONObject:
        return {
            "matches": len(self.matches),
            "exact": sum(m.exact for m in self.matches),
            "videos": self.videos,
            "frames": self.frames,
            "searched_frames": self.searched_frames,
            "hits": self.hits,
            "search": self.search,
            "threshold": self.threshold,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
        }


@dataclass(frozen=True)
class FrameMatch:
    """A segment pair between videos ``a`` and ``b`` (ids as given to ``match_frames``)."""

    a: int
    b: int
    segment: Segment


def find_duplicates(
    store: LibraryStore,
    *,
    threshold: float | None = None,
    min_duration: float = DEFAULT_MIN_DURATION,
    within: bool = False,
    neighbors: int = DEFAULT_NEIGHBORS,
    approximate: bool | None = None,
    progress: Progress | None = None,
) -> DupReport:
    """Every pair of segments of two library videos (or, ``within``, one) with the same footage.

    ``threshold``: frame score at or above which two frames show the same footage; None
    takes the default of the library's score scale (``vsearch.pipeline.scoring``).
    """
    scoring = scoring_for(store.model_info)
    if threshold is None:
        threshold = scoring.scale.dups.threshold
    check_options(threshold, min_duration, neighbors)
    report = DupReport(threshold=threshold)
    started = time.perf_counter()
    videos = {v.id: v for v in store.searchable_videos()}
    table = store.frame_table()
    report.videos = len(videos)
    if len(table) == 0:
        raise EmptyLibraryError(
            f"library {store.root} has no indexed frames yet: run `vsearch index`"
        )
    video_ids, times, informative, vectors = (
        table.video_ids,
        table.times,
        table.informative,
        table.vectors,
    )
    del table
    keep = np.isin(video_ids, np.fromiter(videos, dtype=np.int64))
    report.frames = int(keep.sum())
    report.stage_seconds["load"] = time.perf_counter() - started

    exact, same_file = exact_duplicates(list(videos.values()))
    vectors = vectors[keep]
    offsets = scoring.offsets(vectors) if scoring.background is not None else None
    frame_matches = match_frames(
        video_ids[keep], times[keep], informative[keep], vectors,
        step=1.0 / store.fps, threshold=threshold, min_duration=min_duration, within=within,
        neighbors=neighbors, approximate=approximate, progress=progress, report=report,
        offsets=offsets,
    )  # fmt: skip
    matches = list(exact)
    for fm in frame_matches:
        if (fm.a, fm.b) in same_file:
            continue
        s = fm.segment
        a, b = videos[fm.a], videos[fm.b]
        matches.append(
            DupMatch(
                a.path,
                s.a_start,
                s.a_end,
                b.path,
                s.b_start,
                s.b_end,
                s.score,
                False,
                s.frames,
                a_fps=a.fps,
                b_fps=b.fps,
            )
        )
    matches.sort(key=lambda m: (not m.exact, -m.score, -(m.a_end - m.a_start), m.a_path, m.b_path))
    report.matches = matches
    log.info("%d duplicate segment pairs in %d videos", len(matches), report.videos)
    return report


def check_options(threshold: float, min_duration: float, neighbors: int) -> None:
    finite_number("threshold", threshold)
    if not -1.0 < threshold < 1.0:
        raise UsageError(f"`threshold` must be a similarity in (-1, 1), got {threshold}")
    finite_number("min_duration", min_duration, low=0.0)
    if neighbors < 1:
        raise UsageError(f"`neighbors` must be >= 1, got {neighbors}")


def exact_duplicates(videos: list[VideoRecord]) -> tuple[list[DupMatch], set[tuple[int, int]]]:
    """Whole-file copies (same content hash), and the (id, id) pairs they cover."""
    by_hash: dict[str, list[VideoRecord]] = defaultdict(list)
    for v in videos:
        if v.content_hash:
            by_hash[v.content_hash].append(v)
    matches: list[DupMatch] = []
    pairs: set[tuple[int, int]] = set()
    for group in by_hash.values():
        group.sort(key=lambda v: v.id)
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                d = float(a.duration or 0.0)
                matches.append(DupMatch(a.path, 0.0, d, b.path, 0.0, d, 1.0, True, 0, a.fps, b.fps))
                pairs.add((a.id, b.id))
    return matches, pairs


def thin_frames(
    video_ids: np.ndarray, informative: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, run_last) for frames sorted by (video, time).

    ``kept`` marks the first informative frame of each static run; ``run_last[i]`` is the
    index of the last frame of the run frame i starts (i itself when it is not static).
    """
    n = len(video_ids)
    static = np.zeros(n, dtype=bool)  # frame i continues the static run of frame i - 1
    for lo in range(1, n, 65536):
        hi = min(n, lo + 65536)
        sim = np.einsum("ij,ij->i", vectors[lo:hi], vectors[lo - 1 : hi - 1])
        static[lo:hi] = sim >= STATIC_SIMILARITY
    if n:
        static[1:] &= video_ids[1:] == video_ids[:-1]
        static[1:] &= informative[1:] & informative[:-1]
    starts = np.flatnonzero(~static)
    run_last = np.zeros(n, dtype=np.int64)
    if n:
        ends = np.append(starts[1:] - 1, n - 1)
        run_last[starts] = ends
    kept = ~static & informative
    return kept, run_last


def match_frames(
    video_ids: np.ndarray,
    times: np.ndarray,
    informative: np.ndarray,
    vectors: np.ndarray,
    *,
    step: float,
    threshold: float = DEFAULT_THRESHOLD,
    min_duration: float = DEFAULT_MIN_DURATION,
    within: bool = False,
    neighbors: int = DEFAULT_NEIGHBORS,
    approximate: bool | None = None,
    ivf: IvfParams | None = None,
    progress: Progress | None = None,
    report: DupReport | None = None,
    offsets: np.ndarray | None = None,
) -> list[FrameMatch]:
    """Segment pairs showing the same footage, from frame arrays (any order; see module doc).

    ``ivf`` overrides how the approximate index is built (benchmarks compare settings).
    ``offsets``: per-frame calibration offsets (``vsearch.match.calibrate``); a pair's score
    is then its similarity minus the mean of its two offsets, and ``threshold`` applies to
    that score."""
    progress = progress or NullProgress()
    report = report if report is not None else DupReport(threshold=threshold)
    t0 = time.perf_counter()
    order = np.lexsort((times, video_ids))
    video_ids, times = video_ids[order], times[order]
    kept, run_last = thin_frames(video_ids, informative[order], vectors[order])
    rows = order[kept]  # kept frames, sorted by (video, time), as rows of ``vectors``
    k_off = np.zeros(len(rows), np.float32) if offsets is None else offsets[rows]
    # raw similarity any calibrated hit must reach (the search itself ranks raw cosines)
    raw_floor = threshold + (float(k_off.min()) if len(k_off) else 0.0)
    k_video, k_time = video_ids[kept], times[kept]
    k_end = times[run_last[kept]]  # last moment each kept frame stands for
    report.searched_frames = len(rows)
    report.stage_seconds["thin"] = time.perf_counter() - t0
    if len(rows) < 2:
        return []

    t0 = time.perf_counter()
    data = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    search = NeighborSearch(data, approximate=approximate, params=ivf)
    report.search = search.describe()
    report.stage_seconds["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    min_offset = max(min_duration, MAX_GAP)  # repeats inside a video must be this far apart
    parts = []
    progress.begin(len(rows), "frames", "finding duplicates")
    try:
        for lo in range(0, len(rows), BATCH):
            q, n, s = neighbors_above(search, data[lo : lo + BATCH], raw_floor, neighbors + 1)
            q += lo
            s = s - 0.5 * (k_off[q] + k_off[n])
            same = k_video[q] == k_video[n]
            ok = ~same & (s >= threshold)
            if within:
                ok |= same & (s >= threshold) & (np.abs(k_time[q] - k_time[n]) >= min_offset)
            q, n, s = q[ok], n[ok], s[ok]
            parts.append((np.stack([np.minimum(q, n), np.maximum(q, n)], 1), s))
            progress.advance(min(BATCH, len(rows) - lo), frames=min(BATCH, len(rows) - lo))
    finally:
        progress.end()
    del search
    pairs = np.concatenate([p for p, _ in parts]) if parts else np.zeros((0, 2), np.int64)
    sims = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, np.float32)
    pairs, first = np.unique(pairs, axis=0, return_index=True)
    sims = sims[first]
    report.hits = len(pairs)
    report.stage_seconds["search"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    found = chain_pairs(
        pairs, sims, k_video, k_time, k_end,
        step=step, threshold=threshold, min_duration=min_duration, within=within,
    )  # fmt: skip
    report.stage_seconds["chain"] = time.perf_counter() - t0
    return found


def chain_pairs(
    pairs: np.ndarray,
    sims: np.ndarray,
    k_video: np.ndarray,
    k_time: np.ndarray,
    k_end: np.ndarray,
    *,
    step: float,
    threshold: float,
    min_duration: float,
    within: bool,
) -> list[FrameMatch]:
    """Chain the frame hits of each pair of videos into segment pairs."""
    if len(pairs) == 0:
        return []
    va, vb = k_video[pairs[:, 0]], k_video[pairs[:, 1]]
    order = np.lexsort((vb, va))
    pairs, sims, va, vb = pairs[order], sims[order], va[order], vb[order]
    change = np.flatnonzero((np.diff(va) != 0) | (np.diff(vb) != 0)) + 1
    bounds = np.concatenate([[0], change, [len(pairs)]])
    uniq = np.unique(k_video)  # k_video is sorted: each video's kept rows are contiguous
    first_row = dict(zip(uniq.tolist(), np.searchsorted(k_video, uniq).tolist(), strict=True))
    past_row = np.searchsorted(k_video, uniq, side="right").tolist()
    n_rows = {v: past_row[i] - first_row[v] for i, v in enumerate(uniq.tolist())}
    max_gap = max(MAX_GAP, 3.0 * step)
    out: list[FrameMatch] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi - lo < MIN_FRAMES:
            continue
        a, b = int(va[lo]), int(vb[lo])
        ra, rb = first_row[a], first_row[b]
        sl_a, sl_b = slice(ra, ra + n_rows[a]), slice(rb, rb + n_rows[b])
        hits = np.column_stack([pairs[lo:hi, 0] - ra, pairs[lo:hi, 1] - rb, sims[lo:hi]])
        segments = chain_segments(
            hits, k_time[sl_a], k_time[sl_b], step=step, bias=threshold - BIAS_MARGIN,
            max_gap=max_gap, min_frames=MIN_FRAMES, max_segments=100,
        )  # fmt: skip
        kept: list[Segment] = []
        for seg in segments:  # best first
            seg = _extend_static(seg, k_time[sl_a], k_end[sl_a], k_time[sl_b], k_end[sl_b], step)
            if min(seg.a_end - seg.a_start, seg.b_end - seg.b_start) < min_duration:
                continue
            if a == b and (not within or seg.b_start < seg.a_end):
                continue  # a repeat must not overlap itself
            if any(_variant(seg, k, max_gap) for k in kept):
                continue  # a weaker, shifted variant of a segment pair already kept
            kept.append(seg)
            out.append(FrameMatch(a, b, seg))
    return out


def _variant(s: Segment, t: Segment, max_gap: float) -> bool:
    """True when segment pair ``s`` is a shifted variant of ``t`` rather than other footage.

    Either they overlap in both videos, or they overlap in one and align the videos at nearly
    the same offset: the "shadow" a few frames long beside a copy, where the copy's first
    frames also match the source's frames just before it (neighbouring frames of one shot
    score above the threshold). Footage repeated at another moment has another offset.
    """
    over_a = min(s.a_end, t.a_end) > max(s.a_start, t.a_start)
    over_b = min(s.b_end, t.b_end) > max(s.b_start, t.b_start)
    shift = abs((s.b_start - s.a_start) - (t.b_start - t.a_start))
    return (over_a and over_b) or ((over_a or over_b) and shift <= max_gap)


def _extend_static(
    seg: Segment, ta: np.ndarray, ea: np.ndarray, tb: np.ndarray, eb: np.ndarray, step: float
) -> Segment:
    """Make a segment end where the static run of its last frame ends, not at the frame."""
    ia = min(len(ta) - 1, int(np.searchsorted(ta, seg.a_end - step - 1e-6)))
    ib = min(len(tb) - 1, int(np.searchsorted(tb, seg.b_end - step - 1e-6)))
    a_end = max(seg.a_end, float(ea[ia]) + step)
    b_end = max(seg.b_end, float(eb[ib]) + step)
    speed = (b_end - seg.b_start) / max(a_end - seg.a_start, 1e-9)
    return Segment(seg.a_start, a_end, seg.b_start, b_end, seg.score, seg.frames, speed)


__all__ = [
    "DEFAULT_MIN_DURATION",
    "DEFAULT_THRESHOLD",
    "CopyFacts",
    "CopyGroup",
    "DupReport",
    "FrameMatch",
    "exact_duplicates",
    "find_duplicates",
    "group_duplicates",
    "match_frames",
    "thin_frames",
]


@dataclass(frozen=True)
class CopyFacts:
    """A video of a group of copies, with what the choice of the one to keep is made on."""

    path: str
    width: int | None
    height: int | None
    bitrate: int | None  # bits per second over the whole file, None when unknown
    duration: float  # seconds, rounded to 3 decimals (0.0 when unknown)
    size: int | None  # bytes
    fps: float | None  # the video's frame rate (None when unknown)
    duration_frames: int | None  # the duration as a frame number at that rate

    @property
    def rank(self) -> tuple[int, int, float, str]:
        """Worth keeping: most pixels, then highest bitrate, then longest (then path)."""
        pixels = (self.width or 0) * (self.height or 0)
        return (pixels, self.bitrate or 0, self.duration, self.path)

    def to_dict(self) -> JSONObject:
        return {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "bitrate": self.bitrate,
            "duration": self.duration,
            "size": self.size,
            "fps": self.fps,
            "duration_frames": self.duration_frames,
        }


@dataclass(frozen=True)
class CopyGroup:
    """Videos joined by matches: the copy worth keeping first, then the others."""

    videos: list[CopyFacts]  # best first (``CopyFacts.rank``)

    @property
    def keep(self) -> str:
        return self.videos[0].path

    @property
    def copies(self) -> list[str]:
        """The paths of the other copies."""
        return [v.path for v in self.videos[1:]]

    def to_dict(self) -> JSONObject:
        """The JSON object of `dups --group --json`."""
        return {
            "keep": self.keep,
            "copies": self.copies,
            "videos": [v.to_dict() for v in self.videos],
        }


def group_duplicates(store: LibraryStore, report: DupReport) -> list[CopyGroup]:
    """Copies clustered: the connected components of the match graph (videos joined by any
    match, ``within`` repeats aside), largest first. Each group names the copy worth keeping
    (most pixels, then highest bitrate, then longest) and lists every member with what that
    choice was made on, so people can pick otherwise."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for m in report.matches:
        if m.a_path != m.b_path:
            parent[root(m.a_path)] = root(m.b_path)
    members: dict[str, list[str]] = defaultdict(list)
    for path in list(parent):
        members[root(path)].append(path)
    facts = {p: store.video_at(p) for p in parent}

    def describe(path: str) -> CopyFacts:
        v = facts.get(path)
        duration = (v.duration or 0.0) if v else 0.0
        bitrate = 8 * v.size / duration if v and duration > 0 else None
        return CopyFacts(
            path=path,
            width=v.width if v else None,
            height=v.height if v else None,
            bitrate=round(bitrate) if bitrate else None,
            duration=round(duration, 3),
            size=v.size if v else None,
            fps=known_fps(v.fps) if v else None,
            duration_frames=frame_at(duration, v.fps) if v and duration > 0 else None,
        )

    groups = [
        CopyGroup(sorted((describe(p) for p in paths), key=lambda c: c.rank, reverse=True))
        for paths in members.values()
    ]
    groups.sort(key=lambda g: (-len(g.videos), g.keep))
    return groups
