"""Library upkeep: remove, stats, doctor, frame shards."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.errors import UsageError, VsearchError
from vsearch.types import Framing, JSONObject, ModelInfo, VideoStatus

if TYPE_CHECKING:
    from vsearch.index.build import IndexCard
    from vsearch.progress import Progress
    from vsearch.store.library_store import LibraryStore
    from vsearch.store.repair import DatabaseHealth, RepairReport
    from vsearch.store.shards import ShardRefresh, ShardsSummary


def remove_videos(store: LibraryStore, path: str | Path) -> list[str]:
    """Remove a video, or every video under a folder, from the library (files untouched)."""
    if not os.fspath(path).strip():
        raise UsageError("remove needs a path: an empty one would mean the current folder")
    target = os.path.abspath(path)
    with store.writing():
        found = store.videos(under=target)
        if not found:
            raise UsageError(f"{target}: not in the library")
        store.delete_videos([v.id for v in found])
        store.save_indexes()
    return [v.path for v in found]


def refresh_shards(
    store: LibraryStore,
    *,
    shard_size: int,
    factory: str | None,
    workers: int,
    nprobe: int | None,
    progress: Progress | None,
) -> ShardRefresh:
    """Build or bring up to date the library's IVF-PQ frame shards, under the writer lock
    (two refreshes never write the same files); search uses them from then on while they
    stay current (see ``vsearch.store.shards``)."""
    from vsearch.store.shards import refresh_frame_shards

    if shard_size <= 0:
        raise UsageError(f"`shard_size` must be a positive number of frame ids, got {shard_size}")
    if workers <= 0:
        raise UsageError(f"`workers` must be >= 1, got {workers}")
    if nprobe is not None and nprobe <= 0:
        raise UsageError(f"`nprobe` must be >= 1 inverted lists, got {nprobe}")
    with store.writing():
        report = refresh_frame_shards(
            store,
            factory=factory,
            shard_size=shard_size,
            workers=workers,
            nprobe=nprobe,
            progress=progress,
        )
    store.invalidate_frame_shards()
    return report


@dataclass(frozen=True)
class IndexSummary:
    """One index as ``stats`` shows it: its setting, memory per vector and recall@10 against
    exact search, from its build card (None: no card written yet)."""

    summary: str
    card: IndexCard | None = None

    @classmethod
    def of(cls, card: IndexCard | None) -> IndexSummary:
        return cls(card.summary() if card else "exact (no build card yet)", card)

    def to_dict(self) -> JSONObject:
        card = self.card
        if card is None:
            return {"summary": self.summary}
        return {
            "summary": self.summary,
            "factory": card.factory,
            "approximate": card.index_setting.approximate,
            "nprobe": card.nprobe,
            "recall_at_10": card.recall_at_10,
            "bytes_per_vector": card.bytes_per_vector,
            "vectors_at_build": card.vectors,
            "built_at": card.built_at,
        }


@dataclass(frozen=True)
class LibraryStats:
    """Everything about a library's contents: counts, models, labels and disk use."""

    library: str
    model: ModelInfo
    fps: float
    framing: Framing
    videos_by_status: dict[str, int]
    frames: int
    clips: int
    clip_model: str  # the temporal pooler's name ("mean" when none was trained)
    clip_checkpoint: str | None  # its checkpoint file, for a trained one
    heads: list[str]  # checkpoint files of the trained classifier heads
    label_names: list[str]  # sorted, each once
    labels: int
    hours_indexed: float  # of the videos that did not fail, rounded to 4 decimals
    disk_bytes_by_file: dict[str, int]  # per top-level file or folder of the library
    indexes: dict[str, IndexSummary]  # "frames", "clips"
    frame_shards: ShardsSummary | None  # None: no shards built

    @property
    def videos(self) -> int:
        return sum(self.videos_by_status.values())

    @property
    def disk_bytes(self) -> int:
        return sum(self.disk_bytes_by_file.values())

    def to_dict(self) -> JSONObject:
        """The JSON object of `stats --json` and of the HTTP API."""
        return {
            "library": self.library,
            "model": self.model.to_dict(),
            "fps": self.fps,
            "framing": self.framing.value,
            "videos": self.videos,
            "videos_by_status": self.videos_by_status,
            "frames": self.frames,
            "clips": self.clips,
            "clip_model": {"name": self.clip_model, "checkpoint": self.clip_checkpoint},
            "heads": self.heads,
            "labels": self.labels,
            "label_names": self.label_names,
            "hours_indexed": self.hours_indexed,
            "disk_bytes": self.disk_bytes,
            "disk_bytes_by_file": self.disk_bytes_by_file,
            "indexes": {name: info.to_dict() for name, info in self.indexes.items()},
            "frame_shards": None if self.frame_shards is None else self.frame_shards.to_dict(),
        }


def library_stats(store: LibraryStore) -> LibraryStats:
    """Everything about the library's contents: counts, models, labels and disk use."""
    from vsearch.pipeline.classify import HEADS_DIR
    from vsearch.store.clips import pooler_record
    from vsearch.store.shards import shards_summary

    videos = store.videos()
    labels = store.labels()
    disk: dict[str, int] = {}
    for f in store.root.rglob("*"):
        if f.is_file():
            top = f.relative_to(store.root).parts[0]  # heads/ counted as one
            disk[top] = disk.get(top, 0) + f.stat().st_size
    pooler = pooler_record(store.meta)
    return LibraryStats(
        library=str(store.root),
        model=store.model_info,
        fps=store.fps,
        framing=store.framing,
        videos_by_status=store.video_counts(),
        frames=store.frame_count(),
        clips=store.clip_count(),
        clip_model=pooler.get("name"),
        clip_checkpoint=pooler.get("checkpoint"),
        heads=sorted(p.name for p in (store.root / HEADS_DIR).glob("*.pt")),
        labels=len(labels),
        label_names=sorted({r.label for r in labels}),
        hours_indexed=round(
            sum((v.duration or 0.0) for v in videos if v.status != VideoStatus.FAILED) / 3600, 4
        ),
        disk_bytes_by_file=dict(sorted(disk.items())),
        indexes={name: IndexSummary.of(card) for name, card in store.index_cards().items()},
        frame_shards=shards_summary(store),
    )


@dataclass(frozen=True)
class Check:
    """One check of ``doctor``: passed or not, and what it found."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class DoctorReport:
    """What ``doctor`` found, check by check (in the order they ran), and the database repair
    made before them, if any."""

    library: str
    checks: dict[str, Check]
    repaired: RepairReport | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def to_dict(self) -> JSONObject:
        """The JSON object of `doctor --json`."""
        out: dict[str, Any] = {
            "library": self.library,
            "ok": self.ok,
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in self.checks.items()},
        }
        if self.repaired is not None:
            out["repaired"] = self.repaired.to_dict()
        return out


def run_doctor(store: LibraryStore) -> DoctorReport:
    """Check the tools and the library, each check passed or not with what it found."""
    checks: dict[str, Check] = {}

    def check(name: str, fn: Callable[[], str]) -> None:
        try:
            checks[name] = Check(True, fn())
        except (VsearchError, OSError, RuntimeError, ImportError) as exc:
            checks[name] = Check(False, str(exc))

    def ffmpeg() -> str:
        from vsearch.media import check_ffmpeg

        return check_ffmpeg()

    def gpu() -> str:
        import torch

        if torch.cuda.is_available():
            return f"CUDA: {torch.cuda.get_device_name(0)}"
        return "no CUDA device: encoders run on the CPU"

    def faiss_check() -> str:
        from vsearch.index._faiss import load_faiss

        faiss = load_faiss()

        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        return f"faiss {faiss.__version__} ({'GPU' if gpus else 'CPU'})"

    def schema() -> str:
        cur, head = store.schema_revisions()
        if cur != head:
            raise VsearchError(f"schema at {cur}, expected {head}")
        return f"schema at head ({head})"

    busy = store.writer_busy()

    def agreement(sync) -> str:
        if sync.changed and busy and not sync.rebuilt:
            return (
                f"{sync.name} index file is {sync.added} vectors behind and {sync.removed} "
                "ahead of the database while another vsearch writer runs (it saves the index "
                "as it goes); nothing to repair"
            )
        if sync.rebuilt and (sync.reason or "").startswith("no identity record"):
            return (
                f"{sync.name} index rebuilt once to record which library it belongs to "
                f"(made by an older vsearch): {sync.in_db} vectors"
            )
        if sync.changed:
            raise VsearchError(
                f"{sync.name} index disagreed with the database ({sync.added} missing, "
                f"{sync.removed} extra{', rebuilt: ' + sync.reason if sync.rebuilt else ''}); "
                "repaired from the stored vectors"
            )
        return f"{sync.name} index agrees with the database ({sync.in_db} vectors)"

    def models() -> str:
        """The clip model in use loads and matches its record (file present, same sha256,
        made for this encoder); so do the trained heads."""
        from vsearch.store.clips import load_pooler, pooler_record

        record = pooler_record(store.meta)
        load_pooler(
            record,
            dim=store.model_info.dim,
            root=store.root,
            device="cpu",
            encoder_key=store.model_info.key(),
        )
        from vsearch.pipeline.classify import HEADS_DIR

        heads = sorted((store.root / HEADS_DIR).glob("*.pt"))
        if heads:
            from vsearch.models.heads import load_head

            for head in heads:
                load_head(head)
        used = record.get("checkpoint") or record.get("name")
        return f"clip model {used} matches its record; {len(heads)} trained heads load"

    def search() -> str:
        from vsearch.index.devices import faiss_has_gpu, torch_cuda_device

        parts = []
        for label, index in (("frames", store.frame_index), ("clips", store.clip_index)):
            card = store.index_cards()[label]
            what = card.summary() if card else index.describe()  # type: ignore[attr-defined]
            parts.append(f"{label}: {what}")
        device = "faiss GPU" if faiss_has_gpu() else (torch_cuda_device() or "CPU")
        low = [c for c in store.index_cards().values() if c and c.recall_at_10 < 0.9]
        if low:
            raise VsearchError(f"low recall ({'; '.join(parts)}): run `vsearch index` to retrain")
        return f"search on {device}; " + "; ".join(parts)

    def disk() -> str:
        free = shutil.disk_usage(store.root).free
        return f"{free / 2**30:.1f} GiB free at {store.root}"

    def files() -> str:
        missing = [v.path for v in store.videos() if not Path(v.path).exists()]
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
        ("index", lambda: agreement(store.frame_sync)),
        ("clips", lambda: agreement(store.clip_sync)),
        ("models", models),
        ("search", search),
        ("disk", disk),
        ("files", files),
    ]:
        check(name, fn)
    checks["gpu"] = Check(True, checks["gpu"].detail)  # no GPU is a fact, not a failure
    return DoctorReport(library=str(store.root), checks=checks)


def check_library_database(root: Path) -> DatabaseHealth | None:
    """None when the library's database passes SQLite's integrity check (or is missing),
    else what is wrong and how many rows each table still gives."""
    from vsearch.store.repair import DB_NAME, check_database

    db = Path(root) / DB_NAME
    if not db.exists():
        return None
    health = check_database(db)
    return None if health.ok else health


def repair_library_database(root: Path) -> RepairReport:
    """Rebuild a damaged database from what can be read (see ``vsearch.store.repair``)."""
    from vsearch.store.repair import repair_database

    return repair_database(Path(root))
