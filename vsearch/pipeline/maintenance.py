"""Library upkeep: remove, stats, doctor."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.db import queries
from vsearch.db.migrate import current_revision, head_revision
from vsearch.errors import UsageError, VsearchError

if TYPE_CHECKING:
    from vsearch.pipeline.library import Library


def remove_videos(lib: Library, path: str | Path) -> list[str]:
    """Remove a video, or every video under a folder, from the library (files untouched)."""
    if not os.fspath(path).strip():
        raise UsageError("remove needs a path: an empty one would mean the current folder")
    target = os.path.abspath(path)
    with lib.writing():
        with lib.sessions() as session:
            found = queries.list_videos(session=session, under=target)
        if not found:
            raise UsageError(f"{target}: not in the library")
        lib.delete_videos([v.id for v in found])
        lib.save_indexes()
    return [v.path for v in found]


def library_stats(lib: Library) -> dict[str, Any]:
    with lib.sessions() as session:
        counts = queries.count_videos(session=session)
        n_frames = queries.count_frames(session=session)
        videos = queries.list_videos(session=session)
    size = sum(f.stat().st_size for f in lib.root.iterdir() if f.is_file())
    return {
        "library": str(lib.root),
        "model": lib.model_info.to_dict(),
        "fps": lib.fps,
        "videos": sum(counts.values()),
        "videos_by_status": counts,
        "frames": n_frames,
        "hours_indexed": round(
            sum((v.duration or 0.0) for v in videos if v.status != "failed") / 3600, 4
        ),
        "disk_bytes": size,
    }


def run_doctor(lib: Library) -> dict[str, Any]:
    """Check the tools and the library; each check is {"ok": bool, "detail": str}."""
    checks: dict[str, dict[str, Any]] = {}

    def check(name: str, fn) -> None:
        try:
            checks[name] = {"ok": True, "detail": fn()}
        except (VsearchError, OSError, RuntimeError, ImportError) as exc:
            checks[name] = {"ok": False, "detail": str(exc)}

    def ffmpeg() -> str:
        from vsearch.media import check_ffmpeg

        return check_ffmpeg()

    def gpu() -> str:
        import torch

        if torch.cuda.is_available():
            return f"CUDA: {torch.cuda.get_device_name(0)}"
        return "no CUDA device: encoders run on the CPU"

    def faiss_check() -> str:
        import faiss

        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        return f"faiss {faiss.__version__} ({'GPU' if gpus else 'CPU'})"

    def schema() -> str:
        cur, head = current_revision(lib.engine), head_revision()
        if cur != head:
            raise VsearchError(f"schema at {cur}, expected {head}")
        return f"schema at head ({head})"

    busy = lib.writer_busy()

    def agreement(sync) -> str:
        if sync.changed and busy and not sync.rebuilt:
            return (
                f"{sync.name} index file is {sync.added} vectors behind and {sync.removed} "
                "ahead of the database while another vsearch writer runs (it saves the index "
                "as it goes); nothing to repair"
            )
        if sync.changed:
            raise VsearchError(
                f"{sync.name} index disagreed with the database ({sync.added} missing, "
                f"{sync.removed} extra{', rebuilt: ' + sync.reason if sync.rebuilt else ''}); "
                "repaired from the stored vectors"
            )
        return f"{sync.name} index agrees with the database ({sync.in_db} vectors)"

    def disk() -> str:
        free = shutil.disk_usage(lib.root).free
        return f"{free / 2**30:.1f} GiB free at {lib.root}"

    def files() -> str:
        missing = [v.path for v in lib.videos() if not Path(v.path).exists()]
        if missing:
            raise VsearchError(
                f"{len(missing)} indexed files no longer exist (e.g. {missing[0]}); "
                "`vsearch index DIR --prune` removes them"
            )
        return "every indexed file is present"

    for name, fn in [
        ("ffmpeg", ffmpeg),
        ("gpu", gpu),
        ("faiss", faiss_check),
        ("schema", schema),
        ("index", lambda: agreement(lib.frame_sync)),
        ("clips", lambda: agreement(lib.clip_sync)),
        ("disk", disk),
        ("files", files),
    ]:
        check(name, fn)
    checks["gpu"]["ok"] = True  # no GPU is a fact, not a failure
    return {"library": str(lib.root), "ok": all(c["ok"] for c in checks.values()), "checks": checks}
