"""Media layer: find video files, probe them, decode timestamped frame batches with ffmpeg.

Imports only ``vsearch.errors`` and ``vsearch.types`` from the rest of vsearch.
"""

from vsearch.media._ffmpeg import check_ffmpeg
from vsearch.media.decode import extract_thumbnail, iter_frames
from vsearch.media.files import (
    VIDEO_EXTENSIONS,
    content_hash,
    file_fingerprint,
    is_video_path,
    walk_videos,
)
from vsearch.media.image import IMAGE_EXTENSIONS, is_image_file, is_image_path, load_image
from vsearch.media.informative import informative_mask
from vsearch.media.probe import probe_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "check_ffmpeg",
    "content_hash",
    "extract_thumbnail",
    "file_fingerprint",
    "informative_mask",
    "is_image_file",
    "is_image_path",
    "is_video_path",
    "iter_frames",
    "load_image",
    "probe_video",
    "walk_videos",
]
