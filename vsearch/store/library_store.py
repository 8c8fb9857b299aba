"""The storage core of a library: a folder with the SQLite database and FAISS index files.

The database is the source of truth; the index files are caches kept in agreement with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session

from vsearch.config import MAX_FPS, Settings
from vsearch.db import queries
from vsearch.db.claims import VideoClaims
from vsearch.db.engine import (
    create_db_engine,
    create_server_engine,
    is_sqlite,
    make_session_factory,
    redact_url,
    transaction,
)
from vsearch.db.migrate import at_head, current_revision, head_revision, upgrade_database
from vsearch.errors import (
    DamagedLibraryError,
    LibraryError,
    LibraryLockedError,
    LibraryNotFoundError,
    ModelMismatchError,
    StorageError,
    UsageError,
)
from vsearch.index.approx import choose_setting
from vsearch.index.build import IndexCard, build_index, load_card, needs_rebuild, save_card
from vsearch.match.clips import make_clips
from vsearch.media.framing import check_framing
from vsearch.store import faults
from vsearch.store.clips import (
    CLIP_INDEX,
    POOLER_META,
    ClipWindows,
    PoolerRecord,
    check_pooler_encoder,
    clip_windows,
    load_pooler,
    pooler_record,
    save_clips,
)
from vsearch.store.faults import storage_error
from vsearch.store.locking import WriterLock
from vsearch.store.repair import is_damage
from vsearch.store.vectors import (
    SyncReport,
    open_synced_index,
    reconcile_index,
    write_identity,
)
from vsearch.types import (
    LEGACY_FRAMING,
    WITH_FRAMES,
    ClipLocation,
    FrameLocation,
    FramePlaces,
    FrameTable,
    Framing,
    LabelRecord,
    ModelInfo,
    NewLabel,
    PredictionRecord,
    ScoredLabel,
    StoredClips,
    StoredFrames,
    VideoFacts,
    VideoRecord,
    VideoStatus,
)

if TYPE_CHECKING:
    from vsearch.index import VectorIndex
    from vsearch.models import FrameEncoder
    from vsearch.models.temporal import TemporalPooler
    from vsearch.store.shards import RerankedShards

log = logging.getLogger(__name__)

DB_NAME = "library.db"
LIBRARY_ID_META = "library_id"  # a random id that index files record (see index_identity)
FRAMING_META = "framing"  # a library without it was made with LEGACY_FRAMING
FRAME_INDEX = "frames.faiss"
INDEX_SAVE_INTERVAL = 30.0  # seconds between index saves during a long run, at least
IMPORT_BATCH_FRAMES = 50_000  # frames per transaction of import_frames
SAVE_COST_FACTOR = 20.0  # ... and at least this many times the last save's duration (<= 5%)

# One video of import_frames: (path, frame times (s), float32 frame vectors (n, dim), facts)
ImportedVideo = tuple[str, np.ndarray, np.ndarray, VideoFacts]

_L = TypeVar("_L", bound="LibraryStore")
_UNCHECKED = object()  # the frame shards have not been looked at since the frames changed


# Seconds a command opening a library waits for another process that is creating or
# upgrading its schema (which holds the writer lock for that long only).
SCHEMA_WAIT_S = 30.0
LOCK_POLL_S = 0.2


class LibraryStore:
    """Storage of an opened library: database, indexes, writer lock, encoder.

    The only owner of the database: use cases read and write through its named methods,
    which return dataclasses; every write commits first, then updates the in-memory indexes.
    ``vsearch.Library`` composes one with the use cases; open one with ``Library.open``.
    """

    def __init__(self, settings: Settings, *, readonly: bool = False):
        self.settings = settings
        self.root = settings.library
        self.readonly = readonly
        self.db_path = self.root / DB_NAME
        if settings.db_url:  # shared metadata: the folder holds this host's index caches
            self.db_label = redact_url(settings.db_url)
            self.engine = create_server_engine(settings.db_url)
        else:
            self.db_label = str(self.db_path)
            self.engine = create_db_engine(self.db_path, readonly=readonly)
        self.sessions = make_session_factory(self.engine)
        self.claims = VideoClaims(self.engine)  # which files this writer works on
        self._encoder: FrameEncoder | None = None
        self._frame_index: VectorIndex | None = None
        self._frame_sync: SyncReport | None = None
        self._lock = WriterLock(self.root)
        self._lock_depth = 0
        self._last_save = time.monotonic()
        self._save_s = 0.0
        self._dirty = False
        self._clip_index: VectorIndex | None = None
        self._clip_sync: SyncReport | None = None
        self._swap = threading.RLock()  # index swaps vs. adds/removes of this process
        self._watch: Any = None  # a connection kept open to notice other processes' commits
        self._watch_lock = threading.Lock()  # queries of several threads ask it
        self._places: tuple[int, FramePlaces] | None = None  # (data version, frame places)
        self._places_lock = threading.Lock()
        self._seen_version: int | None = None
        self._pooler_seen: PoolerRecord | None = None
        self._frame_shards: Any = _UNCHECKED  # RerankedShards, None (not usable) or unchecked
        self._stale_shards: Any = None  # the shard files' stamp when last found not usable

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls: type[_L],
        library: str | Path | None = None,
        *,
        settings: Settings | None = None,
        create: bool = False,
        model: str | None = None,
        fps: float | None = None,
        framing: str | None = None,
    ) -> _L:
        """Open the library at ``library`` (or the settings' one), creating it if asked.

        ``model``, ``fps`` and ``framing`` choose the encoder, sampling rate and frame
        geometry of a new library; for an existing one they must agree with what it holds
        (vectors of two models never mix).
        """
        settings = settings or Settings.load()
        if library is not None:
            settings = settings.with_(library=Path(library).expanduser().absolute())
        root = settings.library
        if not _library_exists(settings):
            if not create:
                where = redact_url(settings.db_url) if settings.db_url else str(root)
                raise LibraryNotFoundError(
                    f"no vsearch library at {where}: create one with `vsearch init` "
                    "(or `vsearch index`, which creates it)"
                )
            return cls._create(settings, model=model, fps=fps, framing=framing)
        if settings.db_url and not root.exists():
            _make_folder(root)  # a new host joining a shared library: an empty cache folder
        lib = cls(settings, readonly=not os.access(root, os.W_OK))
        try:
            lib._migrate()
            lib._ensure_library_id()
            unfinished = create and not lib.readonly and "encoder" not in lib.meta
        except (DatabaseError, StorageError) as exc:
            lib.close()
            if is_damage(exc):
                raise DamagedLibraryError(
                    f"{lib.db_path}: the library database is damaged "
                    f"({getattr(exc, 'orig', exc)}): `vsearch doctor` says what can be saved, "
                    "`vsearch doctor --repair` rebuilds it"
                ) from None
            raise
        if unfinished:
            # A run killed while creating the library: finish creating it.
            lib.close()
            return cls._create(settings, model=model, fps=fps, framing=framing)
        lib._check_model(model, fps, framing)
        return lib

    @classmethod
    def _create(
        cls: type[_L],
        settings: Settings,
        *,
        model: str | None,
        fps: float | None,
        framing: str | None,
    ) -> _L:
        from vsearch.models import create_encoder

        spec = model or settings.model
        fps = float(settings.fps if fps is None else fps)
        framing = check_framing(settings.framing if framing is None else framing).value
        if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
            raise UsageError(f"`fps` must be in (0, {MAX_FPS:g}] frames per second, got {fps:g}")
        encoder = create_encoder(spec, device=settings.device)
        _make_folder(settings.library)
        lib = cls(settings.with_(model=spec, fps=fps, framing=framing))
        # A command opening the library meanwhile may be migrating it: wait for that.
        with lib.writing(timeout=max(settings.lock_timeout, SCHEMA_WAIT_S)):
            lib._migrate()
            with lib._committing() as session:
                # With a shared database another host may have created it meanwhile.
                if "encoder" not in queries.get_meta(session=session):
                    info = json.dumps(encoder.info.to_dict())
                    queries.set_meta("encoder", info, session=session)
                    queries.set_meta("fps", repr(fps), session=session)
                    queries.set_meta(FRAMING_META, framing, session=session)
                    queries.set_meta("created_at", queries.now_iso(), session=session)
                    queries.set_meta(LIBRARY_ID_META, uuid.uuid4().hex, session=session)
        if settings.db_url:
            lib._check_model(spec, fps, framing)
        lib._encoder = encoder
        log.info(
            "created library %s with %s at %s fps, %s framing", settings.library, spec, fps, framing
        )
        return lib

    def _migrate(self) -> None:
        if self.readonly:
            faults.check_readonly_schema(self.engine, self.root)
            return
        # Migrations run under the writer lock, taken only while nobody holds it: a library
        # that another process is creating or upgrading is left to it (we wait for its
        # schema), and a library at head is never locked by a mere open, so that a writer
        # that follows (with VSEARCH_LOCK_TIMEOUT=0) never finds it taken by a reader.
        deadline = time.monotonic() + max(self.settings.lock_timeout, SCHEMA_WAIT_S)
        try:
            while not at_head(self.engine):
                try:
                    with self.writing(wait=False):
                        upgrade_database(self.engine)  # reads the revision again, under the lock
                    return
                except LibraryLockedError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(LOCK_POLL_S)
        except OperationalError as exc:
            raise self._db_error(exc) from exc

    def _db_error(self, exc: OperationalError) -> StorageError:
        if self.settings.db_url:
            return StorageError(f"{self.db_label}: database error ({getattr(exc, 'orig', exc)})")
        return storage_error(self.db_path, exc)

    def _ensure_library_id(self) -> None:
        """Give a library made by an older vsearch its id (its index files are rebuilt once,
        since they carry no identity record yet)."""
        if self.readonly or LIBRARY_ID_META in self.meta:
            return
        with (
            contextlib.suppress(LibraryLockedError),
            self.writing(wait=False),
            self._committing() as session,
        ):
            queries.set_meta(LIBRARY_ID_META, uuid.uuid4().hex, session=session)

    def _check_model(self, model: str | None, fps: float | None, framing: str | None) -> None:
        meta = self.meta
        if "encoder" not in meta:
            raise LibraryError(f"{self.root}: library has no encoder recorded (incomplete init?)")
        info = self.model_info
        if model is not None:
            from vsearch.models import parse_spec

            family, arch, weights = parse_spec(model)
            wanted = (family, arch or info.arch)  # a bare family name means "that family"
            if wanted != (info.family, info.arch) or (
                weights and not weights.startswith("/") and weights != info.weights
            ):
                raise ModelMismatchError(
                    f"library {self.root} holds vectors of {info.spec}; refusing to add vectors "
                    f"of {model}. Use another `library` for that model."
                )
        if fps is not None and abs(float(fps) - self.fps) > 1e-9:
            raise ModelMismatchError(
                f"library {self.root} samples {self.fps:g} frames/s; it cannot hold {fps:g}"
            )
        if framing is not None and check_framing(framing) is not self.framing:
            raise ModelMismatchError(
                f"library {self.root} uses '{self.framing}' framing; it cannot hold vectors "
                f"made with '{framing}' framing"
            )

    # --- facts ---------------------------------------------------------------------------

    @property
    def meta(self) -> dict[str, str]:
        with self.sessions() as session:
            return queries.get_meta(session=session)

    # The encoder and the sampling rate are fixed when a library is created: read them once
    # (they are asked for per video and per query).
    @functools.cached_property
    def model_info(self) -> ModelInfo:
        return ModelInfo.from_dict(json.loads(self.meta["encoder"]))

    @functools.cached_property
    def fps(self) -> float:
        return float(self.meta.get("fps", "1.0"))

    @functools.cached_property
    def framing(self) -> Framing:
        """How frames and query images become the encoder's square (fixed per library)."""
        return Framing(self.meta.get(FRAMING_META, LEGACY_FRAMING.value))

    @property
    def encoder(self) -> FrameEncoder:
        """The library's frame encoder, created on first use and checked against provenance."""
        if self._encoder is None:
            from vsearch.models import create_encoder

            info = self.model_info
            encoder = create_encoder(info.spec, device=self.settings.device)
            if encoder.info.key() != info.key():
                raise ModelMismatchError(
                    f"the weights of {info.spec} changed since the library was built "
                    f"({info.weights} -> {encoder.info.weights}); vectors would not be comparable"
                )
            self._encoder = encoder
        return self._encoder

    # --- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, *, wait: bool = True, timeout: float | None = None) -> Iterator[None]:
        """Hold the library's writer lock (one writer at a time; readers are never blocked).

        A writer waits ``timeout`` seconds (default: the ``lock_timeout`` setting) for another
        one; ``wait=False`` never waits (LibraryLockedError at once).
        """
        if self.readonly:
            raise StorageError(f"library {self.root} is read-only: cannot write to it")
        if self._lock_depth == 0:
            wait_s = self.settings.lock_timeout if timeout is None else timeout
            self._acquire_lock(wait_s if wait else 0.0)
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                self._release_lock()

    def writer_busy(self) -> bool:
        """True while another process holds the writer lock (an ``index`` run, say)."""
        if self.readonly or self._lock_depth:
            return False
        try:
            with self.writing(wait=False):
                return False
        except LibraryLockedError:
            return True

    def _acquire_lock(self, timeout: float) -> None:
        self._lock.acquire(timeout)
        faults.remove_stale_temp_files(self.root)

    def _release_lock(self) -> None:
        self._lock.release()

    # --- the frame index -----------------------------------------------------------------

    @property
    def frame_index(self) -> VectorIndex:
        if self._frame_index is None:
            self._frame_index, self._frame_sync = self._open_index(
                FRAME_INDEX, "frames", queries.frame_ids, queries.iter_frame_vectors
            )
        return self._frame_index

    @property
    def frame_searcher(self) -> VectorIndex | RerankedShards:
        """What frame search asks for candidates: the library's IVF-PQ shards, re-ranked
        exactly (``vsearch.store.shards.RerankedShards``), when they were built and hold
        exactly the stored frames; else the frame index (``frame_index``). Checked once, and
        again after this process or another changes the frames; shards found stale stay so
        (ids are never reused) until their files change: no second check or log line."""
        with self._swap:
            if self._frame_shards is _UNCHECKED:
                from vsearch.store.shards import RerankedShards, current_frame_shards, stamp

                now = stamp(self)
                if now is not None and now == self._stale_shards:
                    self._frame_shards = None
                else:
                    shards = current_frame_shards(self)
                    self._frame_shards = RerankedShards(self, shards) if shards else None
                    self._stale_shards = None if shards else now
            found = self._frame_shards
        return found if found is not None else self.frame_index

    def invalidate_frame_shards(self) -> None:
        """Frames or shard files changed: the shards are checked again at the next search."""
        self._frame_shards = _UNCHECKED

    @property
    def frame_sync(self) -> SyncReport:
        _ = self.frame_index
        assert self._frame_sync is not None
        return self._frame_sync

    def _open_index(
        self, name: str, label: str, stored_ids, stored_vectors
    ) -> tuple[VectorIndex, SyncReport]:
        """Load index file ``name`` and make it agree with the vectors stored in the DB."""
        if self._seen_version is None:  # commits after this point are for ``refresh``
            self._seen_version = self._data_version()
            self._pooler_seen = pooler_record(self.meta)
        with self.sessions() as session:
            ids = stored_ids(session=session)

            def fetch(wanted):
                return stored_vectors(session=session, ids=wanted)

            index, report = open_synced_index(
                label,
                self.root / name,
                self.model_info.dim,
                ids,
                fetch,
                identity=self.index_identity(name),
            )
        if report.changed and not self.readonly:
            # Repair the file too when no writer is busy; a busy writer saves it itself. A
            # reader never waits for the lock and still works when the save fails.
            try:
                with self.writing(wait=False):
                    self._save_index(index, name, report.card)
            except LibraryLockedError:
                pass
            except StorageError as exc:
                log.warning("repaired %s index kept in memory only: %s", name, exc)
        return index, report

    def index_identity(self, name: str) -> dict[str, str] | None:
        """What the side record of index file ``name`` must say (None: not checkable)."""
        library_id = self.meta.get(LIBRARY_ID_META)
        if library_id is None:  # an older library opened read-only: no id to check
            return None
        made_with = self.model_info.key()
        if name == CLIP_INDEX:
            record = pooler_record(self.meta)
            made_with = f"{made_with}|{record.get('name')}|{record.get('sha256')}"
        return {"library": library_id, "index": name, "vectors": made_with}

    def _save_index(self, index: VectorIndex, name: str, card: IndexCard | None = None) -> None:
        try:
            index.save(self.root / name)
            identity = self.index_identity(name)
            if identity is not None:
                write_identity(self.root / name, identity, index.ntotal)
            if card is not None:
                save_card(card, self.root / name)
        except OSError as exc:
            raise storage_error(self.root / name, exc) from exc
        except RuntimeError as exc:  # faiss reports write errors as RuntimeError
            raise StorageError(f"cannot write {self.root / name}: {exc}") from exc

    def save_indexes(self, *, force: bool = True) -> None:
        """Persist the in-memory indexes; unless ``force``, only now and then.

        The wait between two saves of a run is INDEX_SAVE_INTERVAL, or SAVE_COST_FACTOR times
        the last save's duration if longer: a save rewrites the whole file (gigabytes for
        millions of frames), and need not be frequent since the database holds every
        committed vector and a lagging file is repaired from it on open.
        """
        if not self._dirty:
            return
        interval = max(INDEX_SAVE_INTERVAL, SAVE_COST_FACTOR * self._save_s)
        if not force and time.monotonic() - self._last_save < interval:
            return
        started = time.monotonic()
        if self._frame_index is not None:
            self._save_index(self._frame_index, FRAME_INDEX)
        if self._clip_index is not None:
            self._save_index(self._clip_index, CLIP_INDEX)
        self._dirty = False
        self._last_save = time.monotonic()
        self._save_s = self._last_save - started

    def store_frames(
        self,
        path: str,
        *,
        times: np.ndarray,
        informative: np.ndarray,
        vectors: np.ndarray,
        facts: VideoFacts,
        classes: Sequence[bytes | None] | None = None,
    ) -> int:
        """Commit one video's frames and facts in one transaction, then update the index.

        ``classes``: per frame, its packed most probable ImageNet classes (or None)."""
        self.load_indexes()
        clips = make_clips(times, informative, vectors, 1.0 / self.fps, self.pooler)
        with self._committing() as session:
            video_id = queries.save_video(
                path, facts, session=session, indexed_at=queries.now_iso()
            )
            new_ids, old_ids = queries.replace_frames(
                video_id, times, informative, vectors, session=session, classes=classes
            )
            new_clips, old_clips = save_clips(video_id, clips, session=session)
        self.drop_vectors(old_ids, old_clips)
        self.add_vectors(new_ids, vectors, new_clips, clips.vectors)
        return video_id

    def import_frames(self, videos: Iterable[ImportedVideo]) -> int:
        """Store precomputed frame vectors: ``(path, times, vectors, facts)`` per video.

        Many videos per transaction and no in-memory index kept up to date: the bulk path for
        vectors made elsewhere (and for benchmarks). The indexes catch up from the database
        when next opened, or at once with ``rebuild_indexes``. Returns the frames stored.
        """
        stored = 0
        batch: list[ImportedVideo] = []
        with self.writing():
            for video in videos:
                batch.append(video)
                if sum(len(v[1]) for v in batch) >= IMPORT_BATCH_FRAMES:
                    stored += self._import_batch(batch)
                    batch = []
            stored += self._import_batch(batch)
        self.invalidate_frame_shards()
        return stored

    def _import_batch(self, batch: Sequence[ImportedVideo]) -> int:
        if not batch:
            return 0
        done = []
        with self._committing() as session:
            for path, times, vectors, facts in batch:
                informative = np.ones(len(times), dtype=bool)
                clips = make_clips(times, informative, vectors, 1.0 / self.fps, self.pooler)
                video_id = queries.save_video(
                    path, facts, session=session, indexed_at=queries.now_iso()
                )
                new_ids, old_ids = queries.replace_frames(
                    video_id, times, informative, vectors, session=session
                )
                new_clips, old_clips = save_clips(video_id, clips, session=session)
                done.append((new_ids, old_ids, vectors, new_clips, old_clips, clips.vectors))
        for new_ids, old_ids, vectors, new_clips, old_clips, clip_vectors in done:  # committed
            self.drop_vectors(old_ids, old_clips)
            self.add_vectors(new_ids, vectors, new_clips, clip_vectors)
        return sum(len(d[0]) for d in done)

    def record_failure(self, path: str, error: str, facts: VideoFacts | None = None) -> None:
        """Remember a file that could not be indexed, with what is known of it (``facts``;
        status, error and frame count are set here); its old vectors, if any, are removed."""
        failed = dataclasses.replace(
            facts or VideoFacts(), status=VideoStatus.FAILED, error=error, n_frames=0
        )
        self.load_indexes()  # so that the removed vectors leave the index files too
        with self._committing() as session:
            removed, removed_clips = queries.delete_video_at(path, session=session)
            queries.save_video(path, failed, session=session)
        self.drop_vectors(removed, removed_clips)

    def delete_videos(self, video_ids: Sequence[int]) -> None:
        if not video_ids:
            return
        removed: list[int] = []
        removed_clips: list[int] = []
        self.load_indexes()  # so that the removed vectors leave the index files too
        with self._committing() as session:
            for vid in video_ids:
                frames, clips = queries.delete_video(vid, session=session)
                removed.extend(frames)
                removed_clips.extend(clips)
        self.drop_vectors(removed, removed_clips)

    def move_video(self, video_id: int, new_path: str, *, size: int, mtime: float) -> None:
        """Give a stored video a new path (a renamed file, of ``size`` and ``mtime``),
        replacing a row already there."""
        self.load_indexes()
        with self._committing() as session:
            removed, removed_clips = queries.delete_video_at(new_path, session=session)
            queries.rename_video(video_id, new_path, size=size, mtime=mtime, session=session)
        self.drop_vectors(removed, removed_clips)

    @contextlib.contextmanager
    def _committing(self) -> Iterator[Session]:
        """One transaction; a failed write (disk full, read-only...) becomes a StorageError."""
        try:
            with transaction(self.sessions) as session:
                yield session
        except OperationalError as exc:
            raise self._db_error(exc) from exc

    # --- keeping the in-memory indexes in step with committed rows -----------------------

    def load_indexes(self) -> None:
        """Load (and reconcile) both indexes before writing, so that the writer keeps them
        up to date in memory and saves them, instead of leaving files behind the database."""
        _ = self.frame_index, self.clip_index

    def add_vectors(
        self,
        frame_ids: Sequence[int] | np.ndarray = (),
        frame_vectors: np.ndarray | None = None,
        clip_ids: Sequence[int] | np.ndarray = (),
        clip_vectors: np.ndarray | None = None,
    ) -> None:
        """Add vectors whose rows were just committed to the loaded indexes.

        An index not loaded yet is left alone: it is read from the database, committed rows
        included, when first used (adding to it then would add them twice).
        """
        with self._swap:
            if len(frame_ids):
                self.invalidate_frame_shards()
            if len(frame_ids) and self._frame_index is not None:
                assert frame_vectors is not None, "frame ids without their vectors"
                self._frame_index.add(np.asarray(frame_ids, dtype=np.int64), frame_vectors)
                self._dirty = True
            if len(clip_ids) and self._clip_index is not None:
                assert clip_vectors is not None, "clip ids without their vectors"
                self._clip_index.add(np.asarray(clip_ids, dtype=np.int64), clip_vectors)
                self._dirty = True

    def drop_vectors(self, frame_ids: Sequence[int] = (), clip_ids: Sequence[int] = ()) -> None:
        """Take vectors whose rows were just deleted out of the loaded indexes."""
        with self._swap:
            if len(frame_ids):
                self.invalidate_frame_shards()
            if len(frame_ids) and self._frame_index is not None:
                self._frame_index.remove(np.asarray(frame_ids, dtype=np.int64))
                self._dirty = True
            if len(clip_ids) and self._clip_index is not None:
                self._clip_index.remove(np.asarray(clip_ids, dtype=np.int64))
                self._dirty = True

    # --- exact or approximate search (index/approx.py, index/build.py) ---------------------

    def index_cards(self) -> dict[str, IndexCard | None]:
        """What each index file is and how well it searches (None: no card written yet)."""
        return {label: load_card(self.root / name) for label, name, *_ in self._index_specs()}

    def _index_specs(self):
        return (
            ("frames", FRAME_INDEX, queries.frame_ids, queries.iter_frame_vectors),
            ("clips", CLIP_INDEX, queries.clip_ids, queries.iter_clip_vectors),
        )

    def rebuild_indexes(
        self, *, force: bool = False, background: bool = False, codec: str | None = None
    ) -> dict[str, IndexCard] | threading.Thread:
        """Switch each index between exact and approximate search as its size asks, or
        retrain it once it grew (``force``: rebuild with the chosen setting regardless).

        Readers are never blocked: the new index is built from the stored vectors beside the
        one in use, brought up to date with rows committed meanwhile, swapped in and saved
        (atomically, when no other writer holds the lock). ``background`` runs it in a
        thread (for a long-lived process) and returns the thread; otherwise the cards of the
        indexes rebuilt are returned by name ("frames", "clips"). ``codec`` rebuilds the frame
        index with that setting whatever its size: ``exact``, or IVF with ``flat``, ``sq8``,
        ``sq4`` or ``pq`` codes (index/approx.py).
        """
        if background:
            thread = threading.Thread(
                target=self._rebuild_logged, kwargs={"force": force, "codec": codec}, daemon=True,
                name=f"vsearch-index-build:{self.root.name}",
            )  # fmt: skip
            thread.start()
            return thread
        built = {
            spec[0]: self._rebuild_one(spec, force, codec if spec[0] == "frames" else None)
            for spec in self._index_specs()
            if codec is None or spec[0] == "frames"
        }
        return {label: card for label, card in built.items() if card is not None}

    def _rebuild_logged(self, force: bool, codec: str | None) -> None:
        try:
            self.rebuild_indexes(force=force, codec=codec)
        except Exception:  # a background build must not die silently
            log.exception("background index build of %s failed", self.root)

    def _rebuild_one(self, spec, force: bool, codec: str | None = None) -> IndexCard | None:
        label, name, stored_ids, stored_vectors = spec
        current = self.frame_index if label == "frames" else self.clip_index
        dim = self.model_info.dim
        card = load_card(self.root / name)
        have = current.setting  # type: ignore[attr-defined]
        built_for = card.vectors if card and card.factory == have.factory(dim) else current.ntotal
        setting = needs_rebuild(have, built_for, current.ntotal, dim)
        if codec is not None:
            setting = choose_setting(max(current.ntotal, 1), dim, codec=codec)
        elif setting is None and not force:
            return None
        with self.sessions() as session:
            n = len(stored_ids(session=session))
            index, card = build_index(
                dim, n, lambda: stored_vectors(session=session), setting=setting
            )
        with self._swap:  # rows committed during the build, then the swap
            with self.sessions() as session:
                ids = stored_ids(session=session)
                reconcile_index(index, ids, lambda w: stored_vectors(session=session, ids=w))
            card.vectors = index.ntotal
            if label == "frames":
                self._frame_index = index
                self._frame_sync = SyncReport(label, len(ids), len(ids))
            else:
                self._clip_index = index
                self._clip_sync = SyncReport(label, len(ids), len(ids))
        log.info("%s index: %s", label, card.summary())
        try:
            with self.writing(wait=False):
                self._save_index(index, name, card)
        except (LibraryLockedError, StorageError) as exc:
            self._dirty = True  # saved by the writer later, or repaired on the next open
            log.info("%s index rebuilt in memory only: %s", label, exc)
        return card

    # --- following other processes' commits ----------------------------------------------

    def refresh(self) -> dict[str, int] | None:
        """Pick up what other processes committed since the indexes were loaded.

        A long-lived reader (``vsearch serve``) calls this before each query. It costs one
        ``PRAGMA data_version`` when nothing changed; after another process's commit, the
        loaded indexes are made to agree with the database id for id (new vectors added,
        deleted ones removed; after a new temporal model, the clip index is read anew).
        Returns None when nothing was committed elsewhere, else what changed.
        Not thread-safe: callers that query from several threads hold a lock around it.
        """
        version = self._data_version()
        if version == self._seen_version:
            return None
        self._seen_version = version
        self.invalidate_frame_shards()
        changes = {"frames_added": 0, "frames_removed": 0, "clips_added": 0, "clips_removed": 0}
        record = pooler_record(self.meta)
        if record != self._pooler_seen:
            # Another process trained a temporal model and re-pooled every clip in place:
            # the clip index and the pooler are read anew when next used.
            self._pooler_seen = record
            self._clip_index = self._clip_sync = None
            self.__dict__.pop("pooler", None)
            changes["clips_repooled"] = 1
        with self._swap, self.sessions() as session:  # not while an index is swapped
            for kind, index, stored_ids, stored_vectors in (
                ("frames", self._frame_index, queries.frame_ids, queries.iter_frame_vectors),
                ("clips", self._clip_index, queries.clip_ids, queries.iter_clip_vectors),
            ):
                if index is None:  # read in full from the database when first used
                    continue

                def fetch(wanted, _vectors=stored_vectors):
                    return _vectors(session=session, ids=wanted)

                added, removed = reconcile_index(index, stored_ids(session=session), fetch)
                changes[f"{kind}_added"], changes[f"{kind}_removed"] = added, removed
        if any(changes.values()):
            log.info("picked up commits of another process: %s", changes)
        return changes

    def committed_elsewhere(self) -> bool:
        """Whether another connection committed since the last ``refresh`` (one pragma)."""
        return self._data_version() != self._seen_version

    def _data_version(self) -> int:
        """SQLite's counter of commits made through other connections than ``_watch``; on a
        database server, the server's count of commits to this database (this process's
        included: a refresh after them finds nothing to change)."""
        query = (
            "PRAGMA data_version"
            if is_sqlite(self.engine)
            else "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        with self._watch_lock:
            if self._watch is None:
                self._watch = self.engine.connect()
            try:
                return int(self._watch.exec_driver_sql(query).scalar_one())
            finally:
                self._watch.rollback()  # never hold a read transaction open between calls

    # --- reading -------------------------------------------------------------------------

    def videos(self, *, errors_only: bool = False, under: str | None = None) -> list[VideoRecord]:
        """Every video (``errors_only``: failed or partial ones; ``under``: in that folder)."""
        status = (VideoStatus.FAILED, VideoStatus.PARTIAL) if errors_only else None
        with self.sessions() as session:
            return queries.list_videos(session=session, status=status, under=under)

    def searchable_videos(self) -> list[VideoRecord]:
        """Videos with stored frames (indexed, or partly decoded)."""
        with self.sessions() as session:
            return queries.list_videos(session=session, status=WITH_FRAMES)

    def video_at(self, path: str) -> VideoRecord | None:
        with self.sessions() as session:
            return queries.get_video(path, session=session)

    def video_by_id(self, video_id: int) -> VideoRecord | None:
        with self.sessions() as session:
            return queries.get_video_by_id(video_id, session=session)

    def videos_with_hash(self, content_hash: str) -> list[VideoRecord]:
        with self.sessions() as session:
            return queries.videos_with_hash(content_hash, session=session)

    def video_counts(self) -> dict[str, int]:
        """status -> number of videos."""
        with self.sessions() as session:
            return queries.count_videos(session=session)

    def frame_count(self) -> int:
        with self.sessions() as session:
            return queries.count_frames(session=session)

    def clip_count(self) -> int:
        with self.sessions() as session:
            return queries.count_clips(session=session)

    def frames_of(self, video_id: int) -> StoredFrames:
        """A video's stored frames in time order."""
        with self.sessions() as session:
            return queries.video_frames(video_id, session=session)

    def clips_of(self, video_id: int) -> StoredClips:
        """A video's stored clips in time order."""
        with self.sessions() as session:
            return queries.video_clips(video_id, session=session)

    def clip_windows_of(self, video_id: int) -> ClipWindows:
        """A video's stored frames with the windows of its stored clips over them."""
        with self.sessions() as session:
            frames = queries.video_frames(video_id, session=session)
            starts, ends = queries.video_clip_spans(video_id, session=session)
        return clip_windows(video_id, frames, starts, ends, 1.0 / self.fps)

    def video_frame_classes(self, video_id: int) -> list[bytes | None]:
        """The packed ImageNet classes of a video's frames, in time order."""
        with self.sessions() as session:
            return queries.video_frame_classes(video_id, session=session)

    def frame_classes(self, frame_ids: Sequence[int]) -> dict[int, bytes]:
        """{frame id: packed ImageNet classes} of the given frames that have them."""
        with self.sessions() as session:
            return queries.frame_classes_of(frame_ids, session=session)

    def iter_frame_classes(self, *, chunk: int = 20000) -> Iterator[list[tuple[int, bytes]]]:
        """Chunks of (frame id, packed classes) of every informative frame that has them."""
        with self.sessions() as session:
            yield from queries.iter_frame_classes(session=session, chunk=chunk)

    def frame_table(self) -> FrameTable:
        """Every stored frame of the library in one set of arrays, in id order."""
        with self.sessions() as session:
            chunks = list(queries.iter_frame_table(session=session))
        if not chunks:
            empty = np.zeros(0, dtype=np.int64)
            dim = self.model_info.dim
            return FrameTable(
                empty, empty, np.zeros(0), np.zeros(0, bool), np.zeros((0, dim), np.float32)
            )
        table = FrameTable(
            ids=np.concatenate([c.ids for c in chunks]),
            video_ids=np.concatenate([c.video_ids for c in chunks]),
            times=np.concatenate([c.times for c in chunks]),
            informative=np.concatenate([c.informative for c in chunks]),
            vectors=np.concatenate([c.vectors for c in chunks]),
        )
        del chunks
        return table

    def frame_locations(self, frame_ids: Sequence[int] | np.ndarray) -> dict[int, FrameLocation]:
        """frame id -> where it is; ids deleted since an index was loaded are left out."""
        with self.sessions() as session:
            return queries.frame_locations(frame_ids, session=session)

    def frame_vectors(self, frame_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors (n, dim)) of the stored frames among ``frame_ids``, in id
        order; ids deleted since an index was loaded are left out."""
        with self.sessions() as session:
            parts = [
                part
                for part in queries.iter_frame_vectors(session=session, ids=frame_ids)
                if len(part[0])
            ]
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, self.model_info.dim), np.float32)
        return (
            np.concatenate([ids for ids, _ in parts]).astype(np.int64),
            np.concatenate([vectors for _, vectors in parts]).astype(np.float32, copy=False),
        )

    def frame_places(self, frame_ids: np.ndarray) -> FramePlaces:
        """Where the stored frames among ``frame_ids`` are (ids deleted since an index was
        loaded, and -1, are not held in it).

        On SQLite, every stored frame's place is read once (24 bytes a frame, from the
        (video, time) index) and kept until a commit of any connection, which one pragma
        tells; the first search after one reads the frames added since, or all of them again
        when some were deleted. On a database server, which has no such cheap check, the
        frames asked are read each time.
        """
        if not is_sqlite(self.engine):
            asked = np.unique(frame_ids[frame_ids >= 0])
            with self.sessions() as session:
                return queries.frame_places(session=session, ids=asked)
        return self._current_places()

    def load_frame_places(self) -> None:
        """Read what ``frame_places`` keeps now (if it is out of date), not at a search."""
        if is_sqlite(self.engine):
            self._current_places()

    def _current_places(self) -> FramePlaces:
        with self._places_lock:
            version = self._data_version()  # before the read: a commit during it is seen
            if self._places is None or self._places[0] != version:
                old, self._places = self._places, None
                with self.sessions() as session:
                    places = queries.frame_places_added(old[1], session=session) if old else None
                    if places is None:  # first read, or frames were deleted: all again
                        old = None  # not kept while the new arrays are read
                        places = queries.frame_places(session=session)
                self._places = (version, places)
            return self._places[1]

    def clip_locations(self, clip_ids: Sequence[int] | np.ndarray) -> dict[int, ClipLocation]:
        """clip id -> its video; ids deleted since an index was loaded are left out."""
        with self.sessions() as session:
            return queries.clip_locations(clip_ids, session=session)

    def schema_revisions(self) -> tuple[str | None, str | None]:
        """(the database's Alembic revision, the newest one this vsearch knows)."""
        return current_revision(self.engine), head_revision()

    # --- labels and predictions ----------------------------------------------------------

    def labels(self) -> list[LabelRecord]:
        with self.sessions() as session:
            return queries.list_labels(session=session)

    def labelled_video_ids(self) -> set[int]:
        with self.sessions() as session:
            return queries.labelled_video_ids(session=session)

    def add_labels(self, labels: Sequence[NewLabel]) -> list[LabelRecord]:
        """Add labels in one transaction; return their records."""
        with self.writing(), self._committing() as session:
            added = {
                queries.add_label(new.video_id, new.label, new.start, new.end, session=session)
                for new in labels
            }
            return [r for r in queries.list_labels(session=session) if r.id in added]

    def remove_labels(
        self,
        video_id: int,
        label: str | None,
        *,
        start: float | None = None,
        end: float | None = None,
        any_span: bool = True,
    ) -> int:
        """Delete a video's labels (see ``queries.remove_labels``); return how many."""
        with self.writing(), self._committing() as session:
            return queries.remove_labels(
                video_id, label, start=start, end=end, any_span=any_span, session=session
            )

    def predictions(self, video_id: int | None = None) -> list[PredictionRecord]:
        """Stored predictions, of one video or all."""
        with self.sessions() as session:
            return queries.list_predictions(session=session, video_id=video_id)

    def replace_predictions(
        self, video_id: int, classifier: str, rows: Sequence[ScoredLabel]
    ) -> None:
        """Store a classifier's labels for a video (whole and per clip), replacing its old."""
        with self._committing() as session:
            queries.replace_predictions(video_id, classifier, rows, session=session)

    def close(self) -> None:
        try:
            if self._dirty and self._lock_depth == 0 and not self.readonly:
                # Changes left by a failed run: save them only as the writer (the database
                # holds them anyway; the index is repaired from it on the next open).
                with contextlib.suppress(LibraryLockedError), self.writing(wait=False):
                    self.save_indexes()
            else:
                self.save_indexes()
        finally:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None
            self.claims.close()
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            self._places = None
            self.engine.dispose()
            self._release_lock()

    def __enter__(self: _L) -> _L:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- clips (store/clips.py) ----------------------------------------------------------

    @functools.cached_property
    def pooler(self) -> TemporalPooler:
        """The temporal pooler of the library's clips (``mean`` unless one was trained)."""
        return load_pooler(
            pooler_record(self.meta),
            dim=self.model_info.dim,
            root=self.root,
            device=self.settings.device,
            encoder_key=self.model_info.key(),
        )

    def use_pooler(self, pooler: TemporalPooler, checkpoint: Path | None) -> int:
        """Make ``pooler`` the library's pooler: re-pool every clip and rebuild the clip index.

        Clip ids are kept (vectors updated in place) and the record in library_meta changes in
        the same transaction, so the database never mixes two poolers. Returns the clip count.
        """
        from vsearch.models.base import file_sha256

        check_pooler_encoder(pooler, self.model_info.key())
        step = 1.0 / self.fps
        record: PoolerRecord = {
            "name": pooler.name,
            "checkpoint": str(checkpoint.relative_to(self.root)) if checkpoint else None,
            "sha256": file_sha256(checkpoint) if checkpoint else None,
        }
        total = 0
        with self.writing():
            with transaction(self.sessions) as session:
                videos = queries.list_videos(session=session, status=WITH_FRAMES)
                for video in videos:
                    frames = queries.video_frames(video.id, session=session)
                    stored = queries.video_clips(video.id, session=session)
                    clips = make_clips(
                        frames.times, frames.informative, frames.vectors, step, pooler
                    )
                    if len(stored) == len(clips) and np.allclose(stored.starts, clips.starts):
                        queries.update_clip_vectors(stored.ids, clips.vectors, session=session)
                    else:  # clips of an older windowing: store them afresh
                        save_clips(video.id, clips, session=session)
                    total += len(clips)
                queries.set_meta(POOLER_META, json.dumps(record), session=session)
            self.pooler = pooler
            self.rebuild_clip_index()
        log.info("clips re-pooled with %s: %d clips", pooler.name, total)
        return total

    def backfill_clips(self) -> int:
        """Give clips to videos indexed before the library had clips (from stored frames only).

        A library upgraded from the first schema revision has frames but no clips; this pools
        them without decoding anything. Returns the number of videos completed.
        """
        with self.sessions() as session:
            missing = queries.videos_without_clips(session=session)
        if not missing:
            return 0
        pooler = self.pooler
        step = 1.0 / self.fps
        self.load_indexes()
        for video_id in missing:
            with transaction(self.sessions) as session:
                frames = queries.video_frames(video_id, session=session)
                clips = make_clips(frames.times, frames.informative, frames.vectors, step, pooler)
                new_ids, old_ids = save_clips(video_id, clips, session=session)
            self.drop_vectors(clip_ids=old_ids)
            self.add_vectors(clip_ids=new_ids, clip_vectors=clips.vectors)
        log.info("made clips for %d videos indexed before clips existed", len(missing))
        return len(missing)

    @property
    def clip_index(self) -> VectorIndex:
        if self._clip_index is None:
            self._clip_index, self._clip_sync = self._open_index(
                CLIP_INDEX, "clips", queries.clip_ids, queries.iter_clip_vectors
            )
        return self._clip_index

    @property
    def clip_sync(self) -> SyncReport:
        _ = self.clip_index
        assert self._clip_sync is not None
        return self._clip_sync

    def rebuild_clip_index(self) -> None:
        """Rebuild the clip index from the stored clip vectors and save it."""
        with self.sessions() as session:
            n = len(queries.clip_ids(session=session))
            index, card = build_index(
                self.model_info.dim, n, lambda: queries.iter_clip_vectors(session=session)
            )
        with self._swap:
            self._clip_index = index
            self._clip_sync = SyncReport("clips", index.ntotal, index.ntotal)
        self._save_index(index, CLIP_INDEX, card)


def _make_folder(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create library directory {root}: {exc}") from exc


def _library_exists(settings: Settings) -> bool:
    """A library folder with its SQLite file, or a shared database that holds a library."""
    if not settings.db_url:
        return (settings.library / DB_NAME).exists()
    from sqlalchemy import inspect, select

    from vsearch.db.schema import MetaRow

    engine = create_server_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(MetaRow.__tablename__):
                return False
            return conn.scalar(select(MetaRow.value).where(MetaRow.key == "encoder")) is not None
    except OperationalError as exc:
        raise StorageError(
            f"cannot reach the library database {redact_url(settings.db_url)}: "
            f"{getattr(exc, 'orig', exc)}".strip()
        ) from exc
    finally:
        engine.dispose()
