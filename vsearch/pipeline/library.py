"""``vsearch.Library``: the public Python API, one method per use case.

The CLI is a thin layer over these methods; each hands the library's store
(``vsearch.store.LibraryStore``) to one pipeline module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.index.sharded import DEFAULT_SHARD_SIZE
from vsearch.pipeline import (
    batch_search,
    clip_search,
    dups,
    indexing,
    maintenance,
    search,
    train_heads,
    training,
    words,
)
from vsearch.pipeline import classify as classification
from vsearch.pipeline import labels as labelling
from vsearch.store.library_store import DB_NAME, FRAME_INDEX, INDEX_SAVE_INTERVAL, LibraryStore
from vsearch.store.shards import DEFAULT_WORKERS
from vsearch.types import Framing, VideoFacts

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator

    import numpy as np

    from vsearch.config import Settings
    from vsearch.index.build import IndexCard
    from vsearch.pipeline.maintenance import DoctorReport, LibraryStats
    from vsearch.progress import Progress
    from vsearch.store.shards import ShardRefresh
    from vsearch.types import (
        Answers,
        BatchAnswer,
        FrameHit,
        IndexReport,
        LabelRecord,
        ModelInfo,
        PredictionRecord,
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
        framing: str | None = None,
    ) -> Library:
        """Open the library at ``library`` (or the settings' one), creating it if asked.

        ``model``, ``fps`` and ``framing`` (``vsearch.types.Framing``) choose the encoder,
        sampling rate and frame geometry of a new library; for an existing one they must
        agree with what it holds (vectors of two models never mix).
        """
        return cls(
            LibraryStore.open(
                library, settings=settings, create=create, model=model, fps=fps, framing=framing
            )
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

    @property
    def framing(self) -> Framing:
        """How frames and query images become the encoder's square."""
        return self.store.framing

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
        ray: str | None = None,
        ray_actors: int = 0,
    ) -> IndexReport:
        """Index the videos under ``paths`` (files or folders, recursive), incrementally.

        Unchanged files (size, mtime) are skipped, renamed or copied ones reuse their stored
        vectors; each video is committed as soon as it is done. ``prune`` forgets library
        videos under ``paths`` whose files are gone; ``retry_failed`` tries unchanged files
        that failed before. A bad file is reported in the result, never raised. ``ray``:
        decode and encode on a Ray cluster ("auto", "local", "HOST:PORT"; see
        ``pipeline.ray_index``), with ``ray_actors`` actors (0: one per GPU or CPU).
        """
        from vsearch.pipeline.ray_index import RayOptions

        options = RayOptions(address=ray, actors=ray_actors) if ray else None
        return indexing.index_videos(
            self.store,
            paths,
            prune=prune,
            retry_failed=retry_failed,
            progress=progress,
            ray=options,
        )

    def remove(self, path: str | Path) -> list[str]:
        """Forget a video, or every video under a folder; return the removed paths."""
        return maintenance.remove_videos(self.store, path)

    def stats(self) -> LibraryStats:
        """Counts of videos (by status) and frames, hours indexed, size on disk, models,
        labels and indexes (``to_dict()``: the JSON of ``vsearch stats --json``)."""
        return maintenance.library_stats(self.store)

    def doctor(self) -> DoctorReport:
        """Check tools, schema and index agreement (repairing indexes that disagree); each
        check passed or not, with what it found."""
        return maintenance.run_doctor(self.store)

    # --- searching -----------------------------------------------------------------------

    def search_image(
        self,
        image: str | Path,
        *,
        k: int = search.DEFAULT_K,
        frames: bool = False,
        refine: int = search.REFINE_TOP,
    ) -> list[FrameHit]:
        """The ``k`` videos that show ``image`` best, with the time of the best frame.

        ``frames``: the ``k`` best frames instead, several per video if so. The ``refine``
        best hits (0: none) are re-timed to their best frame at the video's native frame
        rate, not only the nearest sampled one.
        """
        return search.search_image(self.store, image, k=k, frames=frames, refine=refine)

    def search_video(
        self,
        path: str | Path,
        start: float | None = None,
        end: float | None = None,
        k: int = search.DEFAULT_K,
        *,
        threshold: float | None = clip_search.DEFAULT_THRESHOLD,
        flip: bool = True,
        regions: bool = clip_search.REGIONS,
        exclude_self: bool = False,
    ) -> Answers:
        """Where the footage of ``path`` (or its [``start``, ``end``) seconds) appears.

        Returns at most ``k`` matched segment pairs scoring at least ``threshold`` (None:
        the threshold calibrated for the library's model), best first; the list's ``hidden``
        counts the answers below the threshold. ``flip`` also queries the mirrored clip (a
        flipped copy is still a copy); ``regions`` also queries windows of the clip's frames
        (a copy shown small inside other footage); ``exclude_self`` leaves out the query file
        itself when it is in the library.
        """
        return clip_search.search_video(
            self.store,
            path,
            start=start,
            end=end,
            k=k,
            threshold=threshold,
            flip=flip,
            regions=regions,
            exclude_self=exclude_self,
        )

    def words_for(self, text: str) -> str | None:
        """For encoders that take text as ImageNet words (no text tower, an ImageNet head):
        which classes ``text`` names, e.g. "dog: 118 classes via dog (Chihuahua, ...)";
        None for encoders with a text tower. UsageError (near misses) for an unknown word."""
        if not words.uses_words(self.store):
            return None
        return words.match_text(self.store, text).describe(words.vocabulary())

    def search_text(
        self, text: str, k: int = search.DEFAULT_K, *, frames: bool = False
    ) -> list[FrameHit]:
        """Videos matching a text: through the text tower (CLIP), or as ImageNet words ranked
        by class probability (encoders with an ImageNet head, e.g. effnet)."""
        return clip_search.search_text(self.store, text, k=k, frames=frames)

    def search_batch(
        self,
        source: str | Path | Sequence[str],
        *,
        k: int = search.DEFAULT_K,
        frames: bool = False,
        threshold: float | None = clip_search.DEFAULT_THRESHOLD,
        refine: int = search.REFINE_TOP,
        regions: bool = clip_search.REGIONS,
        progress: Progress | None = None,
    ) -> Iterator[BatchAnswer]:
        """Answers to many image and clip queries: a folder, a list file or a list of paths.

        Images are encoded and searched in batches, clips decoded ahead of their matching;
        a file that cannot be read is answered with its error (see ``pipeline.batch_search``).
        """
        return batch_search.search_batch(
            self.store,
            source,
            k=k,
            frames=frames,
            threshold=threshold,
            refine=refine,
            regions=regions,
            progress=progress,
        )

    def group_duplicates(self, report: dups.DupReport) -> list[dups.CopyGroup]:
        """The copies of ``report`` clustered, each group with the copy worth keeping."""
        return dups.group_duplicates(self.store, report)

    def find_duplicates(
        self,
        *,
        threshold: float = dups.DEFAULT_THRESHOLD,
        min_duration: float = dups.DEFAULT_MIN_DURATION,
        within: bool = False,
        neighbors: int = dups.DEFAULT_NEIGHBORS,
        approximate: bool | None = None,
        progress: Progress | None = None,
    ) -> dups.DupReport:
        """Every pair of segments of two library videos that show the same footage.

        ``threshold``: frame cosine similarity at or above which two frames match;
        ``min_duration``: shortest segment reported (seconds); ``within``: also repeats inside
        one video; ``neighbors``: neighbours searched per frame; ``approximate``: force (True)
        or forbid (False) the approximate search, None lets the library size decide.
        """
        return dups.find_duplicates(
            self.store,
            threshold=threshold,
            min_duration=min_duration,
            within=within,
            neighbors=neighbors,
            approximate=approximate,
            progress=progress,
        )

    # --- scale: exact or approximate search ------------------------------------------------

    def import_frames(
        self,
        videos: Iterable[tuple[str, np.ndarray, np.ndarray, VideoFacts | Mapping[str, object]]],
    ) -> int:
        """Store precomputed frame vectors ``(path, times, vectors, facts)`` per video, many
        per transaction (see ``LibraryStore.import_frames``); returns the frames stored.

        ``facts`` is a ``VideoFacts`` or a dict of its fields (``{"status": "indexed",
        "duration": 12.0, ...}``); a key that is no field is a TypeError naming it.
        """
        return self.store.import_frames(
            (
                path,
                times,
                vectors,
                facts if isinstance(facts, VideoFacts) else VideoFacts.from_mapping(facts),
            )
            for path, times, vectors, facts in videos
        )

    def rebuild_indexes(
        self, *, force: bool = False, background: bool = False, codec: str | None = None
    ) -> dict[str, IndexCard] | threading.Thread:
        """Switch the frame and clip indexes between exact and IVF search as their sizes ask.

        ``force`` rebuilds with the chosen setting regardless; ``background`` runs in a thread
        (returned); ``codec`` picks the frame index's setting (see
        ``LibraryStore.rebuild_indexes``). Returns the cards of the rebuilt indexes by name.
        """
        return self.store.rebuild_indexes(force=force, background=background, codec=codec)

    def refresh_shards(
        self,
        *,
        shard_size: int = DEFAULT_SHARD_SIZE,
        factory: str | None = None,
        workers: int = DEFAULT_WORKERS,
        nprobe: int | None = None,
        progress: Progress | None = None,
    ) -> ShardRefresh:
        """Build the library's frame vectors into IVF-PQ shards, or bring them up to date.

        The quantizer is trained once, on a sample of the stored vectors; afterwards only the
        shards whose range of frame ids changed (videos indexed, removed or re-indexed) are
        built again, ``workers`` at a time. ``shard_size``: frame ids per shard; ``factory``:
        the FAISS layout of new shards (None: sized to the library, which must then hold at
        least about 10,000 frames). Both apply to new shards only: existing ones keep theirs.
        ``nprobe``: inverted lists searched per shard and query (None: the shards' own,
        ``vsearch.index.sharded.DEFAULT_NPROBE`` for new ones); more finds more of the exact
        answers, slower; changing it rebuilds nothing.

        From then on frame search (images, text, batches) asks the shards for candidates and
        re-ranks them by exact inner product with their stored vectors, as long as the shards
        hold exactly the library's frames; after any change it searches the frame index
        instead (logged) until this is run again. Deleting ``frames.shards/`` turns it off.
        """
        return maintenance.refresh_shards(
            self.store,
            shard_size=shard_size,
            factory=factory,
            workers=workers,
            nprobe=nprobe,
            progress=progress,
        )

    def index_cards(self) -> dict[str, IndexCard | None]:
        """Per index, its setting, recall@10 against exact search and memory per vector
        (None: no card written yet)."""
        return self.store.index_cards()

    # --- serving -------------------------------------------------------------------------

    def load(self) -> None:
        """Load the encoder, both indexes, the clip pooler and where each frame is now
        rather than at first use (a server does this before its first query, and again once
        it has picked up another process's commits)."""
        store = self.store
        _ = store.frame_index, store.clip_index, store.pooler, store.encoder
        store.load_frame_places()

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

    def train_temporal(
        self,
        arch: str = training.DEFAULT_ARCH,
        *,
        epochs: int = training.DEFAULT_EPOCHS,
        batch_size: int = training.DEFAULT_BATCH_SIZE,
        lr: float = training.DEFAULT_LR,
        val_fraction: float = training.DEFAULT_VAL_FRACTION,
        seed: int = 0,
        force: bool = False,
        progress: Progress | None = None,
    ) -> training.TemporalReport:
        """Train an LSTM/TCN clip model (``arch``) without labels and re-pool the clips.

        ``arch="mean"`` goes back to the parameter-free pooler. Two views of a clip must
        agree (InfoNCE); ``val_fraction`` of the videos is held out to pick the best epoch.
        A model that validates no better than the one in use is not switched to, unless
        ``force``.
        """
        return training.train_temporal(
            self.store,
            arch,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            val_fraction=val_fraction,
            seed=seed,
            force=force,
            progress=progress,
        )

    def label(
        self,
        path: str | Path,
        label: str,
        *,
        start: float | None = None,
        end: float | None = None,
    ) -> LabelRecord:
        """Label a library video, or its [``start``, ``end``) seconds."""
        return labelling.add_label(self.store, path, label, start=start, end=end)

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

    def predictions(self, path: str | Path | None = None) -> list[PredictionRecord]:
        """Predictions stored by ``classify(library=True)``, of one video or all (whole video
        first, then by clip start)."""
        from vsearch.pipeline.labels import list_predictions

        return list_predictions(self.store, path)

    def import_labels(self, csv_path: str | Path) -> list[LabelRecord]:
        """Labels from a CSV of ``path,label[,start,end]`` lines, all or none."""
        return labelling.import_labels(self.store, csv_path)

    def labels(self) -> list[LabelRecord]:
        """Every label of the library."""
        return labelling.list_labels(self.store)

    def classify(
        self,
        path: str | Path | None = None,
        *,
        labels: Sequence[str] | None = None,
        prompt: str = classification.DEFAULT_PROMPT,
        by_examples: bool = False,
        k: int = classification.DEFAULT_K,
        head: str | Path | None = None,
        library: bool = False,
        unlabelled: bool = False,
        progress: Progress | None = None,
    ) -> list[VideoClassification]:
        """What the video at ``path`` is (or, ``library=True``, every library video), per clip.

        Zero-shot with ``labels`` (``prompt`` around each), by the ``k`` most similar labelled
        clips with ``by_examples``, else by a trained head (``head``: a checkpoint path or an
        arch; default the latest trained). With ``library`` the predictions are stored;
        ``unlabelled`` skips videos that have labels.
        """
        return classification.classify(
            self.store,
            path,
            labels=labels,
            prompt=prompt,
            by_examples=by_examples,
            k=k,
            head=head,
            library=library,
            unlabelled=unlabelled,
            progress=progress,
        )

    def train_classifier(
        self,
        *,
        arch: str = train_heads.DEFAULT_HEAD,
        val_fraction: float = train_heads.DEFAULT_VAL_FRACTION,
        max_epochs: int = train_heads.DEFAULT_MAX_EPOCHS,
        patience: int = train_heads.DEFAULT_PATIENCE,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> TrainReport:
        """Train a ``arch`` head (linear, lstm, tcn) on the labelled clips, split by video.

        Stops after ``patience`` epochs without held-out gain (at most ``max_epochs``) and
        saves the checkpoint in the library's heads/ folder.
        """
        return train_heads.train_classifier(
            self.store,
            arch=arch,
            val_fraction=val_fraction,
            max_epochs=max_epochs,
            patience=patience,
            seed=seed,
            progress=progress,
        )
