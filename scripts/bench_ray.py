"""Indexing on Ray against the local indexer, on the same files, in one run.

    nice -n 10 .venv/bin/python scripts/bench_ray.py --videos 16 --seconds 20 \
        --models colorgrid torchvision:resnet18@random

Footage: generated lavfi clips (testsrc2, mandelbrot, life, cellauto in turn) at 320x240,
h264, sampled at 1 frame/s. Per model, each indexer runs in its own process on a fresh
library: the local indexer (parallel ffmpeg decoders + batched encoder in one process) and
``--ray`` against a loopback cluster started here (a head and a worker node, ``--cpus`` CPUs
each, one actor per CPU). The Ray run is also made on the first half of the files alone, to
show that the driver's peak memory does not grow with the number of files (vectors stream
back in bounded batches and are committed per video). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _footage import lavfi_clip

SOURCES = [
    "testsrc2=size=320x240:rate=25",
    "mandelbrot=size=320x240:rate=25",
    "life=size=320x240:rate=25:mold=10:ratio=0.3",
    "cellauto=size=320x240:rate=25:rule=110",
]


def make_footage(root: Path, n: int, seconds: float) -> Path:
    for i in range(n):
        src = SOURCES[i % len(SOURCES)] + f",hue=h={i * 23}"
        lavfi_clip(root / f"clip{i:03d}.mp4", src, seconds)
    return root


def child(args: argparse.Namespace) -> None:
    """One indexing run in this process; prints its figures as JSON."""
    from vsearch.pipeline.library import Library

    files = sorted(Path(args.footage).iterdir())[: args.limit or None]
    with Library.open(args.library, create=True, model=args.model, fps=1.0) as lib:
        started = time.perf_counter()
        report = lib.index([str(f) for f in files], ray=args.ray or None)
        wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "files": len(files),
                "indexed": len(report.indexed),
                "frames": report.frames,
                "video_seconds": report.video_seconds,
                "wall": wall,
                "startup": report.stage_seconds.get("startup", 0.0),
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def run_child(footage: Path, library: Path, model: str, ray: str = "", limit: int = 0) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--footage",
        str(footage),
        "--library",
        str(library),
        "--model",
        model,
        "--limit",
        str(limit),
    ]
    if ray:
        cmd += ["--ray", ray]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--cpus", type=int, default=1, help="CPUs of each of the two Ray nodes")
    ap.add_argument("--models", nargs="+", default=["colorgrid"])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--footage", default="", help=argparse.SUPPRESS)
    ap.add_argument("--library", default="", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="colorgrid", help=argparse.SUPPRESS)
    ap.add_argument("--ray", default="", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    from ray.cluster_utils import Cluster

    work = Path(tempfile.mkdtemp(prefix="vsearch-bench-ray-"))
    footage = make_footage(work / "footage", args.videos, args.seconds)
    node = {"num_cpus": args.cpus, "object_store_memory": 100 * 2**20}
    cluster = Cluster(
        initialize_head=True, connect=False, head_node_args={**node, "include_dashboard": False}
    )
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    rows = []
    try:
        for model in args.models:
            tag = model.replace(":", "_").replace("@", "_")
            local = run_child(footage, work / f"local-{tag}", model)
            half = run_child(
                footage, work / f"half-{tag}", model, cluster.address, limit=args.videos // 2
            )
            ray = run_child(footage, work / f"ray-{tag}", model, cluster.address)
            rows.append((model, local, ray, half))
    finally:
        cluster.shutdown()

    print(
        f"Date {time.strftime('%Y-%m-%d')}, machine {platform.machine()}, "
        f"{args.videos} files x {args.seconds:g} s at 320x240, 1 frame/s; Ray: 2 loopback "
        f"nodes x {args.cpus} CPU"
    )
    print()
    print(
        "| model | local (video-s/s) | ray (video-s/s) | ray / local | ray startup (s) | "
        "ray after startup (video-s/s) | ratio after startup | driver RSS local (MiB) | "
        "driver RSS ray, all files | driver RSS ray, half the files |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model, local, ray, half in rows:
        lr = local["video_seconds"] / local["wall"]
        rr = ray["video_seconds"] / ray["wall"]
        steady = ray["video_seconds"] / (ray["wall"] - ray["startup"])
        assert local["frames"] == ray["frames"], (local, ray)
        print(
            f"| {model} | {lr:.1f} | {rr:.1f} | {rr / lr:.2f} | {ray['startup']:.1f} | "
            f"{steady:.1f} | {steady / lr:.2f} | {local['rss_mib']:.0f} | "
            f"{ray['rss_mib']:.0f} | {half['rss_mib']:.0f} |"
        )
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
