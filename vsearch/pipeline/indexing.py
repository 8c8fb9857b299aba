"""Indexing use case: walk -> plan (incremental) -> decode (parallel) -> encode -> write.

Decoding runs in several ffmpeg processes (one per worker thread) that feed a bounded queue;
the main thread encodes frames in batches that may span videos, and commits each video in
its own transaction as soon as its last frame is encoded, so an interrupted run loses at most
the videos in flight.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.checks import check_paths
from vsearch.errors import InterruptedRun, MediaError, PartialDecodeError, VsearchError
from vsearch.pipeline.index_jobs import IndexJob, StageTimes
from vsearch.progress import NullProgress, Progress
from vsearch.types import FrameBatch, IndexReport, VideoFacts, VideoStatus

if TYPE_CHECKING:
    from vsearch.pipeline.ray_index import RayOptions
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)


_DONE = object()


def index_videos(
    store: LibraryStore,
    paths: Sequence[str | Path],
    *,
    prune: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    ray: RayOptions | None = None,
) -> IndexReport:
    """Index every video under ``paths``; see the module docstring for the stages.

    With ``ray``, decoding and encoding run on a Ray cluster (``pipeline.ray_index``); the
    planning, the commits and the report stay here.
    """
    check_paths(paths)
    progress = progress or NullProgress()
    report = IndexReport()
    stages = StageTimes()
    started = time.perf_counter()
    with store.writing():
        t0 = time.perf_counter()
        jobs = _plan(store, paths, report, retry_failed=retry_failed)
        if prune:
            _prune(store, paths, report)
        store.backfill_clips()
        stages.add("plan", time.perf_counter() - t0)
        try:
            if jobs and ray is not None:
                from vsearch.pipeline.ray_index import DriverSteps, run_jobs_on_ray

                steps = DriverSteps(
                    claim=lambda job: _claim_job(store, job, retry_failed),
                    write=lambda job: _write_job(store, job, report),
                    line=_job_line,
                )
                run_jobs_on_ray(store, jobs, report, stages, progress, ray, steps)
            elif jobs:
                _run_jobs(store, jobs, report, stages, progress, retry_failed=retry_failed)
        except KeyboardInterrupt:
            report = _finish(store, report, stages, started, interrupted=True)
            raise InterruptedRun(
                f"interrupted: {len(report.indexed)} videos indexed and committed before the stop; "
                "run the same command again to go on",
            ) from None
        return _finish(store, report, stages, started)


def _finish(
    store: LibraryStore,
    report: IndexReport,
    stages: StageTimes,
    started: float,
    interrupted: bool = False,
) -> IndexReport:
    t0 = time.perf_counter()
    store.save_indexes()
    stages.add("write", time.perf_counter() - t0)
    if not interrupted:
        t0 = time.perf_counter()
        cards = store.rebuild_indexes()  # exact <-> approximate as the library's size asks
        assert isinstance(cards, dict)
        report.index_builds = [f"{name}: {card.summary()}" for name, card in cards.items()]
        if cards:
            stages.add("index-build", time.perf_counter() - t0)
    report.wall_seconds = time.perf_counter() - started
    report.stage_seconds = dict(stages.seconds)
    report.interrupted = interrupted
    return report


# --- planning ------------------------------------------------------------------------------


_TOO_LONG = OSError(errno.ENAMETOOLONG, "File name too long")


def _plan(
    store: LibraryStore, paths: Sequence[str | Path], report: IndexReport, *, retry_failed: bool
) -> list[IndexJob]:
    from vsearch.media import content_hash, file_fingerprint, walk_videos
    from vsearch.media.files import describe_os_error

    jobs: list[IndexJob] = []
    seen: set[str] = set()
    for path, problem in walk_videos(paths):
        if path in seen:
            continue
        seen.add(path)
        if problem is not None:
            report.failed.append((path, problem.cause))
            if os.path.lexists(path) or problem.cause == describe_os_error(_TOO_LONG):
                _record_failure_claimed(store, path, problem.cause, None, report)
            continue
        try:
            size, mtime = file_fingerprint(path)
        except MediaError as exc:
            report.failed.append((path, exc.cause))
            _record_failure_claimed(store, path, exc.cause, None, report)
            continue
        if _unchanged(store, path, size, mtime, retry_failed=retry_failed):
            report.skipped.append(path)
            continue
        try:
            digest = content_hash(path)
        except MediaError as exc:
            report.failed.append((path, exc.cause))
            facts = VideoFacts(size=size, mtime=mtime)
            _record_failure_claimed(store, path, exc.cause, facts, report)
            continue
        if not store.claims.shared:
            if _reuse_by_hash(store, path, size, mtime, digest):
                report.reused.append(path)
                continue
        elif store.claims.claim(path):
            # Writers sharing a database claim a file before writing its rows; a job's claim
            # is taken later, by its decoder, so that only the files in flight hold one.
            try:
                reused = _reuse_by_hash(store, path, size, mtime, digest)
            finally:
                store.claims.release(path)
            if reused:
                report.reused.append(path)
                continue
        else:
            report.elsewhere.append(path)
            continue
        jobs.append(IndexJob(path, size, mtime, digest))
    return jobs


def _unchanged(
    store: LibraryStore, path: str, size: int, mtime: float, *, retry_failed: bool
) -> bool:
    known = store.video_at(path)
    unchanged = known is not None and (known.size, known.mtime) == (size, mtime)
    failed_before = known is not None and known.status in (
        VideoStatus.FAILED,
        VideoStatus.PARTIAL,
    )
    return unchanged and (not failed_before or not retry_failed)


def _record_failure_claimed(
    store: LibraryStore, path: str, cause: str, facts: VideoFacts | None, report: IndexReport
) -> None:
    """Record a failed file, unless another writer sharing the database is on it."""
    if not store.claims.claim(path):
        report.elsewhere.append(path)
        return
    try:
        store.record_failure(path, cause, facts)
    finally:
        store.claims.release(path)


def _reuse_by_hash(store: LibraryStore, path: str, size: int, mtime: float, digest: str) -> bool:
    """A renamed or duplicated file: reuse the stored vectors instead of decoding again."""
    twins = [v for v in store.videos_with_hash(digest) if v.path != path]
    if not twins:
        return False
    source = twins[0]
    if not os.path.exists(source.path):
        # Renamed (or moved): keep the row and its frames, change the path.
        store.move_video(source.id, path, size=size, mtime=mtime)
        log.info("%s: renamed from %s, vectors reused", path, source.path)
        return True
    frames = store.frames_of(source.id)
    classes = store.video_frame_classes(source.id)
    facts = VideoFacts(
        status=source.status,
        size=size,
        mtime=mtime,
        content_hash=digest,
        error=source.error,
        duration=source.duration,
        fps=source.fps,
        width=source.width,
        height=source.height,
        codec=source.codec,
        n_frames=source.n_frames,
        tags=tuple(source.tags) if source.tags else None,
    )
    store.store_frames(
        path,
        times=frames.times,
        informative=frames.informative,
        vectors=frames.vectors,
        facts=facts,
        classes=classes if any(c is not None for c in classes) else None,
    )
    log.info("%s: same content as %s, vectors reused", path, source.path)
    return True


def _prune(store: LibraryStore, paths: Sequence[str | Path], report: IndexReport) -> None:
    roots = [os.path.abspath(p) for p in paths]
    gone = []
    for root in roots:
        for video in store.videos(under=root):
            if not os.path.lexists(video.path):
                gone.append(video)
    store.delete_videos([v.id for v in gone])
    report.pruned.extend(v.path for v in gone)


# --- decode / encode / write ---------------------------------------------------------------


def _run_jobs(
    store: LibraryStore,
    jobs: list[IndexJob],
    report: IndexReport,
    stages: StageTimes,
    progress: Progress,
    *,
    retry_failed: bool = False,
) -> None:
    from vsearch.media import probe_video
    from vsearch.models.words import has_imagenet_head

    encoder = store.encoder
    classifier = encoder if has_imagenet_head(encoder) else None  # one pass gives both
    size = encoder.info.input_size
    batch = store.settings.batch_size or getattr(encoder, "batch_size", 32)
    workers = min(store.settings.decoder_count(), len(jobs))
    stop = threading.Event()
    items: queue.Queue = queue.Queue(maxsize=max(4, 3 * workers))

    for job in jobs:
        try:
            job.info = probe_video(job.path)
            job.estimate = job.info.duration
        except MediaError as exc:
            job.error = exc
    total_seconds = sum(j.estimate for j in jobs) or float(len(jobs))
    progress.begin(total_seconds, "s", f"indexing {len(jobs)} videos")

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def decode(job: IndexJob) -> None:
        from vsearch.media import iter_frames

        if not _claim_job(store, job, retry_failed):
            put((job, _DONE))
            return
        if job.error is None and not stop.is_set():
            frames = iter_frames(
                job.path,
                fps=store.fps,
                size=size,
                info=job.info,
                chunk=batch,
                framing=store.framing,
            )
            try:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    try:
                        chunk = next(frames)
                    except StopIteration:
                        break
                    finally:
                        stages.add("decode", time.perf_counter() - t0)
                    if not put((job, chunk)):
                        break
            except MediaError as exc:
                job.error = exc
            except Exception as exc:  # an unexpected failure must not stop the run
                log.debug("decoding %s failed", job.path, exc_info=True)
                job.error = MediaError(job.path, f"unexpected decoder failure: {exc}")
            finally:
                frames.close()
        put((job, _DONE))

    pending: list[tuple[IndexJob, FrameBatch]] = []

    def flush() -> None:
        if not pending:
            return
        images = np.concatenate([b.images for _, b in pending])
        t0 = time.perf_counter()
        if classifier is not None:
            vectors, classes = classifier.encode_and_classify(images)
        else:
            vectors, classes = encoder.encode_images(images), None
        stages.add("encode", time.perf_counter() - t0)
        offset = 0
        for job, b in pending:
            n = len(b)
            job.times.append(b.times)
            job.informative.append(b.informative)
            job.vectors.append(vectors[offset : offset + n])
            if classes is not None:
                job.classes.append(classes[offset : offset + n])
            offset += n
        frames = sum(len(b) for _, b in pending)
        report.frames += frames
        pending.clear()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vsearch-decode")
    try:
        for job in jobs:
            pool.submit(decode, job)
        done = 0
        pending_frames = 0
        last_time: dict[str, float] = {}
        while done < len(jobs):
            try:
                job, item = items.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is _DONE:
                flush()
                pending_frames = 0
                t0 = time.perf_counter()
                try:
                    if job.elsewhere:
                        report.elsewhere.append(job.path)
                    else:
                        _write_job(store, job, report)
                finally:
                    store.claims.release(job.path)
                store.save_indexes(force=False)
                stages.add("write", time.perf_counter() - t0)
                remaining = job.estimate - last_time.get(job.path, 0.0)
                progress.advance(max(0.0, remaining), videos=1)
                progress.message(_job_line(job))
                done += 1
                continue
            pending.append((job, item))
            pending_frames += len(item)
            seconds = float(item.times[-1]) - last_time.get(job.path, 0.0)
            last_time[job.path] = float(item.times[-1])
            progress.advance(max(0.0, seconds), frames=len(item))
            if pending_frames >= batch or items.empty():
                flush()
                pending_frames = 0
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        progress.end()


def _claim_job(store: LibraryStore, job: IndexJob, retry_failed: bool) -> bool:
    """Claim a job's file before decoding it (writers sharing a database); False when another
    writer has it, or committed it since this run planned (then it is left to that one)."""
    if not store.claims.shared:
        return True
    if not store.claims.claim(job.path):
        job.elsewhere = True
        return False
    if _unchanged(store, job.path, job.size, job.mtime, retry_failed=retry_failed):
        job.elsewhere = True
        return False
    return True


def _job_line(job: IndexJob) -> str:
    if job.elsewhere:
        return f"skipped {job.path}: indexed by another writer"
    if job.error is None:
        return f"indexed {job.path}"
    if isinstance(job.error, PartialDecodeError):
        return f"partial {job.error}"
    return f"failed  {job.error}"


def _write_job(store: LibraryStore, job: IndexJob, report: IndexReport) -> None:
    info = job.info
    facts = VideoFacts(size=job.size, mtime=job.mtime, content_hash=job.content_hash)
    if info is not None:
        facts = dataclasses.replace(
            facts,
            duration=info.duration,
            fps=info.fps,
            width=info.width,
            height=info.height,
            rotation=info.rotation,
            codec=info.codec,
        )
    error = job.error
    if error is not None and (not job.times or not isinstance(error, PartialDecodeError)):
        cause = error.cause if isinstance(error, MediaError) else str(error)
        report.failed.append((job.path, cause))
        try:
            store.record_failure(job.path, cause, facts)
        except VsearchError:
            raise
        return
    times = np.concatenate(job.times) if job.times else np.zeros(0)
    informative = np.concatenate(job.informative) if job.informative else np.zeros(0, bool)
    dim = store.model_info.dim
    vectors = np.concatenate(job.vectors) if job.vectors else np.zeros((0, dim), np.float32)
    classes = None
    tags = None
    if job.classes:
        from vsearch.models.words import ImageNetWords, pack_top_classes

        probs = np.concatenate(job.classes)
        classes = pack_top_classes(probs)
        shown = probs[informative] if informative.any() else probs
        top = ImageNetWords.shipped().top_tags(shown.mean(axis=0))
        tags = tuple((name, round(score, 4)) for name, score in top)
    facts = dataclasses.replace(
        facts,
        status=VideoStatus.PARTIAL if error is not None else VideoStatus.INDEXED,
        error=error.cause if error is not None else None,
        n_frames=int(len(times)),
        tags=tags,
    )
    store.store_frames(
        job.path,
        times=times,
        informative=informative,
        vectors=vectors,
        facts=facts,
        classes=classes,
    )
    if error is not None:  # partial
        report.partial.append((job.path, error.cause))
    else:
        report.indexed.append(job.path)
    duration = info.duration if info is not None and info.duration else float(times[-1:].sum())
    report.video_seconds += duration
