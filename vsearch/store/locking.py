"""The writer lock of a library: one writer at a time, readers never blocked.

A ``filelock.FileLock`` on ``write.lock`` in the library folder (``flock`` on Unix, the
native lock on Windows); the holder records its pid in ``write.owner`` so that a second
writer can say who holds it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from filelock import FileLock, Timeout

from vsearch.errors import LibraryLockedError
from vsearch.store.faults import storage_error

LOCK_NAME = "write.lock"
OWNER_NAME = "write.owner"
POLL_S = 0.2  # how often a waiting writer tries again


class WriterLock:
    def __init__(self, root: Path):
        self.root = root
        # Not per thread: a lock taken by one thread of a process may be released by another.
        self._lock = FileLock(str(root / LOCK_NAME), thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting up to ``timeout`` seconds for another writer."""
        if self._lock.is_locked:
            return
        try:
            self._lock.acquire(timeout=max(0.0, timeout), poll_interval=POLL_S)
        except Timeout:
            raise LibraryLockedError(
                f"library {self.root} is being written by another vsearch process"
                f"{self._holder()}; wait for it to finish (or set VSEARCH_LOCK_TIMEOUT=SECONDS)"
            ) from None
        except OSError as exc:
            raise storage_error(self.root / LOCK_NAME, exc) from exc
        with contextlib.suppress(OSError):
            (self.root / OWNER_NAME).write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                (self.root / OWNER_NAME).unlink()
            self._lock.release(force=True)

    def _holder(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.root / OWNER_NAME).read_text().strip() or "0")
            if pid:
                return f" (pid {pid})"
        return ""
