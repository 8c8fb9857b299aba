"""The vsearch command with slow index saves, for the crash tests: ``python slow_save_cli.py
SECONDS ARGS...`` runs ``vsearch ARGS...`` in which every index save sleeps SECONDS between
writing its temporary file and renaming it into place, and a run saves its indexes after every
video, so that a test can kill it in the middle of a save. The faults are injected here, from
outside: vsearch itself has no switch for them."""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    delay = float(sys.argv[1])
    real_replace = os.replace

    def slow_replace(src, dst, *args, **kwargs):
        from vsearch.atomic import TEMP_MARK

        if TEMP_MARK in os.fspath(src):  # only vsearch's own temporary files
            time.sleep(delay)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = slow_replace

    import vsearch.store.library_store as library_store
    from vsearch.cli import app

    library_store.INDEX_SAVE_INTERVAL = 0.0  # save after every video
    library_store.SAVE_COST_FACTOR = 0.0
    sys.argv = ["vsearch", *sys.argv[2:]]
    app(prog_name="vsearch")


if __name__ == "__main__":
    main()
