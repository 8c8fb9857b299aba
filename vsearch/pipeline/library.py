"""``vsearch.Library``: the public Python API, one method per use case.

The CLI is a thin layer over these methods; each delegates to one pipeline module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.store.library_store import DB_NAME, FRAME_INDEX, INDEX_SAVE_INTERVAL, LibraryStore

if TYPE_CHECKING:
    from vsearch.progress import Progress
    from vsearch.types import (
        DupReport,
        FrameHit,
        IndexReport,
        LabelRecord,
        SegmentMatch,
        TrainReport,
        VideoClassification,
    )

__all__ = ["DB_NAME", "FRAME_INDEX", "INDEX_SAVE_INTERVAL", "Library"]


class Library(LibraryStore):
    """A video library. ``Library.open(path, create=True, model="colorgrid")`` opens one.

    Use it as a context manager (or call ``close()``) so that indexes are saved and the writer
    lock is released.
    """

    # --- building ------------------------------------------------------------------------

    def index(
        self,
        paths: Sequence[str | Path],
        *,
        prune: bool = False,
        retry_failed: bool = False,
        progress: Progress | None = None,
        ray: str | None = None,
        ray_actors: int = 0,
    ) -> IndexReport:
        """Index videos under ``paths`` incrementally (see ``pipeline.indexing``).

        ``ray``: decode and encode on a Ray cluster ("auto", "local", "HOST:PORT"; see
        ``pipeline.ray_index``), with ``ray_actors`` actors (0: one per GPU or CPU).
        """
        from vsearch.pipeline.indexing import index_videos
        from vsearch.pipeline.ray_index import RayOptions

        options = RayOptions(address=ray, actors=ray_actors) if ray else None
        return index_videos(
            self, paths, prune=prune, retry_failed=retry_failed, progress=progress, ray=options
        )

    def remove(self, path: str | Path) -> list[str]:
        """Forget a video, or every video under a folder; return the removed paths."""
        from vsearch.pipeline.maintenance import remove_videos

        return remove_videos(self, path)

    def stats(self) -> dict[str, Any]:
        from vsearch.pipeline.maintenance import library_stats

        return library_stats(self)

    def doctor(self) -> dict[str, Any]:
        """Check tools, schema and index agreement (repairing indexes that disagree)."""
        from vsearch.pipeline.maintenance import run_doctor

        return run_doctor(self)

    # --- searching -----------------------------------------------------------------------

    def search_image(
        self, image: str | Path, *, k: int = 10, frames: bool = False, refine: int | None = None
    ) -> list[FrameHit]:
        """Videos that show ``image``, best first, with the time of the best frame.

        The ``refine`` best hits (default ``REFINE_TOP``; 0: none) are re-timed to their best
        frame at the video's native frame rate, not only the nearest sampled one.
        """
        from vsearch.pipeline.search import REFINE_TOP, search_image

        refine = REFINE_TOP if refine is None else refine
        return search_image(self, image, k=k, frames=frames, refine=refine)

    def search_video(
        self,
        path: str | Path,
        start: float | None = None,
        end: float | None = None,
        k: int = 10,
        **options: Any,
    ) -> list[SegmentMatch]:
        """Where the footage of ``path`` (or its [start, end) part) appears, as segments.

        ``options``: ``threshold`` (minimum score), ``flip`` (also query the mirrored clip).
        """
        from vsearch.pipeline.clip_search import search_video

        return search_video(self, path, start=start, end=end, k=k, **options)

    def words_for(self, text: str) -> str | None:
        """For encoders that take text as ImageNet words (no text tower, an ImageNet head):
        which classes ``text`` names, e.g. "dog: 118 classes via dog (Chihuahua, ...)";
        None for encoders with a text tower. UsageError (near misses) for an unknown word."""
        from vsearch.pipeline.words import match_text, uses_words, vocabulary

        if not uses_words(self):
            return None
        return match_text(self, text).describe(vocabulary())

    def search_text(self, text: str, k: int = 10, *, frames: bool = False) -> list[FrameHit]:
        """Videos matching a text: through the text tower (CLIP), or as ImageNet words ranked
        by class probability (encoders with an ImageNet head, e.g. effnet)."""
        from vsearch.pipeline.clip_search import search_text

        return search_text(self, text, k=k, frames=frames)

    def find_duplicates(self, **options: Any) -> DupReport:
        """Near-duplicate segment pairs across the library (options: see ``pipeline.dups``)."""
        from vsearch.pipeline.dups import find_duplicates

        return find_duplicates(self, **options)

    # --- training and classification -----------------------------------------------------

    def train_temporal(self, arch: str, **options: Any) -> dict[str, Any]:
        """Train an LSTM/TCN clip model without labels and re-pool the clips with it."""
        from vsearch.pipeline.training import train_temporal

        return train_temporal(self, arch, **options)

    def label(
        self,
        path: str | Path,
        label: str,
        *,
        start: float | None = None,
        end: float | None = None,
    ) -> LabelRecord:
        """Label a library video, or its [start, end) segment."""
        from vsearch.pipeline.labels import add_label

        return add_label(self, path, label, start=start, end=end)

    def import_labels(self, csv_path: str | Path) -> list[LabelRecord]:
        """Labels from a CSV of ``path,label[,start,end]`` lines."""
        from vsearch.pipeline.labels import import_labels

        return import_labels(self, csv_path)

    def labels(self) -> list[LabelRecord]:
        from vsearch.pipeline.labels import list_labels

        return list_labels(self)

    def classify(self, path: str | Path | None = None, **options: Any) -> list[VideoClassification]:
        """Labels of a video (or, with ``library=True``, of the library) per segment.

        Zero-shot with ``labels=[...]``, by example with ``by_examples=True``, else by the
        latest trained head (``head=`` chooses one); see ``pipeline.classify``.
        """
        from vsearch.pipeline.classify import classify

        return classify(self, path, **options)

    def train_classifier(self, **options: Any) -> TrainReport:
        """Train a linear/LSTM/TCN head on the labelled clips (see ``pipeline.train_heads``)."""
        from vsearch.pipeline.train_heads import train_classifier

        return train_classifier(self, **options)
