#!/usr/bin/env python3
"""Indexing on a GPU: the encoder inside the pipeline against the bare forward, in one run.

Footage is generated with ffmpeg (lavfi sources, 640x360 h264), so the script needs nothing
but ffmpeg/ffprobe and vsearch's own dependencies. Per encoder it prints, from one run:

  bare      - frames/s of ``encode_images`` alone on already decoded frames (the encoder's own
              batch size and precision: bf16/fp16 autocast and channels_last on CUDA)
  pipeline  - frames/s of the encode stage inside ``Library.index`` (frames / the seconds
              the run spent in that stage) and the ratio pipeline / bare (target >= 0.8)
  index     - video-hours indexed per wall-clock hour, end to end (decode, encode, write)

    python scripts/bench_gpu.py --models effnet:lite0 --fps 5 --minutes 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

SOURCES = [
    "testsrc2=size=640x360:rate=25",
    "mandelbrot=size=640x360:rate=25",
    "life=s=640x360:mold=10:r=25:ratio=0.4,format=yuv420p",
    "cellauto=s=640x360:rule=110:r=25,format=yuv420p",
    "smptehdbars=size=640x360:rate=25",
    "rgbtestsrc=size=640x360:rate=25,hue=H=t",
    "cellauto=s=640x360:rule=30:r=25,format=yuv420p",
    "testsrc=size=640x360:rate=25",
]
PIPELINE_TARGET = 0.8


def make_footage(out: Path, minutes: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    seconds = max(10, int(minutes * 60 / len(SOURCES)))

    def one(i_src):
        i, src = i_src
        target = out / f"gen{i}_{seconds}s.mp4"
        if not target.exists():
            cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src]
            cmd += ["-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264"]
            cmd += ["-preset", "veryfast", str(target)]
            subprocess.run(cmd, check=True)
        return target

    with ThreadPoolExecutor(len(SOURCES)) as pool:
        return list(pool.map(one, enumerate(SOURCES)))


def run(spec: str, videos: list[Path], fps: float, decoders: int, tmp: Path) -> dict:
    from bench_index import bench

    t0 = time.perf_counter()
    res = bench(spec, videos, fps, decoders, tmp)
    encode_stage = res["index_stage_seconds"].get("encode", 0.0)
    inside = res["frames"] / encode_stage if encode_stage else 0.0
    res["pipeline_encode_frames_per_s"] = round(inside, 1)
    res["pipeline_over_bare"] = round(inside / res["encode_frames_per_s"], 2)
    res["video_hours_per_hour"] = res["index_video_s_per_s"]  # video-s per s = h per h
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    return res


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"CPU only ({os.cpu_count()} cores, torch {torch.__version__})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["effnet:lite0"])
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--decoders", type=int, default=max(2, min(16, os.cpu_count() or 2)))
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vsearch-bench-gpu-"))
    t0 = time.perf_counter()
    videos = make_footage(work / "footage", args.minutes)
    print(json.dumps({"device": device_name(), "footage_s": round(time.perf_counter() - t0, 1)}))
    missed = []
    for spec in args.models:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            res = run(spec, videos, args.fps, args.decoders, Path(tmp))
        print(json.dumps(res), flush=True)
        if res["pipeline_over_bare"] < PIPELINE_TARGET:
            missed.append(f"{spec}: pipeline/bare {res['pipeline_over_bare']} < {PIPELINE_TARGET}")
    print(json.dumps({"bars_missed": missed}))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
