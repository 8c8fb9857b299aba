"""The one library a server answers from: opened, warmed and kept current once.

Queries run in worker threads (never on the event loop) and share one encoder instance and
the loaded indexes under a readers-writer lock: any number of queries read at once; picking
up another process's commits (``Library.refresh``) waits for them and holds them off while
it changes the in-memory indexes (waiting at most REFRESH_WAIT for running queries, so that
a long duplicate search never stalls the searches behind it). The check for such commits
costs one SQLite pragma.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from vsearch.pipeline.library import Library

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long picking up new commits waits for running queries before it lets the next query
# answer from the indexes as loaded (and tries again on the one after).
REFRESH_WAIT = 0.5
REFRESH_BACKOFF = 5.0  # after such a miss, later queries do not wait for a while


class ReadWriteLock:
    """Many readers or one writer; a waiting writer goes before readers that come later."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self, timeout: float | None = None) -> Iterator[bool]:
        """Exclusive access; yields False (and holds nothing) if not had within ``timeout``."""
        with self._cond:
            self._writers_waiting += 1
            got = self._cond.wait_for(lambda: not self._writer and not self._readers, timeout)
            self._writers_waiting -= 1
            self._writer = got
            if not got:
                self._cond.notify_all()  # readers held off while this writer waited
        try:
            yield got
        finally:
            if got:
                with self._cond:
                    self._writer = False
                    self._cond.notify_all()


class ServedLibrary:
    """A Library opened once for a server, with its model and indexes loaded up front."""

    def __init__(self, lib: Library):
        self.lib = lib
        self._rw = ReadWriteLock()
        self._check = threading.Lock()  # one thread at a time looks at the commit counter
        self.started = time.time()
        self.refreshed_at = time.time()
        self._caches: dict[object, OrderedDict[tuple, object]] = {}
        self._cache_version = 0
        self._skipped_at = -REFRESH_BACKOFF

    def warm(self) -> float:
        """Load the encoder, both indexes and the pooler now, not on the first query;
        returns the seconds it took."""
        started = time.perf_counter()
        self.lib.load()
        self.lib.refresh()
        return time.perf_counter() - started

    def read(self, fn: Callable[[Library], T]) -> T:
        """Run ``fn(lib)`` once vectors committed elsewhere before this call are loaded."""
        self._pick_up_commits()
        with self._rw.reading():
            return fn(self.lib)

    def cached(self, key: tuple, fn: Callable[[Library], T], size: int = 8) -> T:
        """``read(fn)``, remembered for ``key`` until another commit changes the library.

        ``key[0]`` names the cache (each keeps its ``size`` latest answers)."""
        self._pick_up_commits()
        with self._check:
            cache = self._caches.setdefault(key[0], OrderedDict())
            if key in cache:
                cache.move_to_end(key)
                return cache[key]  # type: ignore[return-value]
            version = self._cache_version
        value = self.read(fn)
        with self._check:
            if version == self._cache_version:
                cache[key] = value
                while len(cache) > size:
                    cache.popitem(last=False)
        return value

    def _pick_up_commits(self) -> None:
        with self._check:
            if not self.lib.committed_elsewhere():
                return
            recently_skipped = time.monotonic() - self._skipped_at < REFRESH_BACKOFF
            with self._rw.writing(timeout=0.0 if recently_skipped else REFRESH_WAIT) as got:
                if not got:  # a long query (dups) is reading: answer from what is loaded
                    self._skipped_at = time.monotonic()
                    return
                changes = self.lib.refresh()
                self.lib.load()  # what refresh dropped, reloaded here, not raced for by queries
            self._caches.clear()
            self._cache_version += 1
            self.refreshed_at = time.time()
        if changes:
            log.info("library changed: %s", changes)

    def close(self) -> None:
        with self._rw.writing():
            self.lib.close()
