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
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.db import queries
from vsearch.errors import EmptyLibraryError, UsageError
from vsearch.match.align import chain_segments, hits_from_matrix
from vsearch.match.calibrate import calibrate_matrix
from vsearch.pipeline.scoring import Scoring, scoring_for
from vsearch.pipeline.search import check_k, search_vector
from vsearch.store.clips import make_clips
from vsearch.types import FrameHit, SegmentMatch

if TYPE_CHECKING:
    from vsearch.pipeline.library import Library

log = logging.getLogger(__name__)

FRAME_NEIGHBOURS = 64  # frame-index neighbours per query frame
CLIP_NEIGHBOURS = 32  # clip-index neighbours per query clip
MAX_CANDIDATES = 20  # videos aligned per query


def search_video(
    lib: Library,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    k: int = 10,
    threshold: float | None = None,
    flip: bool = True,
) -> list[SegmentMatch]:
    """Segments of library videos that match (part of) the query video, best first.

    ``threshold``: minimum segment score; None takes the default of the library's score
    scale (``vsearch.pipeline.scoring``).
    """
    check_k(k)
    scoring = scoring_for(lib.model_info)
    if threshold is None:
        threshold = scoring.scale.clip_search.threshold
    if lib.frame_index.ntotal == 0:
        raise EmptyLibraryError(
            f"library {lib.root} has no indexed frames yet: run `vsearch index`"
        )
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--end ({end:g}) must come after --start ({start:g})")
    query = encode_query(lib, path, start=start, end=end, flip=flip)
    if query is None:
        return []
    times, informative, views = query
    offsets = [scoring.offsets(v) for v in views]
    candidates = _candidates(lib, views, offsets, informative, times, scoring)
    step = 1.0 / lib.fps
    query_clips = [make_clips(times, informative, v, step, lib.pooler) for v in views]
    clip_offsets = [scoring.offsets(qc.vectors) for qc in query_clips]
    matches: list[SegmentMatch] = []
    with lib.sessions() as session:
        for video_id in candidates:
            video = queries.get_video_by_id(video_id, session=session)
            if video is None:
                continue
            _ids, tb, inf_b, vec_b = queries.video_frames(video_id, session=session)
            clips_b = queries.video_clips(video_id, session=session)
            matches += _align(
                _Query(views, offsets, informative, times, query_clips, clip_offsets),
                tb,
                inf_b,
                vec_b,
                clips_b,
                step,
                video.path,
                video_id,
                scoring,
            )
    matches = [m for m in matches if m.score >= threshold]
    matches.sort(key=lambda m: -m.score)
    return matches[:k]


def encode_video(
    lib: Library,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    mirrored: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """Decode a file at the library's rate and encode it with the library's encoder.

    Returns (times, informative, [vectors] or [vectors, mirrored vectors]); None when no
    frame could be sampled.
    """
    from vsearch.media import iter_frames

    encoder = lib.encoder
    times, informative, views = [], [], [[], []]
    for batch in iter_frames(path, fps=lib.fps, size=encoder.info.input_size, start=start, end=end):
        times.append(batch.times)
        informative.append(batch.informative)
        views[0].append(encoder.encode_images(batch.images))
        if mirrored:
            views[1].append(encoder.encode_images(np.ascontiguousarray(batch.images[:, :, ::-1])))
    if not times:
        return None
    return (
        np.concatenate(times),
        np.concatenate(informative),
        [np.concatenate(v) for v in views if v],
    )


def encode_query(
    lib: Library,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    flip: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """(times, informative, [vectors, mirrored vectors]) of a query video; None if blank."""
    encoded = encode_video(lib, path, start=start, end=end, mirrored=flip)
    if encoded is None:
        return None
    times, inf, views = encoded
    if not inf.any():
        log.info("%s: no informative frame in the query", path)
        return None
    out = views[:1]
    if flip:
        mirrored = views[1]
        if not np.allclose(mirrored, out[0], atol=1e-5):  # flip-invariant encoders: no need
            out.append(mirrored)
    return times, inf, out


def _candidates(
    lib: Library,
    views: list[np.ndarray],
    offsets: list[np.ndarray],
    informative: np.ndarray,
    times: np.ndarray,
    scoring: Scoring,
) -> list[int]:
    """Videos worth aligning, best first: frame-index and clip-index evidence summed.

    Frame similarities are calibrated on the query side only (the library side would need a
    look-up per neighbour); ranking is all they are used for.
    """
    hit_similarity = scoring.scale.hit_similarity
    frame_index, clip_index = lib.frame_index, lib.clip_index
    evidence: dict[int, float] = defaultdict(float)
    if frame_index.ntotal:
        kf = min(frame_index.ntotal, FRAME_NEIGHBOURS)
        best = defaultdict(float)  # (query frame, video) -> best similarity
        for v, off in zip(views, offsets, strict=True):
            rows = np.nonzero(informative)[0]
            scores, ids = frame_index.search(v[rows], kf)
            scores = scores - off[rows, None]
            with lib.sessions() as session:
                where = queries.frame_locations(np.unique(ids[ids >= 0]), session=session)
            for r, (srow, irow) in enumerate(zip(scores, ids, strict=True)):
                for s, fid in zip(srow, irow, strict=True):
                    loc = where.get(int(fid))
                    if loc is None or not loc[2] or s < hit_similarity:
                        continue
                    key = (r, loc[0])
                    best[key] = max(best[key], float(s))
        for (_r, vid), s in best.items():
            evidence[vid] += s
    if clip_index.ntotal:
        kc = min(clip_index.ntotal, CLIP_NEIGHBOURS)
        step = 1.0 / lib.fps
        for v in views:
            clips = make_clips(times, informative, v, step, lib.pooler)
            qv = clips.vectors[clips.informative]
            if not len(qv):
                continue
            scores, ids = clip_index.search(qv, kc)
            with lib.sessions() as session:
                where = queries.clip_locations(np.unique(ids[ids >= 0]), session=session)
            best_clip: dict[int, float] = defaultdict(float)
            for s, cid in zip(scores.ravel(), ids.ravel(), strict=True):
                loc = where.get(int(cid))
                if loc is not None and loc[1]:
                    best_clip[loc[0]] = max(best_clip[loc[0]], float(s))
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
    clips: list
    clip_offsets: list[np.ndarray]


def _align(
    q: _Query, tb, inf_b, vec_b, clips_b, step, path, video_id, scoring: Scoring
) -> list[SegmentMatch]:
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
    _cids, cb_start, cb_end, cb_inf, cb_vec = clips_b
    cb_off = scoring.offsets(cb_vec)
    out = []
    for seg in segments:
        clip_score = _clip_score(seg, q, cb_start, cb_end, cb_inf, cb_vec, cb_off)
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
            )
        )
    return out


def _clip_score(seg, q: _Query, cb_start, cb_end, cb_inf, cb_vec, cb_off) -> float | None:
    """Best similarity of a query clip inside the query segment to a video clip inside its
    matched segment (clips overlapping each segment by at least half their length)."""
    in_b = cb_inf & _inside(cb_start, cb_end, seg.b_start, seg.b_end)
    if not in_b.any():
        return None
    best = None
    for qc, q_off in zip(q.clips, q.clip_offsets, strict=True):
        in_a = qc.informative & _inside(qc.starts, qc.ends, seg.a_start, seg.a_end)
        if in_a.any():
            sims = calibrate_matrix(qc.vectors[in_a] @ cb_vec[in_b].T, q_off[in_a], cb_off[in_b])
            s = float(sims.max())
            best = s if best is None else max(best, s)
    return best


def _inside(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float) -> np.ndarray:
    overlap = np.minimum(ends, hi) - np.maximum(starts, lo)
    return overlap >= 0.5 * (ends - starts) - 1e-9


def search_text(lib: Library, text: str, *, k: int = 10, frames: bool = False) -> list[FrameHit]:
    """Videos (with the second of the best frame) that match a text, for CLIP-like encoders."""
    check_k(k)
    if not text or not text.strip():
        raise UsageError("the text query is empty")
    vector = lib.encoder.encode_texts([text.strip()])[0]
    return search_vector(lib, vector, k=k, frames=frames)
