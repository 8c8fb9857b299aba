"""Generated benchmark footage: an ffmpeg lavfi source encoded as an h264 file.

The benchmark scripts import it (``scripts/`` is on their ``sys.path``) so that every
generated clip is made the same way: yuv420p, libx264 at the veryfast preset.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def lavfi_clip(out: Path, source: str, seconds: float) -> Path:
    """``out``: ``seconds`` of the lavfi graph ``source`` (e.g. ``"testsrc2=size=320x240"``)
    as h264. A file already there is kept, so that reruns reuse the footage."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
         "-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast",
         str(out)],
        check=True,
    )  # fmt: skip
    return out
