"""Words without CLIP: text search and zero-shot labels through an ImageNet classifier head.

With an encoder that has an ImageNet-1k head (``effnet``), every frame's most probable classes
are stored at index time. A word (``search --text dog``, ``classify --labels cat,car,dog``)
names a set of classes through WordNet (``vsearch.models.words``); a frame's score for it is
the probability mass of those classes, so answers rank by class probability. A word that names
no class is a UsageError listing near misses.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.db import queries
from vsearch.errors import EmptyLibraryError, UsageError
from vsearch.types import FrameHit

if TYPE_CHECKING:
    from vsearch.models.words import ImageNetWords, WordMatch
    from vsearch.pipeline.classify import VideoWindows
    from vsearch.pipeline.library import Library

log = logging.getLogger(__name__)

CHUNK = 4096  # frames scored at a time (a dense chunk of 1000 classes is 16 MB)


def uses_words(lib: Library) -> bool:
    """Whether text goes through ImageNet words (no text tower, an ImageNet head)."""
    from vsearch.models.words import has_imagenet_head

    return not lib.model_info.has_text and has_imagenet_head(lib.encoder)


def vocabulary() -> ImageNetWords:
    from vsearch.models.words import ImageNetWords

    return ImageNetWords.shipped()


def match_text(lib: Library, text: str) -> WordMatch:
    """The classes a text names for this library's encoder (errors when it has no words)."""
    if not uses_words(lib):
        lib.encoder.encode_texts([text])  # raises the encoder's own NoTextTowerError
        raise UsageError(f"encoder '{lib.model_info.spec}' takes text through its text tower")
    return vocabulary().match(text)


def search_words(
    lib: Library, text: str, *, k: int = 10, frames: bool = False
) -> tuple[WordMatch, list[FrameHit]]:
    """Frames (one per video unless ``frames``) ranked by the probability of the word's classes."""
    from vsearch.models.words import unpack_classes
    from vsearch.pipeline.search import check_k

    check_k(k)
    match = match_text(lib, text)
    wanted = np.array(match.classes, dtype=np.int64)
    ids_all, scores_all = [], []
    seen = 0
    with lib.sessions() as session:
        for rows in queries.iter_frame_classes(session=session, chunk=CHUNK):
            seen += len(rows)
            dense = unpack_classes([b for _, b in rows])[:, wanted]
            score = dense.sum(axis=1)
            keep = score > 0
            ids_all.append(np.array([i for i, _ in rows], dtype=np.int64)[keep])
            scores_all.append(score[keep])
    if seen == 0:
        raise EmptyLibraryError(
            f"library {lib.root} has no frames with ImageNet classes: they are stored when "
            f"`vsearch index` runs with an encoder that has an ImageNet head (effnet)"
        )
    ids = np.concatenate(ids_all) if ids_all else np.zeros(0, np.int64)
    scores = np.concatenate(scores_all) if scores_all else np.zeros(0, np.float32)
    order = np.argsort(-scores, kind="stable")
    hits: list[FrameHit] = []
    taken: set[int] = set()
    start = 0
    while start < len(order) and len(hits) < k:  # locate in pages: most frames are skipped
        page = order[start : start + max(64, 8 * k)]
        start += len(page)
        with lib.sessions() as session:
            where = queries.frame_locations(ids[page].tolist(), session=session)
        for j in page:
            loc = where.get(int(ids[j]))
            if loc is None:
                continue
            video_id, t, _informative, path = loc
            if not frames and video_id in taken:
                continue
            taken.add(video_id)
            hits.append(
                FrameHit(
                    path=path,
                    time=t,
                    score=float(scores[j]),
                    video_id=video_id,
                    frame_id=int(ids[j]),
                )
            )
            if len(hits) >= k:
                break
    return match, _with_classes(lib, hits, match)


def _with_classes(lib: Library, hits: list[FrameHit], match: WordMatch) -> list[FrameHit]:
    """Each hit with the matched classes its frame shows, most probable first (up to 3)."""
    import dataclasses

    from vsearch.models.words import unpack_classes

    if not hits:
        return hits
    names = vocabulary().class_names
    wanted = set(match.classes)
    with lib.sessions() as session:
        blobs = queries.frame_classes_of([h.frame_id for h in hits], session=session)
    dense = unpack_classes([blobs.get(h.frame_id) for h in hits])
    out = []
    for hit, row in zip(hits, dense, strict=True):
        shown = [int(c) for c in np.argsort(-row) if row[c] > 0 and int(c) in wanted][:3]
        out.append(dataclasses.replace(hit, classes=tuple(names[c] for c in shown)))
    return out


class WordClassifier:
    """Zero-shot labels from an ImageNet head: a window's score for a label is the mean
    probability mass, over its frames, of the classes the label names."""

    def __init__(self, lib: Library, labels: list[str]) -> None:
        self.lib = lib
        self.labels = labels
        self.matches = [match_text(lib, label) for label in labels]
        self.name = f"imagenet-words:{','.join(labels)}"[:200]
        self._probs: dict[str, np.ndarray] = {}
        for m in self.matches:
            log.info("%s", m.describe(vocabulary()))

    def file_windows(self, path: str | Path) -> VideoWindows:
        """Windows of a file, with its frames' class probabilities (one decode)."""
        from vsearch.pipeline.classify import windows_of

        lib = self.lib
        given = os.path.abspath(os.fspath(path))
        with lib.sessions() as session:
            video = queries.get_video(given, session=session)
        if video is not None and video.status in ("indexed", "partial") and video.n_frames:
            from vsearch.pipeline.classify import stored_windows

            return stored_windows(lib, video.id, video.path)
        times, vectors, probs = _decode_and_classify(lib, given)
        self._probs[given] = probs
        return windows_of(None, given, times, vectors, 1.0 / lib.fps)

    def _frame_probs(self, vw: VideoWindows) -> np.ndarray:
        from vsearch.models.words import unpack_classes

        if vw.video_id is None:
            return self._probs[vw.path]
        with self.lib.sessions() as session:
            blobs = queries.video_frame_classes(vw.video_id, session=session)
        if not any(b is not None for b in blobs):
            raise UsageError(
                f"{vw.path}: no ImageNet classes stored for its frames (indexed by an older "
                "vsearch): remove it and index it again"
            )
        return unpack_classes(blobs)

    def proba(self, vw: VideoWindows) -> np.ndarray:
        probs = self._frame_probs(vw)
        per_window = np.stack([probs[w.first : w.last].mean(axis=0) for w in vw.windows])
        return np.stack([m.score(per_window) for m in self.matches], axis=1)


def _decode_and_classify(lib: Library, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from vsearch.media import iter_frames

    encoder = lib.encoder
    times, vectors, probs = [], [], []
    for batch in iter_frames(path, fps=lib.fps, size=encoder.info.input_size):
        v, p = encoder.encode_and_classify(batch.images)
        times.append(batch.times)
        vectors.append(v)
        probs.append(p)
    if not times:
        raise UsageError(f"{path}: no frames could be sampled from this video")
    return np.concatenate(times), np.concatenate(vectors), np.concatenate(probs)
