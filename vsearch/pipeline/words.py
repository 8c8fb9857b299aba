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

from vsearch.errors import EmptyLibraryError, UsageError
from vsearch.types import WITH_FRAMES, FrameHit

if TYPE_CHECKING:
    from vsearch.models.words import ImageNetWords, WordMatch
    from vsearch.pipeline.video_windows import VideoWindows
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

CHUNK = 4096  # frames scored at a time (a dense chunk of 1000 classes is 16 MB)


def uses_words(store: LibraryStore) -> bool:
    """Whether text goes through ImageNet words (no text tower, an ImageNet head)."""
    from vsearch.models.words import has_imagenet_head

    return not store.model_info.has_text and has_imagenet_head(store.encoder)


def vocabulary() -> ImageNetWords:
    from vsearch.models.words import ImageNetWords

    return ImageNetWords.shipped()


def match_text(store: LibraryStore, text: str) -> WordMatch:
    """The classes a text names for this library's encoder (errors when it has no words)."""
    if not uses_words(store):
        store.encoder.encode_texts([text])  # raises the encoder's own NoTextTowerError
        raise UsageError(f"encoder '{store.model_info.spec}' takes text through its text tower")
    return vocabulary().match(text)


def search_words(
    store: LibraryStore, text: str, *, k: int = 10, frames: bool = False
) -> tuple[WordMatch, list[FrameHit]]:
    """Frames (one per video unless ``frames``) ranked by the probability of the word's classes."""
    from vsearch.models.words import unpack_classes
    from vsearch.pipeline.search import check_k

    check_k(k)
    match = match_text(store, text)
    wanted = np.array(match.classes, dtype=np.int64)
    ids_all, scores_all = [], []
    seen = 0
    for rows in store.iter_frame_classes(chunk=CHUNK):
        seen += len(rows)
        dense = unpack_classes([b for _, b in rows])[:, wanted]
        score = dense.sum(axis=1)
        keep = score > 0
        ids_all.append(np.array([i for i, _ in rows], dtype=np.int64)[keep])
        scores_all.append(score[keep])
    if seen == 0:
        raise EmptyLibraryError(
            f"library {store.root} has no frames with ImageNet classes: they are stored when "
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
        where = store.frame_locations(ids[page].tolist())
        for j in page:
            loc = where.get(int(ids[j]))
            if loc is None:
                continue
            if not frames and loc.video_id in taken:
                continue
            taken.add(loc.video_id)
            hits.append(
                FrameHit(
                    path=loc.path,
                    time=loc.time,
                    score=float(scores[j]),
                    video_id=loc.video_id,
                    frame_id=int(ids[j]),
                    fps=loc.fps,
                )
            )
            if len(hits) >= k:
                break
    return match, _with_classes(store, hits, match)


def _with_classes(store: LibraryStore, hits: list[FrameHit], match: WordMatch) -> list[FrameHit]:
    """Each hit with the matched classes its frame shows, most probable first (up to 3)."""
    import dataclasses

    from vsearch.models.words import unpack_classes

    if not hits:
        return hits
    names = vocabulary().class_names
    wanted = set(match.classes)
    blobs = store.frame_classes([h.frame_id for h in hits])
    dense = unpack_classes([blobs.get(h.frame_id) for h in hits])
    out = []
    for hit, row in zip(hits, dense, strict=True):
        shown = [int(c) for c in np.argsort(-row) if row[c] > 0 and int(c) in wanted][:3]
        out.append(dataclasses.replace(hit, classes=tuple(names[c] for c in shown)))
    return out


class WordClassifier:
    """Zero-shot labels from an ImageNet head: a window's score for a label is the mean
    probability mass, over its frames, of the classes the label names."""

    def __init__(self, store: LibraryStore, labels: list[str]) -> None:
        self.store = store
        self.labels = labels
        self.matches = [match_text(store, label) for label in labels]
        self.name = f"imagenet-words:{','.join(labels)}"[:200]
        self._probs: dict[str, np.ndarray] = {}
        for m in self.matches:
            log.info("%s", m.describe(vocabulary()))

    def file_windows(self, path: str | Path) -> VideoWindows:
        """Windows of a file, with its frames' class probabilities (one decode)."""
        from vsearch.pipeline.video_windows import windows_of

        store = self.store
        given = os.path.abspath(os.fspath(path))
        video = store.video_at(given)
        if video is not None and video.status in WITH_FRAMES and video.n_frames:
            from vsearch.pipeline.video_windows import stored_windows

            return stored_windows(store, video.id, video.path, video.fps)
        times, vectors, probs, fps = _decode_and_classify(store, given)
        self._probs[given] = probs
        return windows_of(None, given, times, vectors, 1.0 / store.fps, fps)

    def _frame_probs(self, vw: VideoWindows) -> np.ndarray:
        from vsearch.models.words import unpack_classes

        if vw.video_id is None:
            return self._probs[vw.path]
        blobs = self.store.video_frame_classes(vw.video_id)
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


def _decode_and_classify(
    store: LibraryStore, path: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """(times, vectors, ImageNet class probabilities, the file's frame rate) of a file."""
    from vsearch.media import iter_frames, probe_video
    from vsearch.models.words import has_imagenet_head

    encoder = store.encoder
    size = encoder.info.input_size
    if not has_imagenet_head(encoder):
        raise UsageError(f"encoder '{store.model_info.spec}' has no ImageNet head")
    info = probe_video(path)
    times, vectors, probs = [], [], []
    for batch in iter_frames(path, fps=store.fps, size=size, info=info, framing=store.framing):
        v, p = encoder.encode_and_classify(batch.images)
        times.append(batch.times)
        vectors.append(v)
        probs.append(p)
    if not times:
        raise UsageError(f"{path}: no frames could be sampled from this video")
    fps = info.fps or None
    return np.concatenate(times), np.concatenate(vectors), np.concatenate(probs), fps
