"""Shared helpers of the reliability tests: media builders and library consistency checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

FFMPEG = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def ffmpeg_run(*args: str) -> None:
    subprocess.run([*FFMPEG, *args], check=True, capture_output=True, timeout=120)


def lavfi(out: Path, src: str, *codec: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg_run("-f", "lavfi", "-i", src, *(codec or X264), str(out))
    return out


def has_encoder(name: str) -> bool:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return any(line.split()[1:2] == [name] for line in proc.stdout.splitlines() if line.strip())


def assert_consistent(root: Path, *, create: bool = False) -> dict[str, int]:
    """Open the library at ``root`` as a user would and check that index and database agree.

    Returns counts: frames in the database, ids in the index file as found, stale ids that
    the file held and the database did not (repaired on open).
    """
    import faiss

    from vsearch.config import Settings
    from vsearch.db import queries
    from vsearch.pipeline.library import FRAME_INDEX, Library

    index_file = root / FRAME_INDEX
    file_ids = np.zeros(0, np.int64)
    if index_file.exists():  # a save is atomic: the file is always a whole index
        raw = faiss.read_index(str(index_file))
        file_ids = faiss.vector_to_array(raw.id_map).astype(np.int64)
        assert len(np.unique(file_ids)) == len(file_ids), "duplicate ids in the index file"
    settings = Settings.load(library=root, model="colorgrid")
    with Library.open(settings=settings, create=create) as lib:
        with lib.store.sessions() as session:
            db_ids = np.sort(queries.frame_ids(session=session))
            videos = queries.list_videos(session=session)
            for video in videos:
                ids = queries.video_frames(video.id, session=session).ids
                assert len(ids) == video.n_frames, f"{video.path}: frames != n_frames"
                assert video.status in ("indexed", "partial", "failed"), video.status
        index_ids = np.sort(lib.store.frame_index.ids())
        assert len(np.unique(index_ids)) == len(index_ids), "duplicate ids in the index"
        assert np.array_equal(index_ids, db_ids), "index ids differ from the frame ids in the DB"
        assert lib.doctor()["checks"]["schema"]["ok"]
        with lib.store.sessions() as session:
            db_clips = np.sort(queries.clip_ids(session=session))
        clip_ids = np.sort(lib.store.clip_index.ids())
        assert len(np.unique(clip_ids)) == len(clip_ids), "duplicate ids in the clip index"
        assert np.array_equal(clip_ids, db_clips), "clip index ids differ from the DB's clips"
    return {
        "db": len(db_ids),
        "file": len(file_ids),
        "stale": len(np.setdiff1d(file_ids, db_ids)),
        "videos": len(videos),
    }
