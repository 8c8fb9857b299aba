"""Query by clip (answers are matched segment pairs) and query by text.

Query by clip, in three steps:

1. *Encode*: the query video is decoded at the library's sampling rate and encoded, also
   mirrored (horizontal flip) unless the encoder is flip-invariant; black/blank frames are no
   evidence. The query's clips are pooled with the library's pooler.
2. *Candidates*: each informative query frame searches the frame index and each informative
   query clip searches the clip index; videos are ranked by their summed best frame
   similarities plus their best clip similarity.
3. *Align*: for each candidate, the query x video frame similarity matrix gives hits that
   ``align.chain_segments`` chains into segments moving forward at a steady speed (offset,
   1.5x speed and a lower frame rate are all such chains). A segment's score is the mean of
   its chained frame similarities and of the best similarity between the query's clips and
   the video's clips inside the two segments; answers below ``threshold`` are dropped.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from vsearch.checks import finite_number, time_range
from vsearch.errors import (
    EmptyLibraryError,
    MediaError,
    QueryFileError,
    UsageError,
)
from vsearch.match.align import chain_segments, hits_from_matrix
from vsearch.match.calibrate import calibrate_matrix
from vsearch.match.clips import ClipSet, make_clips
from vsearch.pipeline.scoring import Scoring, scoring_for
from vsearch.pipeline.search import DEFAULT_K, check_k, search_vector
from vsearch.types import Answers, FrameHit, SegmentMatch

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

# Segment score below which an answer is not a copy: None takes the default of the library's
# score scale (raw or calibrated: vsearch.pipeline.scoring, which also holds the frame-level
# evidence floor and chain bias of each scale).
DEFAULT_THRESHOLD = None
FRAME_NEIGHBOURS = 64  # frame-index neighbours per query frame
CLIP_NEIGHBOURS = 32  # clip-index neighbours per query clip
MAX_CANDIDATES = 20  # videos aligned per query


class EncodedVideo(NamedTuple):
    """A file decoded at the library's rate and encoded: sample times (s), informative flags,
    [vectors] or [vectors, mirrored vectors], and the file's own frame rate (None: unknown)."""

    times: np.ndarray
    informative: np.ndarray
    views: list[np.ndarray]
    fps: float | None


def search_video(
    store: LibraryStore,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    k: int = DEFAULT_K,
    threshold: float | None = DEFAULT_THRESHOLD,
    flip: bool = True,
    exclude_self: bool = False,
) -> Answers:
    """Segments of library videos that match (part of) the query video, best first.

    The answer also counts the segments ``threshold`` hid (``.hidden``); ``exclude_self``
    leaves out the query file itself when it is in the library. ``threshold`` None: the
    default of the library's score scale.
    """
    start, end, threshold = check_clip_query(store, k, start, end, threshold)
    query = encode_query(store, path, start=start, end=end, flip=flip)
    exclude = {os.path.abspath(path), os.path.realpath(path)} if exclude_self else None
    return match_query(store, query, k=k, threshold=threshold, exclude=exclude)


def check_clip_query(
    store: LibraryStore, k: int, start: float | None, end: float | None, threshold: float | None
) -> tuple[float | None, float | None, float]:
    """The checks a clip query passes before anything is decoded: (start, end, threshold)."""
    check_k(k)
    if threshold is None:
        threshold = scoring_for(store.model_info).scale.clip_search.threshold
    if store.frame_index.ntotal == 0:
        raise EmptyLibraryError(
            f"library {store.root} has no indexed frames yet: run `vsearch index`"
        )
    start, end = time_range(start, end, min_length=1.0 / store.fps)
    threshold = finite_number("threshold", threshold, low=-1.0, high=1.0)
    return start, end, threshold


def match_query(
    store: LibraryStore,
    query: EncodedVideo | None,
    *,
    k: int = DEFAULT_K,
    threshold: float | None = DEFAULT_THRESHOLD,
    exclude: set[str] | None = None,
) -> Answers:
    """Steps 2 and 3 for an ``encode_query`` result: candidates, then alignment.

    Answers below ``threshold`` are counted (``.hidden``), those of files in ``exclude``
    dropped."""
    scoring = scoring_for(store.model_info)
    if threshold is None:
        threshold = scoring.scale.clip_search.threshold
    if query is None:
        return Answers(threshold=threshold)
    times, informative, views, query_fps = query
    offsets = [scoring.offsets(v) for v in views]
    step = 1.0 / store.fps
    query_clips = [make_clips(times, informative, v, step, store.pooler) for v in views]
    candidates = _candidates(store, views, offsets, informative, query_clips, scoring)
    clip_offsets = [scoring.offsets(qc.vectors) for qc in query_clips]
    matches: list[SegmentMatch] = []
    for video_id in candidates:
        video = store.video_by_id(video_id)
        if video is None:
            continue
        frames_b = store.frames_of(video_id)
        clips_b = store.clips_of(video_id)
        matches += _align(
            _Query(views, offsets, informative, times, query_clips, clip_offsets),
            frames_b.times,
            frames_b.informative,
            frames_b.vectors,
            clips_b,
            step,
            video.path,
            video_id,
            scoring,
            fps=(video.fps, query_fps),
        )
    if exclude:
        matches = [m for m in matches if m.path not in exclude]
    kept = [m for m in matches if m.score >= threshold]
    kept.sort(key=lambda m: -m.score)
    return Answers(kept[:k], hidden=len(matches) - len(kept), threshold=threshold)


def encode_video(
    store: LibraryStore,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    mirrored: bool = False,
) -> EncodedVideo | None:
    """Decode a file at the library's rate and encode it with the library's encoder (views:
    [vectors] or, ``mirrored``, [vectors, mirrored vectors]); None when no frame could be
    sampled."""
    from vsearch.media import iter_frames, probe_video

    info = probe_video(path)
    encoder = store.encoder
    times: list[np.ndarray] = []
    informative: list[np.ndarray] = []
    views: list[list[np.ndarray]] = [[], []]
    for batch in iter_frames(
        path,
        fps=store.fps,
        size=encoder.info.input_size,
        info=info,
        start=start,
        end=end,
        framing=store.framing,
    ):
        times.append(batch.times)
        informative.append(batch.informative)
        views[0].append(encoder.encode_images(batch.images))
        if mirrored:
            views[1].append(encoder.encode_images(np.ascontiguousarray(batch.images[:, :, ::-1])))
    if not times:
        return None
    return EncodedVideo(
        np.concatenate(times),
        np.concatenate(informative),
        [np.concatenate(v) for v in views if v],
        info.fps or None,
    )


def encode_query(
    store: LibraryStore,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    flip: bool = True,
) -> EncodedVideo | None:
    """A query video encoded, views [vectors, mirrored vectors] (the mirrored ones left out
    for flip-invariant encoders); None if blank."""
    try:
        encoded = encode_video(store, path, start=start, end=end, mirrored=flip)
    except MediaError as exc:
        raise QueryFileError(str(exc)) from exc
    if encoded is None:
        return None
    times, inf, views, fps = encoded
    if not inf.any():
        log.info("%s: no informative frame in the query", path)
        return None
    out = views[:1]
    if flip:
        mirrored = views[1]
        if not np.allclose(mirrored, out[0], atol=1e-5):  # flip-invariant encoders: no need
            out.append(mirrored)
    return EncodedVideo(times, inf, out, fps)


def _candidates(
    store: LibraryStore,
    views: list[np.ndarray],
    offsets: list[np.ndarray],
    informative: np.ndarray,
    query_clips: list[ClipSet],
    scoring: Scoring,
) -> list[int]:
    """Videos worth aligning, best first: frame-index and clip-index evidence summed.

    Frame similarities are calibrated on the query side only (the library side would need a
    look-up per neighbour); ranking is all they are used for.
    """
    hit_similarity = scoring.scale.hit_similarity
    frame_index, clip_index = store.frame_index, store.clip_index
    evidence: dict[int, float] = defaultdict(float)
    if frame_index.ntotal:
        kf = min(frame_index.ntotal, FRAME_NEIGHBOURS)
        best: dict[tuple[int, int], float] = defaultdict(float)  # (query frame, video) -> best
        for v, off in zip(views, offsets, strict=True):
            rows = np.nonzero(informative)[0]
            scores, ids = frame_index.search(v[rows], kf)
            scores = scores - off[rows, None]
            where = store.frame_locations(np.unique(ids[ids >= 0]))
            for r, (srow, irow) in enumerate(zip(scores, ids, strict=True)):
                for s, fid in zip(srow, irow, strict=True):
                    loc = where.get(int(fid))
                    if loc is None or not loc.informative or s < hit_similarity:
                        continue
                    key = (r, loc.video_id)
                    best[key] = max(best[key], float(s))
        for (_r, vid), s in best.items():
            evidence[vid] += s
    if clip_index.ntotal:
        kc = min(clip_index.ntotal, CLIP_NEIGHBOURS)
        for clips in query_clips:
            qv = clips.vectors[clips.informative]
            if not len(qv):
                continue
            scores, ids = clip_index.search(qv, kc)
            where_clip = store.clip_locations(np.unique(ids[ids >= 0]))
            best_clip: dict[int, float] = defaultdict(float)
            for s, cid in zip(scores.ravel(), ids.ravel(), strict=True):
                clip = where_clip.get(int(cid))
                if clip is not None and clip.informative:
                    best_clip[clip.video_id] = max(best_clip[clip.video_id], float(s))
            for vid, s in best_clip.items():
                evidence[vid] += s
    ranked = sorted(evidence, key=lambda vid: -evidence[vid])
    return ranked[:MAX_CANDIDATES]


@dataclass(frozen=True)
class _Query:
    """An encoded query: its views (plain, mirrored), their offsets, its clips."""

    views: list[np.ndarray]
    offsets: list[np.ndarray]
    informative: np.ndarray
    times: np.ndarray
    clips: list[ClipSet]
    clip_offsets: list[np.ndarray]


def _align(
    q: _Query,
    tb,
    inf_b,
    vec_b,
    clips_b,
    step,
    path,
    video_id,
    scoring: Scoring,
    *,
    fps: tuple[float | None, float | None] = (None, None),
) -> list[SegmentMatch]:
    """Matched segments of one library video; ``fps``: (the video's, the query's) rates."""
    if len(tb) == 0:
        return []
    off_b = scoring.offsets(vec_b)
    pairs = zip(q.views, q.offsets, strict=True)
    sim = np.max(np.stack([calibrate_matrix(v @ vec_b.T, o, off_b) for v, o in pairs]), axis=0)
    sim[~q.informative, :] = -1.0
    sim[:, ~inf_b] = -1.0
    scale = scoring.scale
    hits = hits_from_matrix(sim, scale.hit_similarity, top=3)
    segments = chain_segments(hits, q.times, tb, step=step, bias=scale.chain_bias, max_segments=3)
    cb_off = scoring.offsets(clips_b.vectors)
    out = []
    for seg in segments:
        clip_score = _clip_score(seg, q, clips_b, cb_off)
        score = 0.5 * (seg.score + clip_score) if clip_score is not None else seg.score
        out.append(
            SegmentMatch(
                path=path,
                score=float(score),
                start=seg.b_start,
                end=seg.b_end,
                query_start=seg.a_start,
                query_end=seg.a_end,
                video_id=video_id,
                fps=fps[0],
                query_fps=fps[1],
            )
        )
    return out


def _clip_score(seg, q: _Query, clips_b, cb_off: np.ndarray) -> float | None:
    """Best similarity of a query clip inside the query segment to a video clip inside its
    matched segment (clips overlapping each segment by at least half their length)."""
    in_b = clips_b.informative & _inside(clips_b.starts, clips_b.ends, seg.b_start, seg.b_end)
    if not in_b.any():
        return None
    best = None
    for qc, q_off in zip(q.clips, q.clip_offsets, strict=True):
        in_a = qc.informative & _inside(qc.starts, qc.ends, seg.a_start, seg.a_end)
        if in_a.any():
            sims = qc.vectors[in_a] @ clips_b.vectors[in_b].T
            s = float(calibrate_matrix(sims, q_off[in_a], cb_off[in_b]).max())
            best = s if best is None else max(best, s)
    return best


def _inside(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float) -> np.ndarray:
    overlap = np.minimum(ends, hi) - np.maximum(starts, lo)
    return overlap >= 0.5 * (ends - starts) - 1e-9


def search_text(
    store: LibraryStore, text: str, *, k: int = 10, frames: bool = False
) -> list[FrameHit]:
    """Videos (with the second of the best frame) that match a text, for CLIP-like encoders."""
    check_k(k)
    if not text or not text.strip():
        raise UsageError("the text query is empty")
    from vsearch.pipeline.words import search_words, uses_words

    if uses_words(store):
        return search_words(store, text.strip(), k=k, frames=frames)[1]
    vector = store.encoder.encode_texts([text.strip()])[0]
    return search_vector(store, vector, k=k, frames=frames)
