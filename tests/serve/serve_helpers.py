"""Names shared by the server tests."""

from __future__ import annotations

import os

NON_UTF8_NAME = os.fsdecode(b"caf\xe9 <b>&amp;.mkv")  # not UTF-8, and HTML-looking
