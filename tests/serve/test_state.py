"""The served library's locking: queries share it, picking up commits waits only briefly."""

from __future__ import annotations

import threading
import time

from vsearch.serve.state import REFRESH_WAIT, ServedLibrary


class FakeLibrary:
    def load(self):
        pass

    def __init__(self):
        self.commits = 0
        self.seen = 0
        self.refreshes = 0

    def committed_elsewhere(self):
        return self.commits != self.seen

    def refresh(self):
        self.refreshes += 1
        self.seen = self.commits
        return {"frames_added": 1}


def test_queries_run_together_and_a_long_one_never_stalls_the_others():
    lib = FakeLibrary()
    served = ServedLibrary(lib)
    inside = threading.Event()
    release = threading.Event()

    def long_query(_lib):
        inside.set()
        release.wait(10)
        return "dups"

    worker = threading.Thread(target=served.read, args=(long_query,))
    worker.start()
    inside.wait(5)
    assert served.read(lambda _lib: "quick") == "quick"  # readers share
    lib.commits += 1  # another process commits while the long query runs
    started = time.monotonic()
    assert served.read(lambda _lib: "quick") == "quick"
    assert time.monotonic() - started < REFRESH_WAIT + 1.0 and lib.refreshes == 0
    started = time.monotonic()
    served.read(lambda _lib: None)  # backs off: no wait at all now
    assert time.monotonic() - started < 0.2 and lib.refreshes == 0
    release.set()
    worker.join(5)
    served._skipped_at = -1e9  # the back-off is over
    served.read(lambda _lib: None)
    assert lib.refreshes == 1 and not lib.committed_elsewhere()
    served.read(lambda _lib: None)
    assert lib.refreshes == 1  # nothing new: no refresh


def test_cached_answers_last_until_the_library_changes():
    lib = FakeLibrary()
    served = ServedLibrary(lib)
    calls = []
    answer = served.cached(("dups", 0.9), lambda _lib: calls.append(1) or len(calls))
    assert served.cached(("dups", 0.9), lambda _lib: calls.append(1) or len(calls)) == answer
    lib.commits += 1
    assert served.cached(("dups", 0.9), lambda _lib: calls.append(1) or len(calls)) == 2
