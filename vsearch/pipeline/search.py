"""Query use cases: by example image (and, in later modules, by clip and by text)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import EmptyLibraryError, UsageError, VsearchError
from vsearch.match.pixels import PIXEL_SIDE, grey, placement_score, templates
from vsearch.pipeline.turns import turned, way_that_fits
from vsearch.types import FrameHit

log = logging.getLogger(__name__)

# Image queries: the best hits are re-timed to their best frame by decoding the frames around
# the sampled one at the video's own rate. Bounded cost: this many hits, at most
# REFINE_MAX_FRAMES frames each (a 1 frame/s library at 30 frames/s decodes 60 per hit).
REFINE_TOP = 3
REFINE_MAX_FRAMES = 64
# Before that, the moment is chosen by pixels among the REFINE_MOMENTS sampled frames whose
# descriptor is within MOMENT_MARGIN of the video's best (refine_hits); placements scoring
# under PIXEL_MIN (normalised cross-correlation) leave the choice to the descriptor.
REFINE_MOMENTS = 8
MOMENT_MARGIN = 0.15
PIXEL_MIN = 0.3
# The frames around the REFINE_WINDOWS best-placed moments (those within WINDOW_MARGIN of the
# best) are all decoded at the native rate: between two samples of moving footage the best
# sample can lie on the wrong side of the query's frame.
REFINE_WINDOWS = 3
WINDOW_MARGIN = 0.1
# A refined hit placed at VERIFIED_MIN or more goes before a hit placed under PIXEL_MIN that
# scores at most TIE_MARGIN more by descriptor: pixels break the descriptor's near-ties.
VERIFIED_MIN = 0.8
TIE_MARGIN = 0.05
# When no refined hit holds the query's pixels (all under PIXEL_MIN), the next VERIFY_MORE
# hits within VERIFY_MARGIN of the best by descriptor are placed too (refine_hits).
VERIFY_MORE = 3
VERIFY_MARGIN = 0.1
# A query picture may be a flipped copy: its pixels are placed mirrored too (a descriptor
# that is not flip-invariant also searches its mirrored view: picture_views), a mirrored
# placement counting MIRROR_MARGIN less than an upright one (footage with symmetric
# patterns holds the mirror image of one frame at another moment).
MIRRORED = True
MIRROR_MARGIN = 0.05
# A hit placed at VERIFIED_MIN or more whose windows hold no frame placed at FRAME_FOUND (the
# query's own frame, re-encoded or cropped, places at 0.95-1.0) is searched whole at its
# native rate when it has at most SCAN_MAX_FRAMES frames.
FRAME_FOUND = 0.95
SCAN_MAX_FRAMES = 1500
SCAN_MARGIN = 0.02  # a frame of the whole video must place this much better than the windows'
MOMENT_GAP = 4  # moments at most this many samples apart are decoded in one pass
DEFAULT_K = 10  # results of a query
FETCH_PER_VIDEO = 64  # first round of a video search: neighbours asked per video wanted

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore
    from vsearch.types import VideoInfo


@dataclasses.dataclass(frozen=True)
class Templates:
    """A query picture's templates (``vsearch.match.pixels.templates``), upright and, when
    MIRRORED, flipped left to right; and ``turned``: those of the picture turned the way it
    fits the library (``with_turn``), as it is and flipped (a flip-invariant encoder cannot
    tell a half turn from a flip upside down)."""

    upright: list[np.ndarray]
    mirrored: list[np.ndarray] | None = None
    turned: tuple[list[np.ndarray], ...] = ()

    @classmethod
    def of(cls, pixels: np.ndarray, turn: np.ndarray | None = None) -> Templates:
        """The templates of a framed square picture and of the picture ``turn``ed."""
        return cls(
            templates(grey(pixels)),
            templates(grey(pixels[:, ::-1])) if MIRRORED else None,
            () if turn is None else (templates(grey(turn)), templates(grey(turn[:, ::-1]))),
        )

    def place(self, frame: np.ndarray) -> float:
        """How well the picture lines up inside a grey frame: upright, or mirrored or
        turned less MIRROR_MARGIN."""
        score = placement_score(frame, self.upright)
        for other in (self.mirrored, *self.turned):
            if other:
                score = max(score, placement_score(frame, other) - MIRROR_MARGIN)
        return score


def check_k(k: int) -> None:
    if k <= 0:
        raise UsageError(f"`k` must be a positive number of results, got {k}")


def is_image_query(path: str | Path) -> bool:
    """True when a query file is a still image by its content, False for a video.

    A missing or unreadable file is an ImageError (a usage error: exit code 2)."""
    from vsearch.media import is_image_file

    return is_image_file(path)


def search_image(
    store: LibraryStore,
    image: str | Path,
    *,
    k: int = DEFAULT_K,
    frames: bool = False,
    refine: int = REFINE_TOP,
) -> list[FrameHit]:
    """Best-matching videos for an example image (one hit per video unless ``frames``).

    The ``refine`` best hits (not with ``frames``: those are the raw sampled frames) get the
    time and score of their best frame at the video's native frame rate.
    """
    from vsearch.media import load_image

    check_k(k)
    if refine < 0:
        raise UsageError(f"`refine` must be >= 0 hits, got {refine}")
    pixels = load_image(image, size=store.model_info.input_size, framing=store.framing)
    views = picture_views(store, pixels[None])[0]
    wanted = hits_wanted(k, frames=frames, refine=refine)
    hits = merge_views(search_vectors(store, views, k=wanted, frames=frames), wanted, frames)
    if frames or refine == 0:
        return hits[:k]
    views, hits, turn = with_turn(store, pixels, views, hits, wanted)
    return refine_hits(store, views, hits, top=refine, pixels=pixels, turn=turn)[:k]


def picture_views(store: LibraryStore, pictures: np.ndarray) -> list[np.ndarray]:
    """Each query picture's vectors, (views, dim): as it is and mirrored (a flipped copy is
    still a copy), one encoder pass for all; the picture alone when the encoder gives both
    alike (flip-invariant)."""
    n = len(pictures)
    vectors = store.encoder.encode_images(np.concatenate([pictures, pictures[:, :, ::-1]]))
    plain, mirrored = vectors[:n], vectors[n:]
    if np.allclose(plain, mirrored, atol=1e-5):
        return [v[None] for v in plain]
    return [np.stack([a, b]) for a, b in zip(plain, mirrored, strict=True)]


def with_turn(
    store: LibraryStore, picture: np.ndarray, views: np.ndarray, hits: list[FrameHit], k: int
) -> tuple[np.ndarray, list[FrameHit], np.ndarray | None]:
    """A query picture's views and ``k`` hits with those of the picture turned (a
    screenshot on its side or upside down), when it fits the library better turned
    (``turns.way_that_fits``) and the turned picture's pixels confirm it: its best turned
    hit is placed at its sampled moments, and the turn is kept only if it lines up somewhere
    there (PIXEL_MIN). Pictures of footage that looks alike every way up (textures, cellular
    automata) can fit a little better turned by chance, and would then put other moments or
    videos first. Returns the views, the hits and the picture turned (None, with the views
    and hits unchanged, if not)."""
    found = way_that_fits(store, [v[None] for v in views], picture[None])
    if found is None:
        return views, hits, None
    way, vector = found
    turned_hits = search_vectors(store, vector, k=k)[0]
    if not turned_hits:
        return views, hits, None
    pixels = turned(picture[None], way)[0]
    placed = _placed_moments(store, vector[0], turned_hits[0], Templates.of(pixels))
    if placed is None or placed[1][0][1] < PIXEL_MIN:
        return views, hits, None
    return np.concatenate([views, vector]), merge_views([hits, turned_hits], k, False), pixels


def merge_views(per_view: list[list[FrameHit]], k: int, frames: bool) -> list[FrameHit]:
    """The hits of one query's views, best first: each video's (or with ``frames``, each
    frame's) best-scoring hit of any view, ``k`` at most."""
    best: dict[int, FrameHit] = {}
    for hits in per_view:
        for hit in hits:
            key = hit.frame_id if frames else hit.video_id
            if key not in best or hit.score > best[key].score:
                best[key] = hit
    return sorted(best.values(), key=lambda h: -h.score)[:k]


def hits_wanted(k: int, *, frames: bool, refine: int) -> int:
    """Hits to search for ``k`` answers: a refined image query may look VERIFY_MORE further
    (``refine_hits``)."""
    return k + VERIFY_MORE if refine and not frames else k


def refine_hits(
    store: LibraryStore,
    query: np.ndarray,
    hits: list[FrameHit],
    *,
    top: int,
    pixels: np.ndarray | None = None,
    turn: np.ndarray | None = None,
) -> list[FrameHit]:
    """Re-time the ``top`` first hits to their best frame (the rest keep their order).
    ``query``: the query's vector, or its views (``picture_views``, ``with_turn``): each hit
    is refined with the view its video matches best; ``turn``: the picture turned the way
    its turned view is (placed like a mirrored one).

    With the query's ``pixels`` (the framed square image), the moment is chosen first: the
    hit video's sampled frames whose descriptor is within MOMENT_MARGIN of its best (at most
    REFINE_MOMENTS) are decoded and the query placed over each (``vsearch.match.pixels``);
    when the best placement reaches PIXEL_MIN, the pixels choose the moments (the
    REFINE_WINDOWS best placed, within WINDOW_MARGIN of the best), else the best descriptor's
    moment stays. A sampled frame stands for the ``1/fps`` seconds around it, so the best
    frame lies within one sampling step of a moment: those windows are decoded at the native
    frame rate (at most REFINE_MAX_FRAMES frames each) and each frame scored against the
    query, by placement when the pixels chose the moments, else by descriptor. A file that
    cannot be decoded any more keeps its sampled time (logged). The scores stay those of the
    sampled frames, the one measure every video of the library had (re-ranking by the best
    of many more frames for the top few alone would favour them: on the copy benchmark it
    put a wrong video first for 2 of 56 image queries); so does the order, but for near-ties
    that the pixels decide (``_break_ties_by_pixels``: a hit whose pixels hold the query goes before
    one, at most TIE_MARGIN better by descriptor, whose pixels do not). When the pixels of
    none of them hold the query, the next VERIFY_MORE hits within VERIFY_MARGIN of the best
    are placed too, and the first that holds it goes first (``_found_further``); callers
    pass ``hits_wanted`` hits for that.
    """
    views = np.atleast_2d(query)
    tmpls = None if pixels is None else Templates.of(pixels, turn)
    done = [_refine_one(store, _view_for(store, hit, views), hit, tmpls) for hit in hits[:top]]
    rest = hits[top:]
    if tmpls is not None and done and all(placed < PIXEL_MIN for _, placed in done):
        found = _found_further(store, views, hits[0].score, rest, tmpls)
        if found is not None:
            rest = [h for h in rest if h.video_id != found[0].video_id]
            done.insert(0, found)
    return [hit for hit, _ in _break_ties_by_pixels(done)] + rest


def _view_for(store: LibraryStore, hit: FrameHit, views: np.ndarray) -> np.ndarray:
    """The view of the query (as it is, mirrored, turned) that the hit's video matches best."""
    if len(views) == 1:
        return views[0]
    vectors = store.frames_of(hit.video_id).vectors
    if not len(vectors):
        return views[0]
    return views[int(np.argmax((vectors @ views.T).max(axis=0)))]


def _found_further(
    store: LibraryStore,
    views: np.ndarray,
    best: float,
    hits: list[FrameHit],
    tmpls: Templates,
) -> tuple[FrameHit, float] | None:
    """The first of the next VERIFY_MORE ``hits`` within VERIFY_MARGIN of ``best`` that
    holds the query's pixels, refined: placed somewhere at its sampled moments (PIXEL_MIN),
    then at VERIFIED_MIN at its best frame; None if none does.

    The descriptor of a frame of one kind of footage (another seed of the same pattern,
    another take of the same scene) can score a little above the query's own video; when
    the query's pixels are nowhere in the hits above, one a little below that holds them
    is where the picture comes from."""
    for hit in hits[:VERIFY_MORE]:
        if best - hit.score > VERIFY_MARGIN:
            break
        query = _view_for(store, hit, views)
        placed = _placed_moments(store, query, hit, tmpls)
        if placed is not None and placed[1][0][1] >= PIXEL_MIN:  # its own frame decides
            refined = _refine_one(store, query, hit, tmpls, known=placed)
            if refined[1] >= VERIFIED_MIN:
                return refined
    return None


def _placed_moments(
    store: LibraryStore, query: np.ndarray, hit: FrameHit, tmpls: Templates
) -> tuple[VideoInfo, list[tuple[float, float]]] | None:
    """The hit video's probe and its candidate moments ranked by placement
    (``_rank_moments``); None (logged) when it cannot be decoded or holds no moment."""
    from vsearch.media import probe_video

    try:
        info = probe_video(hit.path)
        ranked = _rank_moments(store, query, hit, tmpls, info)
    except VsearchError as exc:
        log.warning("%s: cannot place the query in this hit: %s", hit.path, exc)
        return None
    return (info, ranked) if ranked else None


def _break_ties_by_pixels(done: list[tuple[FrameHit, float]]) -> list[tuple[FrameHit, float]]:
    """Refined hits whose pixels were placed (>= VERIFIED_MIN) move ahead of hits scoring at
    most TIE_MARGIN more by descriptor whose pixels were nowhere (< PIXEL_MIN)."""
    out = list(done)
    for i in range(1, len(out)):
        j = i
        while j > 0 and _pixels_decide(out[j], out[j - 1]):
            out[j - 1], out[j] = out[j], out[j - 1]
            j -= 1
    return out


def _pixels_decide(lower: tuple[FrameHit, float], upper: tuple[FrameHit, float]) -> bool:
    (low, low_placed), (up, up_placed) = lower, upper
    return (
        low_placed >= VERIFIED_MIN and up_placed < PIXEL_MIN and up.score - low.score <= TIE_MARGIN
    )


def _refine_one(
    store: LibraryStore,
    query: np.ndarray,
    hit: FrameHit,
    tmpls: Templates | None,
    known: tuple[VideoInfo, list[tuple[float, float]]] | None = None,
) -> tuple[FrameHit, float]:
    """The hit re-timed, and how well the query's pixels were placed in it (-1: not tried).
    ``known``: the hit video's probe and ranked moments when the caller has them already."""
    from vsearch.media import probe_video

    step = 1.0 / store.fps
    placed = -1.0
    try:
        info = probe_video(hit.path) if known is None else known[0]
        native = info.fps if info.fps > 0 else 30.0
        moments, by_pixels = [hit.time], False
        if tmpls is not None:
            ranked = _rank_moments(store, query, hit, tmpls, info) if known is None else known[1]
            placed = ranked[0][1] if ranked else -1.0
            by_pixels = placed >= PIXEL_MIN
            if by_pixels:
                moments = [t for t, s in ranked[:REFINE_WINDOWS] if s >= placed - WINDOW_MARGIN]
        size = PIXEL_SIDE if by_pixels else store.model_info.input_size
        spans = _windows(moments, step, info.duration)
        best_time, best_score = _best_frame(
            store, hit.path, info, spans, native, size, query, tmpls if by_pixels else None
        )
        if best_time is None:
            best_time = moments[0]
        elif by_pixels and VERIFIED_MIN <= best_score < FRAME_FOUND:
            # The query's pixels are there, its frame is not in those windows: footage
            # changing faster than the sampling (every sample places alike). A short video
            # is searched whole at its own rate.
            frames = info.duration * native
            if 0 < frames <= SCAN_MAX_FRAMES:
                scan_time, scan_score = _best_frame(
                    store, hit.path, info, [(0.0, info.duration)], native, size, query, tmpls,
                    limit=SCAN_MAX_FRAMES,
                )  # fmt: skip
                # a frame elsewhere that places alike (footage that repeats) is no reason
                # to leave the moments the descriptor and the samples chose
                if scan_time is not None and scan_score > best_score + SCAN_MARGIN:
                    best_time, best_score = scan_time, scan_score
    except VsearchError as exc:
        log.warning("%s: cannot refine the time of the hit at %.2f s: %s", hit.path, hit.time, exc)
        return hit, placed
    if by_pixels:
        placed = max(placed, best_score)
    return dataclasses.replace(hit, time=best_time), placed


def _best_frame(
    store: LibraryStore,
    path: str,
    info: VideoInfo,
    spans: list[tuple[float, float]],
    native: float,
    size: int,
    query: np.ndarray,
    tmpls: Templates | None,
    *,
    limit: int = REFINE_MAX_FRAMES,
) -> tuple[float | None, float]:
    """The best frame of ``spans`` decoded at the native rate (at most ``limit`` frames per
    span) and its score against the query (``_frame_scores``); (None, -inf) when no span
    has a frame between its samples."""
    from vsearch.media import iter_frames

    best_time, best_score = None, -np.inf
    for start, end in spans:
        if end - start <= 1.0 / native:  # nothing between the samples to look at
            continue
        rate = min(native, limit / (end - start))
        for batch in iter_frames(
            path, fps=rate, size=size, info=info, start=start, end=end, framing=store.framing
        ):
            scores = _frame_scores(store, batch.images, query, tmpls)
            i = int(np.argmax(scores))
            if scores[i] > best_score:
                best_time, best_score = float(batch.times[i]), float(scores[i])
    return best_time, best_score


def _windows(moments: list[float], step: float, duration: float) -> list[tuple[float, float]]:
    """The (start, end) spans within one sampling step of each moment, overlaps merged."""
    spans: list[tuple[float, float]] = []
    for moment in sorted(moments):
        start, end = max(0.0, moment - step), moment + step
        if duration > 0:
            end = min(end, duration)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _frame_scores(
    store: LibraryStore, images: np.ndarray, query: np.ndarray, tmpls: Templates | None
) -> np.ndarray:
    """Each frame's similarity to the query: placement of its pixels, else descriptor."""
    if tmpls is None:
        return store.encoder.encode_images(images) @ query
    return np.array([tmpls.place(g) for g in grey(images)])


def _rank_moments(
    store: LibraryStore,
    query: np.ndarray,
    hit: FrameHit,
    tmpls: Templates,
    info: VideoInfo,
) -> list[tuple[float, float]]:
    """The hit video's candidate moments (refine_hits) as (time, placement), best first."""
    from vsearch.media import iter_frames

    frames = store.frames_of(hit.video_id)
    if not len(frames.times):
        return []
    sims = np.where(frames.informative, frames.vectors @ query, -np.inf)
    near = np.nonzero(sims >= sims.max() - MOMENT_MARGIN)[0]
    near = near[np.argsort(-sims[near], kind="stable")][:REFINE_MOMENTS]
    if not any(abs(frames.times[i] - hit.time) < 1e-6 for i in near):
        near = np.append(near, np.argmin(np.abs(frames.times - hit.time)))
    placed: dict[float, float] = {}
    step = 1.0 / store.fps
    wanted = np.sort(frames.times[near])
    for run in np.split(wanted, np.nonzero(np.diff(wanted) > MOMENT_GAP * step)[0] + 1):
        # one decode per run of nearby moments, at the library's own rate
        end = float(run[-1]) + 0.5 * step
        if info.duration > 0:
            end = min(end, info.duration)
        if end - float(run[0]) < 1e-3:
            continue
        for batch in iter_frames(
            hit.path, fps=store.fps, size=PIXEL_SIDE, info=info, start=float(run[0]), end=end,
            framing=store.framing,
        ):  # fmt: skip
            gap = np.abs(batch.times[:, None] - run[None, :])
            keep = np.nonzero(gap.min(axis=1) <= 0.5 * step)[0]
            if not len(keep):
                continue
            scores = _frame_scores(store, batch.images[keep], query, tmpls)
            for j, score in zip(keep, scores, strict=True):
                at = float(run[int(np.argmin(gap[j]))])
                placed[at] = max(placed.get(at, -np.inf), float(score))
    return sorted(placed.items(), key=lambda m: -m[1])


def search_vector(
    store: LibraryStore, vector: np.ndarray, *, k: int = DEFAULT_K, frames: bool = False
) -> list[FrameHit]:
    """Best-matching videos (or frames) for one query vector."""
    return search_vectors(store, vector[None], k=k, frames=frames)[0]


def search_vectors(
    store: LibraryStore, vectors: np.ndarray, *, k: int = 10, frames: bool = False
) -> list[list[FrameHit]]:
    """``search_vector`` for each row of ``vectors`` (n, dim): one index search for all.

    Each query asks for enough neighbours to find ``k`` distinct videos; the few that did
    not are searched again with 4x more until they do or the index is exhausted. The
    candidates come from ``store.frame_searcher``: the library's frame shards, re-ranked by
    exact scores, when they are built and current, else the frame index.
    """
    check_k(k)
    index = store.frame_searcher
    if index.ntotal == 0:
        raise EmptyLibraryError(
            f"library {store.root} has no indexed frames yet: run `vsearch index`"
        )
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    results: list[list[FrameHit]] = [[] for _ in range(len(vectors))]
    todo = np.arange(len(vectors))
    # Consecutive frames of a shot crowd the first neighbours: ask for enough at once that
    # most queries find k videos in one round (a round costs more than a longer list).
    fetch = min(index.ntotal, k if frames else max(64, FETCH_PER_VIDEO * k))
    while todo.size:
        scores, ids = index.search(vectors[todo], fetch)
        # Which video each candidate is in (arrays, no row object per candidate), then each
        # query's best frame per video.
        places = store.frame_places(ids)
        videos = places.video_ids_of(ids)
        again = []
        for row, query in enumerate(todo):
            picked = _pick(videos[row], k, distinct_videos=not frames)
            results[query] = places.hits(ids[row][picked], scores[row][picked])
            # An approximate index that returned fewer neighbours than asked has nothing more
            # in the cells it probes: asking again for more would only cost time.
            exhausted = int((ids[row] >= 0).sum()) < fetch
            if not frames and len(picked) < k and fetch < index.ntotal and not exhausted:
                again.append(query)
        todo = np.asarray(again, dtype=np.int64)
        fetch = min(index.ntotal, fetch * 4)
    return results


def _pick(videos: np.ndarray, k: int, *, distinct_videos: bool) -> np.ndarray:
    """Positions of the first ``k`` candidates that still exist (``videos`` >= 0: their
    videos, best first); with ``distinct_videos`` only each video's best."""
    pos = np.flatnonzero(videos >= 0)
    if distinct_videos:
        _, first = np.unique(videos[pos], return_index=True)  # each video's first place
        pos = pos[np.sort(first)]
    return pos[:k]
