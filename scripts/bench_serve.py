"""Warm image queries through `vsearch serve` (HTTP) against the Python API, on the same
library in the same run, and the cold start of `vsearch serve`.

The library is scripts/bench_search.py's synthetic one (512-d vectors of a ResNet-18 library
stored through ``Library.import_frames``), built once per size in ``--workdir`` and reused.
Each query sends the same 1280x720 JPEG: through HTTP as the body of ``POST
/api/search/image?k=10&refine=0`` to a `vsearch serve` process (one client, keep-alive),
through the API as ``Library.search_image(path, k=10, refine=0)`` in this process (refine 0:
the synthetic videos have no files to re-time hits in). Both include the encoder forward, so
the bare forward (``encode_images`` of the same image) is timed too: HTTP p50 minus forward p50
is the served query without the forward. CPU per query is read from the server process
(/proc) and from this process. Cold start: wall time from spawning `vsearch serve` to the
first answer of /api/health, and to the first answered search (model and index loaded).
Through the API, the same start is split: ``Library.open``, loading the indexes and the model,
and the first search (which reads where every frame is). Resident memory (now and peak) of the
server and of this process is read from /proc.

    nice -n 10 .venv/bin/python scripts/bench_serve.py --sizes 10000 100000 --workdir /tmp/bs
    nice -n 10 .venv/bin/python scripts/bench_serve.py --sizes 10000000 --model colorgrid \
        --workdir /tmp/bs7     # 128-d vectors: 10^7 of 512-d would need ~62 GB of disk
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import percentiles, synthetic_videos, write_query_image  # noqa: E402

SEARCH = "/api/search/image?k=10&refine=0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_gib(pid: int | str = "self") -> dict[str, float]:
    """Resident set now and its peak (VmRSS, VmHWM) of a process, in GiB, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = round(int(value.split()[0]) / 2**20, 2)  # kB
    return out


def build_library(root: Path, n: int, model: str) -> dict:
    """The synthetic library of ``n`` frames in ``root``, unless it is there; the seconds its
    import and its index build took (none when it was there)."""
    from vsearch.pipeline.library import Library

    if (root / "library.db").exists():
        return {}
    with Library.open(root, create=True, model=model) as lib:
        t0 = time.perf_counter()
        lib.import_frames(synthetic_videos(n, lib.model_info.dim))
        t1 = time.perf_counter()
        lib.rebuild_indexes()
        t2 = time.perf_counter()
    return {"import_s": round(t1 - t0, 1), "index_build_s": round(t2 - t1, 1)}


def api_row(root: Path, image: Path, queries: int) -> dict:
    from vsearch.media import load_image
    from vsearch.pipeline.library import Library

    start = time.perf_counter()
    with Library.open(root) as lib:
        opened = time.perf_counter()
        store = lib.store
        _ = store.frame_index, store.clip_index, store.pooler, store.encoder
        loaded = time.perf_counter()
        rss_loaded = rss_gib()["VmRSS"]
        lib.search_image(image, k=10, refine=0)  # the first search reads the frame places
        first = time.perf_counter()
        rss_first = rss_gib()["VmRSS"]
        encoder = store.encoder
        pixels = load_image(image, size=lib.model_info.input_size)
        for _ in range(10):  # warm-up: model, index, caches
            lib.search_image(image, k=10, refine=0)
            encoder.encode_images(pixels[None])
        forward, whole = [], []
        c0 = time.process_time()
        for _ in range(queries):
            t0 = time.perf_counter()
            lib.search_image(image, k=10, refine=0)
            whole.append(time.perf_counter() - t0)
        cpu = (time.process_time() - c0) / queries
        for _ in range(queries):
            t0 = time.perf_counter()
            encoder.encode_images(pixels[None])
            forward.append(time.perf_counter() - t0)
        card = lib.index_cards().get("frames")
    (w50, w99), (f50, f99) = percentiles(whole), percentiles(forward)
    return {
        "api_open_s": round(opened - start, 2),
        "api_indexes_and_model_s": round(loaded - opened, 2),
        "api_first_search_s": round(first - loaded, 2),
        "api_rss_before_first_search_gib": rss_loaded,
        "api_rss_after_first_search_gib": rss_first,
        "api_p50_ms": round(w50, 2),
        "api_p99_ms": round(w99, 2),
        "api_cpu_ms": round(cpu * 1000, 2),
        "forward_p50_ms": round(f50, 2),
        "forward_p99_ms": round(f99, 2),
        "index": getattr(card, "factory", "exact"),
        "api_peak_rss_gib": rss_gib()["VmHWM"],
    }


def http_row(root: Path, image: Path, queries: int) -> dict:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "vsearch", "-q", "--library", str(root), "serve"]
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    body = image.read_bytes()
    headers = {"Content-Type": "image/jpeg"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"vsearch serve exited: {server.stderr.read()}")
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            health_s = time.perf_counter() - t0
            rss_up = rss_gib(server.pid)["VmRSS"]
            r = client.post(SEARCH, content=body, headers=headers)
            r.raise_for_status()
            first_s = time.perf_counter() - t0
            for _ in range(10):
                client.post(SEARCH, content=body, headers=headers).raise_for_status()
            walls = []
            c0 = process_cpu_s(server.pid)
            for _ in range(queries):
                t1 = time.perf_counter()
                client.post(SEARCH, content=body, headers=headers).raise_for_status()
                walls.append(time.perf_counter() - t1)
            cpu = (process_cpu_s(server.pid) - c0) / queries
            rss = rss_gib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    p50, p99 = percentiles(walls)
    return {
        "http_p50_ms": round(p50, 2),
        "http_p99_ms": round(p99, 2),
        "server_cpu_ms": round(cpu * 1000, 2),
        "serve_health_s": round(health_s, 2),
        "serve_first_search_s": round(first_s, 2),
        "serve_rss_up_gib": rss_up,
        "serve_rss_gib": rss["VmRSS"],
        "serve_peak_rss_gib": rss["VmHWM"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--model", default="torchvision:resnet18@random")  # as bench_search
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vsearch-bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    image = work / "query.jpg"
    if not image.exists():
        write_query_image(image)
    for n in args.sizes:
        root = work / f"lib-{n}"
        row: dict = {"frames": n, **build_library(root, n, args.model)}
        row.update(http_row(root, image, args.queries))
        row.update(api_row(root, image, args.queries))
        row["http_over_api_p50"] = round(row["http_p50_ms"] / row["api_p50_ms"], 2)
        row["http_minus_forward_p50_ms"] = round(row["http_p50_ms"] - row["forward_p50_ms"], 2)
        row["load_average"] = round(os.getloadavg()[0], 1)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
