"""What a server accepts and how long it works on a request (stdlib only: the CLI's help
reads these defaults without loading the web stack)."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What a server accepts and how long it works on one request (``vsearch serve`` flags)."""

    max_image_bytes: int = 32 * MB
    max_clip_bytes: int = 1024 * MB
    timeout: float = 120.0  # seconds for one query
    dups_timeout: float = 1800.0  # seconds for a library-wide duplicate search
    upload_timeout: float = 600.0  # seconds to receive one upload (slow or stalled clients)
    workers: int = 4  # queries worked on at once (threads); more wait their turn

    @property
    def max_body_bytes(self) -> int:
        return max(self.max_image_bytes, self.max_clip_bytes) + MB  # + multipart overhead
