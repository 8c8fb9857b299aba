"""``vsearch.Library``: the public Python API, one method per use case.

The CLI is a thin layer over these methods; each hands the library's store
(``vsearch.store.LibraryStore``) to one pipeline module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.store.library_store import DB_NAME, FRAME_INDEX, INDEX_SAVE_INTERVAL, LibraryStore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from vsearch.config import Settings
    from vsearch.progress import Progress
    from vsearch.types import (
        BatchAnswer,
        DupReport,
        FrameHit,
        IndexReport,
        LabelRecord,
        ModelInfo,
        SegmentMatch,
        TrainReport,
        VideoClassification,
        VideoRecord,
    )

__all__ = ["DB_NAME", "FRAME_INDEX", "INDEX_SAVE_INTERVAL", "Library"]


class Library:
    """A video library. ``Library.open(path, create=True, model="colorgrid")`` opens one.

    Use it as a context manager (or call ``close()``) so that indexes are saved and the writer
    lock is released. ``store`` is its storage (database, indexes, lock, encoder).
    """

    def __init__(self, store: LibraryStore) -> None:
        self.store = store

    @classmethod
    def open(
        cls,
        library: str | Path | None = None,
        *,
        settings: Settings | None = None,
        create: bool = False,
        model: str | None = None,
        fps: float | None = None,
    ) -> Library:
        """Open the library at ``library`` (or the settings' one), creating it if asked.

        ``model`` and ``fps`` choose the encoder and sampling rate of a new library; for an
        existing one they must agree with what it holds (vectors of two models never mix).
        """
        return cls(
            LibraryStore.open(library, settings=settings, create=create, model=model, fps=fps)
        )

    def close(self) -> None:
        """Save the indexes, release the writer lock and the encoder."""
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- facts ---------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The library's folder."""
        return self.store.root

    @property
    def settings(self) -> Settings:
        return self.store.settings

    @property
    def model_info(self) -> ModelInfo:
        """The frame encoder the library's vectors were made with."""
        return self.store.model_info

    @property
    def fps(self) -> float:
        """Frames sampled per second of video."""
        return self.store.fps

    def videos(self, *, errors_only: bool = False) -> list[VideoRecord]:
        """Every video the library knows (``errors_only``: failed or partly decoded ones)."""
        return self.store.videos(errors_only=errors_only)

    # --- building ------------------------------------------------------------------------

    def index(
        self,
        paths: Sequence[str | Path],
        *,
        prune: bool = False,
        retry_failed: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Index videos under ``paths`` incrementally (see ``pipeline.indexing``)."""
        from vsearch.pipeline.indexing import index_videos

        return index_videos(
            self.store, paths, prune=prune, retry_failed=retry_failed, progress=progress
        )

    def remove(self, path: str | Path) -> list[str]:
        """Forget a video, or every video under a folder; return the removed paths."""
        from vsearch.pipeline.maintenance import remove_videos

        return remove_videos(self.store, path)

    def stats(self) -> dict[str, Any]:
        from vsearch.pipeline.maintenance import library_stats

        return library_stats(self.store)

    def doctor(self) -> dict[str, Any]:
        """Check tools, schema and index agreement (repairing indexes that disagree)."""
        from vsearch.pipeline.maintenance import run_doctor

        return run_doctor(self.store)

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
        return search_image(self.store, image, k=k, frames=frames, refine=refine)

    def search_video(
        self,
        path: str | Path,
        start: float | None = None,
        end: float | None = None,
        k: int = 10,
        **options: Any,
    ) -> list[SegmentMatch]:
        """Where the footage of ``path`` (or its [start, end) part) appears, as segments.

        ``options``: ``threshold`` (minimum score), ``flip`` (also query the mirrored clip),
        ``exclude_self`` (leave out the query file itself). The list's ``hidden`` counts the
        answers below the threshold.
        """
        from vsearch.pipeline.clip_search import search_video

        return search_video(self.store, path, start=start, end=end, k=k, **options)

    def words_for(self, text: str) -> str | None:
        """For encoders that take text as ImageNet words (no text tower, an ImageNet head):
        which classes ``text`` names, e.g. "dog: 118 classes via dog (Chihuahua, ...)";
        None for encoders with a text tower. UsageError (near misses) for an unknown word."""
        from vsearch.pipeline.words import match_text, uses_words, vocabulary

        if not uses_words(self.store):
            return None
        return match_text(self.store, text).describe(vocabulary())

    def search_text(self, text: str, k: int = 10, *, frames: bool = False) -> list[FrameHit]:
        """Videos matching a text: through the text tower (CLIP), or as ImageNet words ranked
        by class probability (encoders with an ImageNet head, e.g. effnet)."""
        from vsearch.pipeline.clip_search import search_text

        return search_text(self.store, text, k=k, frames=frames)

    def search_batch(
        self,
        source: str | Path | Sequence[str],
        *,
        k: int = 10,
        frames: bool = False,
        threshold: float | None = None,
        refine: int | None = None,
        progress: Progress | None = None,
    ) -> Iterator[BatchAnswer]:
        """Answers to many image and clip queries: a folder, a list file or a list of paths.

        Images are encoded and searched in batches, clips decoded ahead of their matching;
        a file that cannot be read is answered with its error (see ``pipeline.batch_search``).
        """
        from vsearch.pipeline.batch_search import search_batch
        from vsearch.pipeline.clip_search import DEFAULT_THRESHOLD
        from vsearch.pipeline.search import REFINE_TOP

        return search_batch(
            self.store,
            source,
            k=k,
            frames=frames,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            refine=REFINE_TOP if refine is None else refine,
            progress=progress,
        )

    def group_duplicates(self, report: DupReport) -> list[dict[str, Any]]:
        """The copies of ``report`` clustered, each group with the copy worth keeping."""
        from vsearch.pipeline.dups import group_duplicates

        return group_duplicates(self.store, report)

    def find_duplicates(self, **options: Any) -> DupReport:
        """Near-duplicate segment pairs across the library (options: see ``pipeline.dups``)."""
        from vsearch.pipeline.dups import find_duplicates

        return find_duplicates(self.store, **options)

    # --- scale: exact or approximate search ------------------------------------------------

    def import_frames(self, videos: Iterable[tuple[str, Any, Any, dict[str, Any]]]) -> int:
        """Store precomputed frame vectors ``(path, times, vectors, video fields)`` per video,
        many per transaction (see ``LibraryStore.import_frames``); returns the frames stored."""
        return self.store.import_frames(videos)

    def rebuild_indexes(self, **options: Any) -> Any:
        """Switch the frame and clip indexes between exact and IVF search as their sizes ask
        (options ``force``, ``background``, ``codec``: see ``LibraryStore.rebuild_indexes``)."""
        return self.store.rebuild_indexes(**options)

    def index_cards(self) -> dict[str, Any]:
        """Per index, its setting, recall@10 against exact search and memory per vector."""
        return self.store.index_cards()

    # --- serving -------------------------------------------------------------------------

    def load(self) -> None:
        """Load the encoder, both indexes and the clip pooler now rather than at first use
        (a server does this once, before its first query)."""
        store = self.store
        _ = store.frame_index, store.clip_index, store.pooler, store.encoder

    def refresh(self) -> dict[str, int] | None:
        """Pick up what other processes committed since the indexes were loaded (see
        ``LibraryStore.refresh``); None when nothing was."""
        return self.store.refresh()

    def committed_elsewhere(self) -> bool:
        """Whether another process committed since the last ``refresh`` (cheap)."""
        return self.store.committed_elsewhere()

    def sizes(self) -> dict[str, int]:
        """Vectors in the loaded frame and clip indexes."""
        return {"frames": self.store.frame_index.ntotal, "clips": self.store.clip_index.ntotal}

    @property
    def readonly(self) -> bool:
        return self.store.readonly

    # --- viewing -------------------------------------------------------------------------

    def video(self, *, video_id: int | None = None, path: str | Path | None = None) -> VideoRecord:
        """A library video by id or exact path (NotInLibraryError for anything else)."""
        from vsearch.pipeline.playback import library_video

        return library_video(self.store, video_id=video_id, path=path)

    def thumbnail(self, video_id: int, time: float, width: int = 320) -> bytes:
        """JPEG bytes of library video ``video_id`` at ``time`` seconds."""
        from vsearch.pipeline.playback import video_thumbnail

        return video_thumbnail(self.store, video_id, time, width)

    # --- training and classification -----------------------------------------------------

    def train_temporal(self, arch: str, **options: Any) -> dict[str, Any]:
        """Train an LSTM/TCN clip model without labels and re-pool the clips with it."""
        from vsearch.pipeline.training import train_temporal

        return train_temporal(self.store, arch, **options)

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

        return add_label(self.store, path, label, start=start, end=end)

    def unlabel(
        self,
        path: str | Path,
        label: str | None = None,
        *,
        start: float | None = None,
        end: float | None = None,
    ) -> int:
        """Remove a video's label (all its labels when ``label`` is None); return the count."""
        from vsearch.pipeline.labels import remove_label

        return remove_label(self.store, path, label, start=start, end=end)

    def predictions(self, path: str | Path | None = None) -> list[dict[str, Any]]:
        """Predictions stored by ``classify(library=True)``, of one video or all."""
        from vsearch.pipeline.labels import list_predictions

        return list_predictions(self.store, path)

    def import_labels(self, csv_path: str | Path) -> list[LabelRecord]:
        """Labels from a CSV of ``path,label[,start,end]`` lines."""
        from vsearch.pipeline.labels import import_labels

        return import_labels(self.store, csv_path)

    def labels(self) -> list[LabelRecord]:
        from vsearch.pipeline.labels import list_labels

        return list_labels(self.store)

    def classify(self, path: str | Path | None = None, **options: Any) -> list[VideoClassification]:
        """Labels of a video (or, with ``library=True``, of the library) per segment.

        Zero-shot with ``labels=[...]``, by example with ``by_examples=True``, else by the
        latest trained head (``head=`` chooses one); see ``pipeline.classify``.
        """
        from vsearch.pipeline.classify import classify

        return classify(self.store, path, **options)

    def train_classifier(self, **options: Any) -> TrainReport:
        """Train a linear/LSTM/TCN head on the labelled clips (see ``pipeline.train_heads``)."""
        from vsearch.pipeline.train_heads import train_classifier

        return train_classifier(self.store, **options)
