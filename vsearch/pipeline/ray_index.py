"""Indexing on a Ray cluster: decoding and encoding fan out to actors, the driver writes.

``vsearch index PATH... --ray auto|ADDRESS`` plans the run as the local indexer does
(incremental by size, mtime and content hash; claims through a shared database), then hands
each file to a Ray actor that decodes it with ffmpeg and encodes its frames with the library's
model, loaded once per actor (one actor per GPU where the cluster has GPUs, ``num_gpus=1``
each, else one per ``cpus_per_actor`` CPUs). An actor streams a file's vectors back in
batches through a Ray generator with back-pressure (at most ``STREAM_BACKLOG`` batches
waiting per file), so the driver's memory stays flat however many files there are.

The driver keeps every guarantee of the local indexer, because it is the only writer: it
commits each video in one transaction as soon as its last batch arrives, records failures,
and releases the file's claim. A worker that dies mid-file loses only that file's batches:
the driver drops them and gives the file to another actor (Ray restarts the dead one), up to
``MAX_ATTEMPTS`` times, then records it as failed. A driver that dies loses the files in
flight; running the same command again goes on from the last committed video.

Files must be readable at the same path on every node (shared storage), and vsearch must be
installed in the workers' Python (``pip install 'vsearch-video[ray]'`` on each node).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.errors import MediaError, PartialDecodeError, UsageError, VsearchError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from vsearch.pipeline.index_jobs import IndexJob, StageTimes
    from vsearch.progress import Progress
    from vsearch.store.library_store import LibraryStore
    from vsearch.types import IndexReport, VideoInfo

log = logging.getLogger(__name__)

STREAM_BACKLOG = 4  # batches an actor may have produced ahead of the driver, per file
MAX_ATTEMPTS = 3  # a file whose worker died this many times is recorded as failed
CPUS_PER_ACTOR = 1  # CPU actors: decoder and encoder of one file share this many CPUs


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: ``address`` as ``ray.init`` takes it ("auto": the cluster this
    machine belongs to, "local": start one here, "HOST:PORT" or "ray://HOST:PORT")."""

    address: str = "auto"
    actors: int = 0  # 0: one per GPU, else one per CPUS_PER_ACTOR CPUs of the cluster


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'vsearch-video[ray]'") from None
    return ray


class _FileEncoder:
    """The actor: decodes files with ffmpeg and encodes their frames; the model is loaded
    once, when the actor starts (again if Ray restarts it)."""

    def __init__(self, spec: str, device: str, fps: float, batch: int, framing: str) -> None:
        from vsearch.models import create_encoder
        from vsearch.models.words import has_imagenet_head

        logging.basicConfig(level=logging.WARNING)
        self.encoder = create_encoder(spec, device=device)
        # one forward pass gives vectors and classes, as in the local indexer
        self.classifier = self.encoder if has_imagenet_head(self.encoder) else None
        self.fps = fps
        self.framing = framing
        self.batch = batch or getattr(self.encoder, "batch_size", 32)

    def ready(self) -> tuple[str, str]:
        """The loaded model's provenance key and the device it runs on, for the driver."""
        import os
        import socket

        return repr(self.encoder.info.key()), f"{socket.gethostname()}:{os.getpid()}"

    def encode_file(self, path: str, info: VideoInfo | None) -> Iterator[tuple[object, ...]]:
        """Yield ("batch", times, informative, vectors, classes or None, decode_s, encode_s)
        per chunk, then ("end", error cause or None, partial)."""
        from vsearch.media import iter_frames

        size = self.encoder.info.input_size
        frames = iter_frames(
            path, fps=self.fps, size=size, info=info, chunk=self.batch, framing=self.framing
        )
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    chunk = next(frames)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                if self.classifier is not None:
                    vectors, classes = self.classifier.encode_and_classify(chunk.images)
                else:
                    vectors, classes = self.encoder.encode_images(chunk.images), None
                t2 = time.perf_counter()
                yield ("batch", chunk.times, chunk.informative, vectors, classes, t1 - t0, t2 - t1)
        except PartialDecodeError as exc:
            yield ("end", exc.cause, True)
            return
        except MediaError as exc:
            yield ("end", exc.cause, False)
            return
        except Exception as exc:  # an unexpected failure of one file must not stop the run
            yield ("end", f"unexpected decoder failure: {exc}", False)
            return
        finally:
            frames.close()
        yield ("end", None, False)


@dataclass
class _InFlight:
    job: IndexJob
    actor: Any  # Ray's actor handle and streaming generator: Ray ships no type hints
    stream: Any
    attempt: int


@dataclass(frozen=True)
class DriverSteps:
    """What the driver does with a file, from the local indexer (``pipeline.indexing``):
    ``claim(job)`` before it is decoded (False: left to another writer), ``write(job)``
    once all its vectors are in, ``line(job)`` for the progress display."""

    claim: Callable[[IndexJob], bool]
    write: Callable[[IndexJob], None]
    line: Callable[[IndexJob], str]


def run_jobs_on_ray(
    store: LibraryStore,
    jobs: list[IndexJob],
    report: IndexReport,
    stages: StageTimes,
    progress: Progress,
    options: RayOptions,
    steps: DriverSteps,
) -> None:
    """Decode and encode ``jobs`` (the local indexer's jobs) on Ray actors; commit each video
    here, through ``steps``, as it completes."""
    ray = _ray()
    started = time.perf_counter()
    if ray.is_initialized():  # the caller's own Ray session
        _run(ray, store, jobs, report, stages, progress, options, steps, started)
        return
    address = None if options.address == "local" else options.address
    # Ray prints its workers' deaths and other cluster events on stdout, where a command's
    # output (--json) goes: send them to stderr for as long as this run is connected.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise VsearchError(f"cannot join the Ray cluster at {options.address}: {exc}") from None
        try:
            _run(ray, store, jobs, report, stages, progress, options, steps, started)
        finally:
            ray.shutdown()


def _run(
    ray: Any,
    store: LibraryStore,
    jobs: list[IndexJob],
    report: IndexReport,
    stages: StageTimes,
    progress: Progress,
    options: RayOptions,
    steps: DriverSteps,
    started: float,
) -> None:
    from vsearch.media import probe_video

    actors = _start_actors(ray, store, options, len(jobs))
    stages.add("startup", time.perf_counter() - started)  # joining, actors, models loaded
    for job in jobs:
        try:
            job.info = probe_video(job.path)
            job.estimate = job.info.duration
        except MediaError as exc:
            job.error = exc
    progress.begin(sum(j.estimate for j in jobs) or float(len(jobs)), "s", f"indexing {len(jobs)}")

    waiting: deque[tuple[IndexJob, int]] = deque((job, 1) for job in jobs)
    idle = deque(actors)
    flying: dict[Any, _InFlight] = {}  # stream -> file in flight
    recovering: dict[Any, Any] = {}  # ready() call -> actor that Ray restarts after a death
    done = 0

    def finish(job: IndexJob) -> None:
        nonlocal done
        t0 = time.perf_counter()
        try:
            if job.elsewhere:
                report.elsewhere.append(job.path)
            else:
                steps.write(job)
        finally:
            store.claims.release(job.path)
        store.save_indexes(force=False)
        stages.add("write", time.perf_counter() - t0)
        seen = float(job.times[-1][-1]) if job.times and len(job.times[-1]) else 0.0
        progress.advance(max(0.0, job.estimate - seen), videos=1)
        progress.message(steps.line(job))
        done += 1

    try:
        while done < len(jobs):
            while waiting and idle:
                job, attempt = waiting.popleft()
                if job.error is not None or not steps.claim(job):
                    finish(job)
                    continue
                actor = idle.popleft()
                stream = actor.encode_file.remote(job.path, job.info)
                flying[stream] = _InFlight(job, actor, stream, attempt)
            back = (
                ray.wait(list(recovering), num_returns=len(recovering), timeout=0)[0]
                if recovering
                else []
            )
            for probe in back:
                actor = recovering.pop(probe)
                try:
                    ray.get(probe)
                    idle.append(actor)  # restarted, model loaded again
                except ray.exceptions.RayError:
                    log.warning("a Ray worker could not be restarted; going on without it")
            if not flying:
                if not idle and not recovering and waiting:
                    raise VsearchError("every Ray worker died: see the cluster's logs")
                if recovering:
                    ray.wait(list(recovering), num_returns=1, timeout=0.5)
                continue
            ready, _ = ray.wait(list(flying), num_returns=1, timeout=0.5)
            for stream in ready:
                slot = flying[stream]
                try:
                    item = ray.get(next(stream))
                except StopIteration:
                    item = ("end", None, False)
                except ray.exceptions.RayError as exc:
                    del flying[stream]
                    _worker_lost(slot, exc, waiting)
                    recovering[slot.actor.ready.remote()] = slot.actor  # waits for the restart
                    continue
                if item[0] == "batch":
                    _take_batch(slot.job, item, report, stages, progress)
                    continue
                del flying[stream]
                idle.append(slot.actor)
                cause, partial = item[1], item[2]
                if cause is not None:
                    kept = sum(len(t) for t in slot.job.times)
                    slot.job.error = (
                        PartialDecodeError(slot.job.path, cause, kept)
                        if partial and kept
                        else MediaError(slot.job.path, cause)
                    )
                finish(slot.job)
    finally:
        for slot in flying.values():
            ray.cancel(slot.stream, force=True)
            store.claims.release(slot.job.path)
        for actor in actors:
            ray.kill(actor)
        progress.end()


def _start_actors(ray: Any, store: LibraryStore, options: RayOptions, n_jobs: int) -> list[Any]:
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        count, needs = gpus, {"num_gpus": 1, "num_cpus": 1}
    else:
        count = max(1, int(resources.get("CPU", 1)) // CPUS_PER_ACTOR)
        needs = {"num_cpus": CPUS_PER_ACTOR}
    count = max(1, min(options.actors or count, n_jobs))
    info = store.model_info
    # A streaming method with back-pressure: the actor pauses when STREAM_BACKLOG batches of
    # a file wait for the driver.
    streaming = ray.method(
        num_returns="streaming", _generator_backpressure_num_objects=STREAM_BACKLOG
    )
    actor_class = type(
        "FileEncoder", (_FileEncoder,), {"encode_file": streaming(_FileEncoder.encode_file)}
    )
    remote = ray.remote(max_restarts=MAX_ATTEMPTS, max_task_retries=0, **needs)(actor_class)
    device = store.settings.device
    actors = [
        remote.remote(info.spec, device, store.fps, store.settings.batch_size, store.framing.value)
        for _ in range(count)
    ]
    expected = repr(info.key())
    for key, where in ray.get([a.ready.remote() for a in actors]):
        if key != expected:
            raise VsearchError(
                f"the Ray worker {where} loads {info.spec} with other weights than the library's "
                "(vectors would not be comparable): install the same weights on every node"
            )
    log.info("indexing on %d Ray actors (%s)", count, needs)
    return actors


def _take_batch(
    job: IndexJob,
    item: tuple[Any, ...],
    report: IndexReport,
    stages: StageTimes,
    progress: Progress,
) -> None:
    _, times, informative, vectors, classes, decode_s, encode_s = item
    job.times.append(np.asarray(times))
    job.informative.append(np.asarray(informative))
    job.vectors.append(np.asarray(vectors, dtype=np.float32))
    if classes is not None:
        job.classes.append(np.asarray(classes))
    stages.add("decode", decode_s)
    stages.add("encode", encode_s)
    report.frames += len(times)
    if len(times):
        seen = float(job.times[-2][-1]) if len(job.times) > 1 and len(job.times[-2]) else 0.0
        progress.advance(max(0.0, float(times[-1]) - seen), frames=len(times))


def _worker_lost(slot: _InFlight, exc: BaseException, waiting: deque[tuple[IndexJob, int]]) -> None:
    """A worker died mid-file: drop the file's batches and give it to another actor."""
    job = slot.job
    report_frames = sum(len(t) for t in job.times)
    for kept in (job.times, job.informative, job.vectors, job.classes):
        kept.clear()
    log.warning(
        "%s: Ray worker lost (%s); %d frames dropped", job.path, type(exc).__name__, report_frames
    )
    if slot.attempt >= MAX_ATTEMPTS:
        job.error = MediaError(job.path, f"the Ray worker died {MAX_ATTEMPTS} times on this file")
        waiting.appendleft((job, slot.attempt))
    else:
        waiting.append((job, slot.attempt + 1))
