"""Library videos for viewing: look one up by id or path, and thumbnails of its frames.

Only videos the library holds are ever returned: a path that is not a library video (or an
id that does not exist) is a NotInLibraryError, so a viewer built on these functions cannot
be made to read arbitrary files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.errors import NotInLibraryError, UsageError
from vsearch.types import VideoRecord

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

THUMB_WIDTHS = (160, 320, 640)  # the widths asked of ffmpeg; other requests are rounded up


def library_video(
    store: LibraryStore, *, video_id: int | None = None, path: str | Path | None = None
) -> VideoRecord:
    """The library's record of a video given by ``video_id`` or by its exact ``path``, whose
    file is still a regular file there (NotInLibraryError otherwise)."""
    if (video_id is None) == (path is None):
        raise UsageError("give a video id or a path (one of them)")
    if video_id is not None:
        video = store.video_by_id(int(video_id))
        wanted = f"video {video_id}"
    else:
        assert path is not None  # one of the two, checked above
        video = store.video_at(os.fspath(path))
        wanted = os.fspath(path)
    if video is None:
        raise NotInLibraryError(f"{wanted} is not a video of library {store.root}")
    if not os.path.isfile(video.path):
        raise NotInLibraryError(f"{video.path}: the library's file is no longer there")
    return video


def video_thumbnail(store: LibraryStore, video_id: int, time: float, width: int = 320) -> bytes:
    """JPEG of the frame of library video ``video_id`` shown at ``time`` seconds."""
    from vsearch.media import extract_thumbnail

    video = library_video(store, video_id=video_id)
    if not time >= 0:  # also refuses NaN
        raise UsageError(f"time must be >= 0 seconds, got {time}")
    width = next((w for w in THUMB_WIDTHS if w >= width), THUMB_WIDTHS[-1])
    if video.duration:
        time = min(time, video.duration)
    return extract_thumbnail(video.path, time, width=width)
