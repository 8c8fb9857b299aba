#!/usr/bin/env python3
"""Indexing throughput against its two stages, on the same footage in one run.

Prints, per encoder:
  decode  - ffmpeg decode-only throughput at the library's sampling (same parallel decoders)
  encode  - the bare encoder's throughput on the same (already decoded) frames
  index   - `Library.index` end to end on a fresh library (video-seconds per second)
  overlap - index / min(decode, encode): 1.0 means decoding and encoding fully overlap
  cpu     - index / the rate at which decoding and encoding together keep every core busy
            (cores / their CPU seconds per video-second): the bound when both stages run on
            the same CPU, as they do without a GPU
  dense   - with --dense-baseline, decode and index again in the same run with every frame
            decoded (no skipping of non-reference frames, vsearch.media.decode.SPARSE_RATIO),
            and how close the descriptors of the two decodes' samples are

Usage: python scripts/bench_index.py [--models colorgrid torchvision:resnet18@random]
           [--fps 1] [--decoders N] [--minutes 4] [--resolution 640x360] [--dense-baseline]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def footage(out: Path, minutes: float, resolution: str = "640x360") -> list[Path]:
    """Real sample videos plus longer generated clips, so the run is long enough to time."""
    from _footage import lavfi_clip
    from sample_data import build

    sample = build(out / "sample") / "library"
    extra = out / "long"
    extra.mkdir(exist_ok=True)
    sources = [
        f"testsrc2=size={resolution}:rate=25",
        f"mandelbrot=size={resolution}:rate=25",
        f"life=s={resolution}:mold=10:r=25:ratio=0.4,format=yuv420p",
        f"cellauto=s={resolution}:rule=110,format=yuv420p",
    ]
    seconds = max(10, int(minutes * 60 / len(sources)))
    tag = "" if resolution == "640x360" else f"_{resolution}"
    for i, src in enumerate(sources):
        lavfi_clip(extra / f"long{i}_{seconds}s{tag}.mp4", src, seconds)
    return sorted(sample.rglob("*.mp4")) + sorted(extra.glob(f"long*_{seconds}s{tag}.mp4"))


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the ffmpeg decoders)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def decode_all(videos: list[Path], fps: float, size: int, workers: int) -> tuple[float, list]:
    from vsearch.media import iter_frames, probe_video

    def one(path: Path):
        info = probe_video(path)
        frames = [b.images for b in iter_frames(path, fps=fps, size=size, info=info)]
        return info.duration, np.concatenate(frames) if frames else np.zeros((0, size, size, 3))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, videos))
    return time.perf_counter() - t0, results


@contextlib.contextmanager
def every_frame_decoded():
    """Decoding as without sparse skipping: every frame, reference or not."""
    import vsearch.media.decode as decode

    ratio = decode.SPARSE_RATIO
    decode.SPARSE_RATIO = float("inf")
    try:
        yield
    finally:
        decode.SPARSE_RATIO = ratio


def index_rate(spec: str, encoder, videos: list[Path], fps: float, decoders: int, tmp: Path):
    """(video-seconds per second of `Library.index` on a fresh library, settings, report)."""
    from vsearch.config import Settings
    from vsearch.pipeline.library import Library

    settings = Settings.load(
        library=tmp / f"lib-{len(os.listdir(tmp))}", model=spec, fps=fps, decoders=decoders
    )
    lib = Library.open(settings=settings, create=True)
    lib.store._encoder = encoder  # the same warmed-up encoder instance
    t0 = time.perf_counter()
    report = lib.index([str(v) for v in videos])
    index_s = time.perf_counter() - t0
    lib.close()
    return report.video_seconds / index_s, settings, report


def dense_baseline(videos, fps, decoders, tmp, spec, frames, sparse) -> dict:
    """Decode-only and index rates with every frame decoded, against the sparse ones."""
    from vsearch.models import create_encoder

    encoder = create_encoder(spec)  # the first one was closed with its library
    encoder.encode_images(frames[: min(8, len(frames))])  # warm-up
    cpu0 = cpu_seconds()
    with every_frame_decoded():
        decode_s, decoded = decode_all(videos, fps, encoder.info.input_size, decoders)
    decode_cpu = cpu_seconds() - cpu0
    seconds = sum(d for d, _ in decoded)
    dense_frames = np.concatenate([f for _, f in decoded])
    out = {}
    if len(dense_frames) == len(frames):  # the same samples, one per bucket
        cos = (encoder.encode_images(frames) * encoder.encode_images(dense_frames)).sum(axis=1)
        out["descriptor_cosine_mean"] = round(float(cos.mean()), 4)
        out["descriptor_cosine_min"] = round(float(cos.min()), 4)
    with every_frame_decoded():
        index, _, _ = index_rate(spec, encoder, videos, fps, decoders, tmp)
    out |= {
        "dense_decode_video_s_per_s": round(seconds / decode_s, 1),
        "dense_decode_cpu_s_per_video_s": round(decode_cpu / seconds, 4),
        "dense_index_video_s_per_s": round(index, 1),
        "sparse_over_dense_decode": round(sparse["decode"] * decode_s / seconds, 2),
        "sparse_over_dense_index": round(sparse["index"] / index, 2),
    }
    return out


def bench(
    spec: str, videos: list[Path], fps: float, decoders: int, tmp: Path, dense: bool = False
) -> dict:
    from vsearch.models import create_encoder

    encoder = create_encoder(spec)
    size = encoder.info.input_size
    cpu0 = cpu_seconds()
    decode_s, decoded = decode_all(videos, fps, size, decoders)
    decode_cpu = cpu_seconds() - cpu0
    seconds = sum(d for d, _ in decoded)
    frames = np.concatenate([f for _, f in decoded])
    encoder.encode_images(frames[: min(8, len(frames))])  # warm-up
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    batch = encoder.batch_size
    for lo in range(0, len(frames), batch):
        encoder.encode_images(frames[lo : lo + batch])
    encode_s, encode_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    index, settings, report = index_rate(spec, encoder, videos, fps, decoders, tmp)
    from vsearch.pipeline.library import DB_NAME, FRAME_INDEX

    stored = max(1, report.frames)
    faiss_b = (settings.library / FRAME_INDEX).stat().st_size / stored
    sqlite_b = sum(p.stat().st_size for p in settings.library.glob(DB_NAME + "*")) / stored
    rates = {
        "decode": seconds / decode_s,
        "encode": seconds / encode_s,
        "index": index,
    }
    extra = dense_baseline(videos, fps, decoders, tmp, spec, frames, rates) if dense else {}
    return extra | {
        "model": spec,
        "videos": len(videos),
        "video_seconds": round(seconds, 1),
        "frames": int(len(frames)),
        "decode_video_s_per_s": round(rates["decode"], 1),
        "encode_video_s_per_s": round(rates["encode"], 1),
        "encode_frames_per_s": round(len(frames) / encode_s, 1),
        "index_video_s_per_s": round(rates["index"], 1),
        "overlap_ratio": round(rates["index"] / min(rates["decode"], rates["encode"]), 2),
        # Both stages on one CPU: running them one after the other gives 1 / (1/d + 1/e).
        "serial_ratio": round(rates["index"] * (1 / rates["decode"] + 1 / rates["encode"]), 2),
        # Both stages on the same cores: at best they keep every core busy, so the CPU time
        # both need per video-second bounds the rate (cores / CPU seconds per video-second).
        "cpu_bound_ratio": round(
            rates["index"] * (decode_cpu + encode_cpu) / seconds / (os.cpu_count() or 1), 2
        ),
        "cpu_seconds_per_video_s": {
            "decode": round(decode_cpu / seconds, 4),
            "encode": round(encode_cpu / seconds, 4),
        },
        "index_stage_seconds": {k: round(v, 2) for k, v in report.stage_seconds.items()},
        "dim": encoder.info.dim,
        # the frame index file, and the whole database (frames, clips, videos) per frame
        "faiss_bytes_per_frame": round(faiss_b),
        "sqlite_bytes_per_frame": round(sqlite_b),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["colorgrid", "torchvision:resnet18@random"])
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--decoders", type=int, default=max(2, min(8, os.cpu_count() or 2)))
    parser.add_argument(
        "--minutes",
        type=float,
        default=4.0,
        help="minutes of generated footage added to the sample videos",
    )
    parser.add_argument(
        "--resolution", default="640x360", help="frame size of the generated footage (WxH)"
    )
    parser.add_argument(
        "--dense-baseline",
        action="store_true",
        help="also decode and index with every frame decoded (no skipping), same run",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        videos = footage(ROOT / "data" / "bench", args.minutes, args.resolution)
        results = [
            bench(m, videos, args.fps, args.decoders, Path(tmp), args.dense_baseline)
            for m in args.models
        ]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"# {platform.machine()} {os.cpu_count()} cores, fps={args.fps}, "
        f"decoders={args.decoders}, {results[0]['videos']} videos, "
        f"{results[0]['video_seconds']} video-s"
    )
    print(
        "| model | frames | decode (video-s/s) | encode (video-s/s) | encode (frames/s) "
        "| index (video-s/s) | index / slower stage | index / stages in series "
        "| index / CPU bound | dims | FAISS B/frame | SQLite B/frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['model']} | {r['frames']} | {r['decode_video_s_per_s']} | "
            f"{r['encode_video_s_per_s']} | {r['encode_frames_per_s']} | "
            f"{r['index_video_s_per_s']} | {r['overlap_ratio']} | {r['serial_ratio']} | "
            f"{r['cpu_bound_ratio']} | {r['dim']} | {r['faiss_bytes_per_frame']} | "
            f"{r['sqlite_bytes_per_frame']} |"
        )
    if args.dense_baseline:
        print(
            "\n| model | decode sparse / every frame | CPU s per video-s, sparse / every frame "
            "| index sparse / every frame | descriptor cosine, mean (min) |"
        )
        print("|---|---|---|---|---|")
        for r in results:
            cos = r.get("descriptor_cosine_mean")
            print(
                f"| {r['model']} | {r['sparse_over_dense_decode']} | "
                f"{r['cpu_seconds_per_video_s']['decode']} / "
                f"{r['dense_decode_cpu_s_per_video_s']} | {r['sparse_over_dense_index']} | "
                + (f"{cos} ({r['descriptor_cosine_min']})" if cos is not None else "n/a")
                + " |"
            )


if __name__ == "__main__":
    main()
