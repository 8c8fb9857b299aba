"""The JSON contracts of the records ``vsearch.Library`` returns for stats, doctor, copy
groups, temporal training and stored predictions: keys (in order), rounding and the shape of
each outcome, as `--json` and the HTTP API print them (``to_dict()``)."""

from __future__ import annotations

import json

from vsearch.index.build import IndexCard
from vsearch.pipeline.dups import CopyFacts, CopyGroup
from vsearch.pipeline.maintenance import Check, DoctorReport, IndexSummary, LibraryStats
from vsearch.pipeline.training import TemporalReport
from vsearch.store.repair import RepairReport
from vsearch.store.shards import ShardsSummary
from vsearch.types import Framing, ModelInfo, PredictionRecord

MODEL = ModelInfo("colorgrid", "colorgrid", "grid", "none", 128, 32, "resize 32")


def pairs(data: dict) -> list:
    """A JSON object as its (key, value) pairs in order, nested objects too."""
    return json.loads(json.dumps(data), object_pairs_hook=list)


def test_stats_json():
    card = IndexCard(
        setting={"kind": "ivf", "codec": "pq", "nlist": 64, "pq_m": 16},
        factory="IVF64,PQ16np",
        dim=128,
        vectors=5000,
        trained_on=4000,
        nprobe=8,
        recall_at_10=0.97,
        recall_queries=500,
        bytes_per_vector=24.0,
        built_at="2026-01-02T03:04:05Z",
    )
    stats = LibraryStats(
        library="/lib",
        model=MODEL,
        fps=1.0,
        framing=Framing.FULL,
        videos_by_status={"indexed": 3, "failed": 1},
        frames=40,
        clips=9,
        clip_model="tcn",
        clip_checkpoint="temporal-tcn-1.pt",
        heads=["linear.pt"],
        label_names=["cat", "dog"],
        labels=5,
        hours_indexed=0.0111,
        disk_bytes_by_file={"frames.faiss": 100, "library.db": 23},
        indexes={"frames": IndexSummary.of(card), "clips": IndexSummary.of(None)},
        frame_shards=ShardsSummary("/lib/frames.shards", current=False, error="bad manifest"),
    )
    assert stats.videos == 4 and stats.disk_bytes == 123
    assert pairs(stats.to_dict()) == [
        ("library", "/lib"),
        ("model", pairs(MODEL.to_dict())),
        ("fps", 1.0),
        ("framing", "full"),
        ("videos", 4),
        ("videos_by_status", [("indexed", 3), ("failed", 1)]),
        ("frames", 40),
        ("clips", 9),
        ("clip_model", [("name", "tcn"), ("checkpoint", "temporal-tcn-1.pt")]),
        ("heads", ["linear.pt"]),
        ("labels", 5),
        ("label_names", ["cat", "dog"]),
        ("hours_indexed", 0.0111),
        ("disk_bytes", 123),
        ("disk_bytes_by_file", [("frames.faiss", 100), ("library.db", 23)]),
        ("indexes", [
            ("frames", [
                ("summary", card.summary()), ("factory", "IVF64,PQ16np"), ("approximate", True),
                ("nprobe", 8), ("recall_at_10", 0.97), ("bytes_per_vector", 24.0),
                ("vectors_at_build", 5000), ("built_at", "2026-01-02T03:04:05Z"),
            ]),
            ("clips", [("summary", "exact (no build card yet)")]),
        ]),
        ("frame_shards", [
            ("folder", "/lib/frames.shards"), ("current", False), ("error", "bad manifest"),
        ]),
    ]  # fmt: skip
    shards = ShardsSummary("/s", True, stale=[], shards=2, vectors=9, factory="IVF8,PQ8np",
                           shard_size=100, nprobe=4)  # fmt: skip
    assert pairs(shards.to_dict()) == [
        ("folder", "/s"), ("current", True), ("stale", []), ("shards", 2), ("vectors", 9),
        ("factory", "IVF8,PQ8np"), ("shard_size", 100), ("nprobe", 4),
    ]  # fmt: skip


def test_doctor_json():
    report = DoctorReport(
        "/lib", {"ffmpeg": Check(True, "ffmpeg 6"), "files": Check(False, "gone")}
    )
    assert not report.ok
    assert pairs(report.to_dict()) == [
        ("library", "/lib"),
        ("ok", False),
        ("checks", [
            ("ffmpeg", [("ok", True), ("detail", "ffmpeg 6")]),
            ("files", [("ok", False), ("detail", "gone")]),
        ]),
    ]  # fmt: skip
    repaired = RepairReport(
        "/lib/library.db",
        "/lib/library.db.damaged",
        rows={"videos": 2},
        unreadable={"frames": 1},
        reindex=["/v.mp4"],
        dropped_orphans=3,
    )
    data = DoctorReport("/lib", {"ffmpeg": Check(True, "ok")}, repaired=repaired).to_dict()
    assert data["ok"] is True and list(data) == ["library", "ok", "checks", "repaired"]
    assert pairs(data["repaired"]) == [
        ("original", "/lib/library.db"), ("backup", "/lib/library.db.damaged"),
        ("rows", [("videos", 2)]), ("unreadable_stretches", [("frames", 1)]),
        ("videos_to_reindex", ["/v.mp4"]), ("orphan_rows_dropped", 3),
    ]  # fmt: skip


def test_copy_group_json():
    best = CopyFacts("/a.mp4", 1920, 1080, 4_000_000, 12.5, 6_250_000, 25.0, 312)
    other = CopyFacts("/b.mp4", None, None, None, 0.0, None, None, None)
    group = CopyGroup([best, other])
    assert group.keep == "/a.mp4" and group.copies == ["/b.mp4"]
    assert best.rank > other.rank
    assert pairs(group.to_dict()) == [
        ("keep", "/a.mp4"),
        ("copies", ["/b.mp4"]),
        ("videos", [
            [("path", "/a.mp4"), ("width", 1920), ("height", 1080), ("bitrate", 4000000),
             ("duration", 12.5), ("size", 6250000), ("fps", 25.0), ("duration_frames", 312)],
            [("path", "/b.mp4"), ("width", None), ("height", None), ("bitrate", None),
             ("duration", 0.0), ("size", None), ("fps", None), ("duration_frames", None)],
        ]),
    ]  # fmt: skip


def test_temporal_training_json_per_outcome():
    mean = TemporalReport(arch="mean", checkpoint=None, clips_repooled=8)
    assert pairs(mean.to_dict()) == [("arch", "mean"), ("checkpoint", None), ("clips", 8)]
    kept = TemporalReport(arch="tcn", checkpoint=None, clips_repooled=0, kept_previous="old.pt",
                          val_loss=0.5, val_loss_previous=0.4, val_loss_untrained=None)  # fmt: skip
    assert pairs(kept.to_dict()) == [
        ("arch", "tcn"), ("checkpoint", None), ("kept_previous", "old.pt"), ("val_loss", 0.5),
        ("val_loss_previous", 0.4), ("val_loss_untrained", None), ("clips_repooled", 0),
    ]  # fmt: skip
    trained = TemporalReport(
        arch="lstm", checkpoint="/lib/new.pt", clips_repooled=8, sha256="ab12", train_clips=6,
        val_clips=2, epochs=2, best_epoch=1, val_loss=0.3, val_loss_previous=None,
        val_loss_untrained=0.9, train_loss=[0.7, 0.6], val_loss_history=[0.3, 0.35],
    )  # fmt: skip
    assert pairs(trained.to_dict()) == [
        ("kept_previous", None), ("val_loss_previous", None), ("arch", "lstm"),
        ("checkpoint", "/lib/new.pt"), ("sha256", "ab12"), ("train_clips", 6), ("val_clips", 2),
        ("epochs", 2), ("best_epoch", 1), ("val_loss", 0.3), ("val_loss_untrained", 0.9),
        ("train_loss", [0.7, 0.6]), ("val_loss_history", [0.3, 0.35]), ("clips_repooled", 8),
    ]  # fmt: skip


def test_prediction_json():
    clip = PredictionRecord(7, "head:tcn", "cat", 0.123456, 2.0, 4.0, path="/v.mp4", fps=25.0)
    assert pairs(clip.to_dict()) == [
        ("path", "/v.mp4"), ("classifier", "head:tcn"), ("label", "cat"), ("score", 0.1235),
        ("start", 2.0), ("end", 4.0), ("start_frame", 50), ("end_frame", 100),
    ]  # fmt: skip
    gone = PredictionRecord(7, "head:tcn", "cat", 1.0, None, None)  # its video was removed
    assert gone.to_dict() == {
        "path": "", "classifier": "head:tcn", "label": "cat", "score": 1.0, "start": None,
        "end": None, "start_frame": None, "end_frame": None,
    }  # fmt: skip
