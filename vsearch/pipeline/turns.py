"""Queries on their side or upside down: a copy turned a quarter (a phone held sideways, a
file whose rotation flag was lost) or upside down matches its source only when the query is
turned back.

A picture can lie in eight ways: as it is and mirrored left to right (searched always, when
the encoder is not flip-invariant), and the ``TURNED_WAYS`` others (``turned``). Searching
with every way at once would only raise what unrelated footage scores; a copy matches in one
way only, and its frames' nearest library frames say which (``way_that_fits``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

TURNED_WAYS = 6
# A turned way is searched only when the query's frames turned that way have nearer library
# frames (mean cosine of the nearest) than the query as it is or mirrored by this much.
TURN_MARGIN = 0.05


def turned(images: np.ndarray, way: int) -> np.ndarray:
    """Square pictures (N, S, S, C) in one of the ``TURNED_WAYS`` ways besides as they are
    and mirrored: 0-5 are a quarter, half and three quarter turn counter-clockwise, each as
    it is and then mirrored left to right."""
    turn = np.rot90(images, way // 2 + 1, axes=(1, 2))
    return np.ascontiguousarray(turn[:, :, ::-1] if way % 2 else turn)


def nearest_fit(store: LibraryStore, vectors: np.ndarray) -> float:
    """Mean similarity of the vectors' nearest library frames (-inf for none)."""
    if not len(vectors) or store.frame_index.ntotal == 0:
        return -np.inf
    scores, _ids = store.frame_index.search(np.ascontiguousarray(vectors), 1)
    return float(np.mean(scores[:, 0]))


def way_that_fits(
    store: LibraryStore,
    upright: list[np.ndarray],
    pictures: np.ndarray,
    rows: np.ndarray | None = None,
) -> tuple[int, np.ndarray] | None:
    """The way (``turned``) in which ``pictures`` (square: the query's frames, or its
    picture) fit the library better than their ``upright`` views (the vectors of the same
    pictures as they are and mirrored) by ``TURN_MARGIN``, with the pictures' vectors turned
    that way; None if no way does. ``rows``: the pictures to judge by (the informative
    frames; None: all)."""
    rows = np.arange(len(pictures)) if rows is None else rows
    if not len(rows):
        return None
    as_they_are = max(nearest_fit(store, v[rows]) for v in upright)
    encoded = [store.encoder.encode_images(turned(pictures, way)) for way in range(TURNED_WAYS)]
    fits = [nearest_fit(store, v[rows]) for v in encoded]
    best = int(np.argmax(fits))
    return (best, encoded[best]) if fits[best] >= as_they_are + TURN_MARGIN else None
