"""Small query functions over the library database.

Every function takes a keyword-only ``session`` and returns plain values or dataclasses from
``vsearch.types``, never ORM rows. Import the package (``from vsearch.db import queries``);
the modules group the functions by what they touch.
"""

from vsearch.db.queries.labels import (
    add_label,
    labelled_video_ids,
    list_labels,
    list_predictions,
    replace_predictions,
)
from vsearch.db.queries.vectors import (
    clip_ids,
    clip_locations,
    count_clips,
    count_frames,
    frame_ids,
    frame_locations,
    frame_videos,
    iter_clip_vectors,
    iter_frame_table,
    iter_frame_vectors,
    replace_clips,
    replace_frames,
    update_clip_vectors,
    video_clips,
    video_frames,
    videos_without_clips,
)
from vsearch.db.queries.videos import (
    count_videos,
    delete_video,
    delete_video_at,
    get_meta,
    get_video,
    get_video_by_id,
    list_videos,
    now_iso,
    rename_video,
    save_video,
    set_meta,
    videos_with_hash,
)

__all__ = [
    "add_label",
    "clip_ids",
    "clip_locations",
    "count_clips",
    "count_frames",
    "count_videos",
    "delete_video",
    "delete_video_at",
    "frame_ids",
    "frame_locations",
    "frame_videos",
    "get_meta",
    "get_video",
    "get_video_by_id",
    "iter_clip_vectors",
    "iter_frame_table",
    "iter_frame_vectors",
    "labelled_video_ids",
    "list_labels",
    "list_predictions",
    "list_videos",
    "now_iso",
    "rename_video",
    "replace_clips",
    "replace_frames",
    "replace_predictions",
    "save_video",
    "set_meta",
    "update_clip_vectors",
    "video_clips",
    "video_frames",
    "videos_with_hash",
    "videos_without_clips",
]
