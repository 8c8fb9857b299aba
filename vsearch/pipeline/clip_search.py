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
   the video's clips inside the two segments.
4. *Regions*: when no answer reaches the copy level of the library's score scale, the
   query is decoded again and each frame cut into overlapping windows (``encode_regions``),
   each window one more view, and steps 2-3 run again: a copy shown small inside other
   footage fills one window, not the frame.
5. *Background*: on a scale that says so (calibrated), each answer's score loses a share of
   what the query scores against the library's other videos (``against_background``);
   answers below ``threshold`` are then hidden.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass, replace
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
from vsearch.pipeline.scoring import ScoreScale, Scoring, scoring_for
from vsearch.pipeline.search import DEFAULT_K, check_k, search_vector
from vsearch.pipeline.turns import turned, way_that_fits
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
# A clip query whose whole frames find no copy (no answer at the copy level of the
# library's score scale) searches again with windows of its frames (encode_regions).
REGIONS = True
REGION_GRID = 3  # region windows per axis: half the frame's side, at quarter steps
REGION_MAX_FRAMES = 600  # longer queries are not searched by regions (10 min at 1 frame/s)
INSET_FRAMES = 64  # the first sampled frames in which insets are looked for
# The second pass also searches the whole frames turned the way that fits the library best,
# if one does (vsearch.pipeline.turns): a copy filmed or re-encoded on its side or upside down.
TURNS = True


class EncodedVideo(NamedTuple):
    """A file decoded at the library's rate and encoded: sample times (s), informative flags,
    views of every sampled frame ([vectors], then the mirrored vectors and the vectors of
    each region when asked for), and the file's own frame rate (None: unknown).

    ``masks`` gives each view's own informative flags (a region of a frame can be blank
    where the frame is not); None: every view has the frame's flags."""

    times: np.ndarray
    informative: np.ndarray
    views: list[np.ndarray]
    fps: float | None
    masks: list[np.ndarray] | None = None

    def view_masks(self) -> list[np.ndarray]:
        return self.masks if self.masks is not None else [self.informative] * len(self.views)


def search_video(
    store: LibraryStore,
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    k: int = DEFAULT_K,
    threshold: float | None = DEFAULT_THRESHOLD,
    flip: bool = True,
    regions: bool = REGIONS,
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
    return answer_query(
        store, path, query, k=k, threshold=threshold, exclude=exclude, start=start, end=end,
        regions=regions,
    )  # fmt: skip


def answer_query(
    store: LibraryStore,
    path: str | Path,
    query: EncodedVideo | None,
    *,
    k: int = DEFAULT_K,
    threshold: float | None = DEFAULT_THRESHOLD,
    exclude: set[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    regions: bool = REGIONS,
) -> Answers:
    """Steps 2 to 5 for the encoded ``query`` of ``path`` (``encode_query``): candidates and
    alignment (``_matches``); when no answer reaches the copy level of the library's score
    scale and ``regions``, again with the query's region views (``with_regions``); then the
    background (``_answers``). Answers below ``threshold`` are counted (``.hidden``), those
    of files in ``exclude`` dropped."""
    scoring = scoring_for(store.model_info)
    matches = _matches(store, query, scoring, exclude)
    if regions and query is not None and not _found_copy(scoring, matches):
        if len(query.times) > REGION_MAX_FRAMES:
            log.warning(
                "%s: no copy found by whole frames; its %d sampled frames are more than the "
                "%d searched by regions: query a part of it (start, end) to look for a copy "
                "shown small inside it", path, len(query.times), REGION_MAX_FRAMES,
            )  # fmt: skip
        else:
            wider = with_regions(store, path, query, start=start, end=end)
            matches = _matches(store, wider, scoring, exclude)
    return _answers(matches, scoring, k=k, threshold=threshold)


def _found_copy(scoring: Scoring, matches: list[SegmentMatch]) -> bool:
    """Whether an answer, as aligned, reaches the copy level of the library's score scale."""
    return any(m.score >= scoring.scale.copy_level for m in matches)


def with_regions(
    store: LibraryStore,
    path: str | Path,
    query: EncodedVideo,
    *,
    start: float | None = None,
    end: float | None = None,
) -> EncodedVideo:
    """``query`` with the views of the second pass (``encode_regions``); unchanged when
    they cannot be had."""
    found = encode_regions(store, path, query, start=start, end=end)
    if found is None:
        return query
    views, masks = found
    return query._replace(views=query.views + views, masks=query.view_masks() + masks)


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


def _answers(
    matches: list[SegmentMatch], scoring: Scoring, *, k: int, threshold: float | None
) -> Answers:
    """The ``k`` best answers at or above ``threshold`` once each has its background taken
    off (``against_background``), and what the threshold hid."""
    if threshold is None:
        threshold = scoring.scale.clip_search.threshold
    matches = against_background(matches, scoring.scale)
    kept = sorted((m for m in matches if m.score >= threshold), key=lambda m: -m.score)
    below = [m for m in matches if m.score < threshold]
    best_hidden = max(below, key=lambda m: m.score) if below else None
    return Answers(kept[:k], hidden=len(below), threshold=threshold, best_hidden=best_hidden)


def against_background(matches: list[SegmentMatch], scale: ScoreScale) -> list[SegmentMatch]:
    """Each answer's score less ``scale.others_weight`` times its background: what the
    query scores, at its best, against the library's other videos (``ScoreScale.background_of``).

    Footage of one kind (other seeds of a generator, other episodes behind the same titles,
    grids and overlays) matches every video of that kind alike; a copy stands out from them.
    Taking off the background makes scores mean the same across queries: a query that
    matches ten videos alike no longer scores as high as one that matches only its source."""
    if not scale.others_weight or not matches:
        return matches
    best: dict[int, float] = {}
    for m in matches:
        best[m.video_id] = max(best.get(m.video_id, -np.inf), m.score)
    background = {
        video: scale.background_of(score, [s for other, s in best.items() if other != video])
        for video, score in best.items()
    }
    return [
        replace(
            m,
            score=m.score - scale.others_weight * background[m.video_id],
            background=background[m.video_id],
        )
        for m in matches
    ]


def _matches(
    store: LibraryStore,
    query: EncodedVideo | None,
    scoring: Scoring,
    exclude: set[str] | None,
) -> list[SegmentMatch]:
    """Steps 2 and 3: every aligned segment of the candidate videos, scored as aligned,
    those of files in ``exclude`` left out."""
    if query is None:
        return []
    times, views, query_fps = query.times, query.views, query.fps
    masks = query.view_masks()
    offsets = [scoring.offsets(v) for v in views]
    step = 1.0 / store.fps
    query_clips = [
        make_clips(times, m, v, step, store.pooler) for v, m in zip(views, masks, strict=True)
    ]
    candidates = _candidates(store, views, offsets, masks, query_clips, scoring)
    clip_offsets = [scoring.offsets(qc.vectors) for qc in query_clips]
    matches: list[SegmentMatch] = []
    for video_id in candidates:
        video = store.video_by_id(video_id)
        if video is None:
            continue
        frames_b = store.frames_of(video_id)
        clips_b = store.clips_of(video_id)
        matches += _align(
            _Query(views, offsets, masks, times, query_clips, clip_offsets),
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
    return matches


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
    times, inf, views, fps = encoded.times, encoded.informative, encoded.views, encoded.fps
    if not inf.any():
        log.info("%s: no informative frame in the query", path)
        return None
    out = views[:1]
    if flip:
        mirrored = views[1]
        if not np.allclose(mirrored, out[0], atol=1e-5):  # flip-invariant encoders: no need
            out.append(mirrored)
    return EncodedVideo(times, inf, out, fps)


def region_boxes(side: int, size: int) -> list[tuple[int, int]]:
    """Top-left corners of the ``size`` windows of a ``side`` square, REGION_GRID per axis."""
    steps = np.linspace(0, side - size, REGION_GRID).round().astype(int)
    return [(int(y), int(x)) for y in steps for x in steps]


def _cut(images: np.ndarray, y0: int, x0: int, y1: int, x1: int, size: int) -> np.ndarray:
    """The (y0:y1, x0:x1) part of each frame, squeezed to ``size`` square when it is not."""
    from vsearch.media.framing import squeeze

    part = images[:, y0:y1, x0:x1]
    if part.shape[1:3] == (size, size):
        return np.ascontiguousarray(part)
    return np.stack([squeeze(im, size) for im in part])


def _whole(images: np.ndarray, size: int) -> np.ndarray:
    """Whole frames squeezed to ``size`` square (``_cut`` of all of each frame)."""
    return _cut(images, 0, 0, images.shape[1], images.shape[2], size)


def encode_regions(
    store: LibraryStore,
    path: str | Path,
    query: EncodedVideo,
    *,
    start: float | None = None,
    end: float | None = None,
    turns: bool = TURNS,
) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """The views of the second pass, from the query decoded again at twice the encoder's
    size: one per region window, each frame cut into REGION_GRID x REGION_GRID overlapping
    windows of half its side, each window encoded as it is; one per inset found in its
    first INSET_FRAMES frames (``vsearch.media.insets``: a rectangle whose sides stay
    edges), cut and scaled to the encoder's size; and, with ``turns``, the whole frames
    turned the way that fits the library best (``turns.way_that_fits``, chosen on those
    first frames), if one does. A copy shown small inside other footage (picture in picture, a
    screen filmed in a room, a split screen) fills one of the windows; a copy on its side or
    upside down matches the turned frames. Returns (views, masks); None when the second
    decode did not give the query's sample times."""
    from vsearch.media import iter_frames
    from vsearch.media.informative import informative_mask, luma
    from vsearch.media.insets import find_insets

    encoder = store.encoder
    size = encoder.info.input_size
    boxes = [(y, x, y + size, x + size) for y, x in region_boxes(2 * size, size)]
    views: list[list[np.ndarray]] = []
    masks: list[list[np.ndarray]] = []
    seen: list[np.ndarray] = []
    waiting: list[np.ndarray] = []  # frames decoded before the insets are known
    way: int | None = None  # the turned way searched, once chosen on the first frames
    turned_view: list[np.ndarray] = []
    turned_mask: list[np.ndarray] = []

    def encode(images: np.ndarray) -> None:
        for r, (y0, x0, y1, x1) in enumerate(boxes):
            crops = _cut(images, y0, x0, y1, x1, size)
            masks[r].append(informative_mask(crops))
            views[r].append(encoder.encode_images(crops))
        if way is not None:
            whole = turned(_whole(images, size), way)
            turned_mask.append(informative_mask(whole))
            turned_view.append(encoder.encode_images(whole))

    def settle() -> None:
        nonlocal way
        frames = np.concatenate(waiting)
        boxes.extend(find_insets(luma(frames)))
        views.extend([] for _ in boxes)
        masks.extend([] for _ in boxes)
        encode(frames)
        if turns:  # judged by the informative ones of these first frames
            whole = _whole(frames, size)
            rows = np.nonzero(query.informative[: len(frames)])[0]
            upright = [v[: len(frames)] for v in query.views]
            fits = way_that_fits(store, upright, whole, rows)
            if fits is not None:
                way = fits[0]
                turned_mask.append(informative_mask(turned(whole, way)))
                turned_view.append(fits[1])
        waiting.clear()

    try:
        for batch in iter_frames(
            path, fps=store.fps, size=2 * size, start=start, end=end, framing=store.framing
        ):
            seen.append(batch.times)
            if views:
                encode(batch.images)
                continue
            waiting.append(batch.images)
            if sum(len(w) for w in waiting) >= INSET_FRAMES:
                settle()
        if waiting:
            settle()
    except MediaError as exc:
        log.info("%s: regions left out (%s)", path, exc)
        return None
    got = np.concatenate(seen) if seen else np.zeros(0)
    times = query.times
    if len(got) != len(times) or not np.allclose(got, times, atol=0.5 / store.fps):
        log.info("%s: regions left out (the second decode sampled other times)", path)
        return None
    views_out = [np.concatenate(v) for v in views]
    masks_out = [np.concatenate(m) for m in masks]
    if way is not None:
        log.info("%s: its frames also searched turned (way %d)", path, way)
        views_out.append(np.concatenate(turned_view))
        masks_out.append(np.concatenate(turned_mask))
    return views_out, masks_out


def _candidates(
    store: LibraryStore,
    views: list[np.ndarray],
    offsets: list[np.ndarray],
    masks: list[np.ndarray],
    query_clips: list[ClipSet],
    scoring: Scoring,
) -> list[int]:
    """Videos worth aligning, best first: frame-index and clip-index evidence summed, each
    the best of any view (a video that matches several views alike counts once).

    Frame similarities are calibrated on the query side only (the library side would need a
    look-up per neighbour); ranking is all they are used for.
    """
    hit_similarity = scoring.scale.hit_similarity
    frame_index, clip_index = store.frame_index, store.clip_index
    evidence: dict[int, float] = defaultdict(float)
    if frame_index.ntotal:
        kf = min(frame_index.ntotal, FRAME_NEIGHBOURS)
        best: dict[tuple[int, int], float] = defaultdict(float)  # (query frame, video) -> best
        for v, off, mask in zip(views, offsets, masks, strict=True):
            rows = np.nonzero(mask)[0]
            if not len(rows):
                continue
            scores, ids = frame_index.search(v[rows], kf)
            scores = scores - off[rows, None]
            where = store.frame_locations(np.unique(ids[ids >= 0]))
            for r, srow, irow in zip(rows.tolist(), scores, ids, strict=True):
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
        best_clip: dict[int, float] = defaultdict(float)  # video -> best of every view
        for clips in query_clips:
            qv = clips.vectors[clips.informative]
            if not len(qv):
                continue
            scores, ids = clip_index.search(qv, kc)
            where_clip = store.clip_locations(np.unique(ids[ids >= 0]))
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
    masks: list[np.ndarray]  # each view's informative flags
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
    sim = np.full((len(q.times), len(tb)), -1.0, dtype=np.float32)
    for v, o, mask in zip(q.views, q.offsets, q.masks, strict=True):
        view_sim = calibrate_matrix(v @ vec_b.T, o, off_b)
        view_sim[~mask, :] = -1.0
        np.maximum(sim, view_sim, out=sim)
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
