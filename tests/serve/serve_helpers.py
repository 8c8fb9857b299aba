"""Helpers of the server tests (tests/conftest.py's video makers, names)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _shared_helpers():
    """tests/conftest.py's video helpers (a plain `import conftest` is ambiguous here)."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("vsearch_tests_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffmpeg, module.make_video


ffmpeg, make_video = _shared_helpers()
NON_UTF8_NAME = os.fsdecode(b"caf\xe9 <b>&amp;.mkv")  # not UTF-8, and HTML-looking
