#!/usr/bin/env python3
"""Benchmarks of near-duplicate detection (`vsearch dups`).

quality (default): for each of --models, a library of the sample footage (sample_data.py:
    known copies of bigbuckbunny flipped, cropped, recoloured, low quality, 1.5x fast and
    embedded in other footage; carphone_distorted a compressed copy of carphone_pristine; the
    rest unrelated) and print precision / recall of the reported segment pairs at several
    thresholds.

    python scripts/bench_dups.py quality SAMPLE_DIR [--fps 4] [--models colorgrid effnet:lite0]

scale: synthetic clustered frame vectors (dim 128 like colorgrid) with planted duplicate runs;
    time and peak memory of the whole frame-matching stage, planted runs found, and the IVF
    search compared with exact flat search on a subset of queries (recall and speed ratio).

    python scripts/bench_dups.py scale --vectors 1000000
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _options import add_framing_option  # noqa: E402

from vsearch.config import Settings  # noqa: E402
from vsearch.index.neighbors import IvfParams, NeighborSearch, neighbors_above  # noqa: E402
from vsearch.pipeline.dups import DupReport, match_frames  # noqa: E402
from vsearch.pipeline.library import Library  # noqa: E402

BUNNY = [
    "originals/bigbuckbunny.mp4",
    "copies/bunny_flipped.mp4",
    "copies/bunny_cropped.mp4",
    "copies/bunny_recoloured.mp4",
    "copies/bunny_lowq.mp4",
    "copies/bunny_fast.mp4",
    "copies/bikes_then_bunny.mp4",
]
OTHER_COPIES = [
    ("originals/carphone_pristine.mp4", "originals/carphone_distorted.mp4"),
    ("originals/bikes.mp4", "copies/bikes_then_bunny.mp4"),
]


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- quality -------------------------------------------------------------------------------


def truth(root: Path, bikes_seconds: float) -> dict[frozenset[str], dict[str, tuple[float, float]]]:
    """Known copy pairs -> where the shared footage lies in the mixed file (if it is one)."""
    pairs: dict[frozenset[str], dict[str, tuple[float, float]]] = {}
    mixed = str(root / "copies/bikes_then_bunny.mp4")
    for a, b in combinations(BUNNY, 2):
        pairs[frozenset({str(root / a), str(root / b)})] = {
            mixed: (bikes_seconds, bikes_seconds + 4.0)
        }
    pairs[frozenset(str(root / p) for p in OTHER_COPIES[0])] = {}
    pairs[frozenset(str(root / p) for p in OTHER_COPIES[1])] = {mixed: (0.0, bikes_seconds)}
    return pairs


def is_true(m, pairs) -> bool:
    where = pairs.get(frozenset({m.a_path, m.b_path}))
    if where is None:
        return False
    for path, start, end in ((m.a_path, m.a_start, m.a_end), (m.b_path, m.b_start, m.b_end)):
        if path in where:
            lo, hi = where[path]
            if min(end, hi) - max(start, lo) < 0.5 * (end - start):
                return False  # the right files, the wrong part of the mixed one
    return True


RAW_THRESHOLDS = [0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99]
CALIBRATED_THRESHOLDS = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]


def quality(args: argparse.Namespace) -> None:
    for model in args.models:
        for framing in args.framing:
            quality_of(model, framing, args)


def quality_of(model: str, framing: str, args: argparse.Namespace) -> None:
    from vsearch.pipeline.scoring import scoring_for

    root = Path(args.sample).resolve() / "library"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(library=Path(tmp) / "lib", model=model)
        lib = Library.open(settings=settings, create=True, fps=args.fps, framing=framing)
        with lib:
            lib.index([root])
            videos = {v.path: v for v in lib.videos()}
            bikes = videos[str(root / "originals/bikes.mp4")].duration or 0.0
            pairs = truth(root, bikes)
            n_pairs = len(videos) * (len(videos) - 1) // 2
            scale = scoring_for(lib.model_info).scale
            print(
                f"library: {len(videos)} videos at {args.fps:g} frames/s ({model}, {framing} "
                f"framing, {scale.name} scores, default {scale.dups.threshold:g}); "
                f"{len(pairs)} known copy pairs, {n_pairs - len(pairs)} unrelated pairs"
            )
            print(f"{'threshold':>9} {'matches':>7} {'true':>5} {'false':>5} {'precision':>9} "
                  f"{'pair recall':>11} {'seconds':>7}")  # fmt: skip
            thresholds = args.thresholds or (
                CALIBRATED_THRESHOLDS if scale.name == "calibrated" else RAW_THRESHOLDS
            )
            for th in thresholds:
                t0 = time.perf_counter()
                rep = lib.find_duplicates(threshold=th)
                dt = time.perf_counter() - t0
                good = [m for m in rep.matches if is_true(m, pairs)]
                found = {frozenset({m.a_path, m.b_path}) for m in good}
                prec = len(good) / len(rep.matches) if rep.matches else 1.0
                print(f"{th:9.2f} {len(rep.matches):7d} {len(good):5d} "
                      f"{len(rep.matches) - len(good):5d} {prec:9.3f} "
                      f"{len(found) / len(pairs):11.3f} {dt:7.2f}")  # fmt: skip
                if args.verbose:
                    missed = [sorted(Path(p).name for p in k) for k in pairs if k not in found]
                    print("   missed:", missed)


# --- scale ---------------------------------------------------------------------------------

PREVIOUS = IvfParams(cells=4.0, nprobe=16, train_per_cell=40)  # the setting before tuning


def synthetic(n: int, dim: int, frames: int, copies: int, seed: int = 0):
    """Clustered 'videos' with planted copied runs.

    Each video is an AR(1) walk (rho 0.9) around the centre of one of n_videos/4 clusters:
    consecutive frames score ~0.95, frames of two videos of one cluster ~0.5, of two
    clusters ~0; a planted copy (with noise) scores ~0.99.
    """
    rng = np.random.default_rng(seed)
    n_videos = n // frames
    centres = rng.normal(size=(max(1, n_videos // 4), dim)).astype(np.float32)
    base = centres[np.arange(n_videos) % len(centres)]
    x = np.empty((n_videos, frames, dim), dtype=np.float32)
    z = rng.normal(size=(n_videos, dim)).astype(np.float32)
    for t in range(frames):
        z = 0.9 * z + np.float32(np.sqrt(1 - 0.81)) * rng.normal(size=z.shape).astype(np.float32)
        x[:, t] = base + z
    x = x.reshape(n_videos * frames, dim)
    vids = np.repeat(np.arange(n_videos), frames)
    times = np.tile(np.arange(frames, dtype=np.float64), n_videos)
    planted = []
    run = 30
    used: dict[int, list[int]] = {}  # video -> starts of runs already copied from or into
    while len(planted) < copies:
        a, b = rng.choice(n_videos, 2, replace=False)
        sa, sb = rng.integers(0, frames - run, 2)
        if any(abs(s - t) < run for v, s in ((a, sa), (b, sb)) for t in used.get(int(v), [])):
            continue  # runs never overlap, so no later copy overwrites an earlier one
        used.setdefault(int(a), []).append(int(sa))
        used.setdefault(int(b), []).append(int(sb))
        x[b * frames + sb : b * frames + sb + run] = x[a * frames + sa : a * frames + sa + run]
        x[b * frames + sb : b * frames + sb + run] += rng.normal(size=(run, dim)) * 0.15
        planted.append((int(a), int(b), float(sa), float(sb)))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return vids, times, np.ones(len(x), bool), x, planted


def scale(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    vids, times, inf, x, planted = synthetic(args.vectors, 128, args.frames, args.copies)
    print(f"{len(x)} synthetic vectors (dim 128) in {len(x) // args.frames} videos, "
          f"{len(planted)} planted copied runs of 30 frames; generated in "
          f"{time.perf_counter() - t0:.1f}s, peak {peak_mib():.0f} MiB")  # fmt: skip
    runs = [("default", None)] + ([("previous", PREVIOUS)] if args.previous else [])
    walls = {}
    for name, ivf in runs:
        report = DupReport(threshold=args.threshold)
        t0 = time.perf_counter()
        found = match_frames(
            vids, times, inf, x, step=1.0, threshold=args.threshold, ivf=ivf, report=report
        )
        walls[name] = time.perf_counter() - t0
        print_run(name, walls[name], found, planted, report)
    if args.previous:
        print(f"default vs previous setting, same run: {walls['previous'] / walls['default']:.2f}x "
              f"faster ({walls['default']:.1f}s vs {walls['previous']:.1f}s)")  # fmt: skip
    compare_exact(args, vids, x)


def print_run(name, wall, found, planted, report) -> None:
    hit = 0
    got: dict[tuple[int, int], list] = {}
    for f in found:
        got.setdefault((f.a, f.b), []).append(f.segment)
    for a, b, sa, sb in planted:
        for seg in got.get((min(a, b), max(a, b)), []):
            start_a, start_b = (seg.a_start, seg.b_start) if a < b else (seg.b_start, seg.a_start)
            if abs(start_a - sa) <= 1.0 and abs(start_b - sb) <= 1.0:
                hit += 1
                break
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in report.stage_seconds.items())
    print(f"[{name}] match_frames: {wall:.1f}s ({stages}); search: {report.search}; "
          f"{report.hits} frame hits; peak RSS {peak_mib():.0f} MiB")  # fmt: skip
    print(f"[{name}] planted runs found and localised within 1 step: {hit}/{len(planted)}; "
          f"segment pairs reported: {len(found)}")  # fmt: skip


def compare_exact(args: argparse.Namespace, vids: np.ndarray, x: np.ndarray) -> None:
    """Approximate (default setting) vs exact on a subset of queries, over all vectors."""
    rng = np.random.default_rng(1)
    sub = np.sort(rng.choice(len(x), min(args.subset, len(x)), replace=False))
    t0 = time.perf_counter()
    ivf = NeighborSearch(x, approximate=True)
    build = time.perf_counter() - t0
    flat = NeighborSearch(x, approximate=False)
    timings = {}
    results = {}
    for name, search in (("ivf", ivf), ("exact", flat)):
        t0 = time.perf_counter()
        q, nb, _ = neighbors_above(search, x[sub], args.threshold, 17)
        timings[name] = time.perf_counter() - t0
        other = vids[sub[q]] != vids[nb]
        results[name] = set(zip(sub[q][other].tolist(), nb[other].tolist(), strict=True))
    recall = len(results["ivf"] & results["exact"]) / max(1, len(results["exact"]))
    print(
        f"subset of {len(sub)} queries against all {len(x)} vectors: exact flat "
        f"{timings['exact']:.1f}s, {ivf.describe()} {timings['ivf']:.1f}s (+{build:.1f}s "
        f"build): {timings['exact'] / timings['ivf']:.1f}x faster; recall of cross-video "
        f"hits >= {args.threshold}: {recall:.4f} ({len(results['exact'])} exact hits)"
    )
    print(
        f"exact flat for all {len(x)} queries, extrapolated: "
        f"{timings['exact'] * len(x) / len(sub) / 60:.0f} min; peak RSS {peak_mib():.0f} MiB"
    )


# --- tune ----------------------------------------------------------------------------------

CANDIDATES = {
    "previous: 4 sqrt(N) cells, nprobe 16, 40/cell": PREVIOUS,
    "default: 4 sqrt(N), nprobe 8, 40/cell": IvfParams(),
    "4 sqrt(N), nprobe 4": IvfParams(nprobe=4),
    "4 sqrt(N), nprobe 8, 24/cell": IvfParams(train_per_cell=24),
    "4 sqrt(N), nprobe 8, HNSW coarse": IvfParams(coarse="hnsw"),
    "4 sqrt(N), nprobe 8, SQ8": IvfParams(codec="sq8"),
    "2 sqrt(N), nprobe 8, 32/cell": IvfParams(cells=2.0, train_per_cell=32),
}


def hit_scores(search, x, sub, vids, threshold) -> dict[tuple[int, int], float]:
    """Cross-video hits (query row, neighbour row) -> score, for the queries ``sub``."""
    q, nb, s = neighbors_above(search, x[sub], threshold, 17)
    other = vids[sub[q]] != vids[nb]
    pairs = zip(sub[q][other].tolist(), nb[other].tolist(), strict=True)
    return dict(zip(pairs, s[other].tolist(), strict=True))


def tune(args: argparse.Namespace) -> None:
    """Each candidate IVF setting on the same vectors: build time, search time for a sample of
    queries (scaled to all N), recall of cross-video hits vs exact flat search on a subset."""
    import faiss

    vids, _times, _inf, x, _planted = synthetic(args.vectors, 128, args.frames, args.copies)
    rng = np.random.default_rng(1)
    timed = np.sort(rng.choice(len(x), min(args.queries, len(x)), replace=False))
    sub = timed[np.sort(rng.choice(len(timed), min(args.subset, len(timed)), replace=False))]
    low = min(args.thresholds)
    t0 = time.perf_counter()
    truth = hit_scores(NeighborSearch(x, approximate=False), x, sub, vids, low)
    exact_s = time.perf_counter() - t0
    exact = {th: {h for h, v in truth.items() if v >= th} for th in args.thresholds}
    print(f"{len(x)} vectors, {os.cpu_count()} CPUs, {faiss.omp_get_max_threads()} OpenMP "
          f"threads; exact flat: {len(sub)} queries in {exact_s:.1f}s; exact cross-video hits "
          + ", ".join(f">= {th}: {len(exact[th])}" for th in args.thresholds))  # fmt: skip
    cols = " ".join(f"{'recall@' + str(th):>11}" for th in args.thresholds)
    print(f"{'setting':<40} {'index':<34} {'build s':>7} {'search s':>8} {'total s':>7} {cols}")
    rows = list(CANDIDATES.items())
    if args.threads:
        best = CANDIDATES[args.threads_of] if args.threads_of else rows[0][1]
        rows += [
            (f"{args.threads_of or rows[0][0]}, {t} thread(s)", (best, t)) for t in args.threads
        ]
    base_total = None
    for name, params in rows:
        threads = None
        if isinstance(params, tuple):
            params, threads = params
        before = faiss.omp_get_max_threads()
        if threads:
            faiss.omp_set_num_threads(threads)
        try:
            t0 = time.perf_counter()
            ivf = NeighborSearch(x, approximate=True, params=params)
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            neighbors_above(ivf, x[timed], min(args.thresholds), 17)
            search = (time.perf_counter() - t0) * len(x) / len(timed)
            got = hit_scores(ivf, x, sub, vids, low)
            found = {th: {h for h, v in got.items() if v >= th} for th in exact}
        finally:
            faiss.omp_set_num_threads(before)
        total = build + search
        base_total = base_total or total
        recalls = " ".join(
            f"{len(found[th] & exact[th]) / max(1, len(exact[th])):11.4f}" for th in args.thresholds
        )
        print(f"{name:<40} {ivf.describe().split(' over')[0]:<34} {build:7.1f} {search:8.1f} "
              f"{total:7.1f} {recalls}  ({base_total / total:.2f}x)")  # fmt: skip
        del ivf


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    q = sub.add_parser("quality")
    q.add_argument("sample", help="output directory of scripts/sample_data.py")
    q.add_argument("--fps", type=float, default=4.0)
    q.add_argument("--models", nargs="+", default=["colorgrid"])
    add_framing_option(q)
    q.add_argument("--thresholds", type=float, nargs="+", default=None, help="default: per scale")
    q.add_argument("-v", "--verbose", action="store_true")
    s = sub.add_parser("scale")
    s.add_argument("--vectors", type=int, default=1_000_000)
    s.add_argument("--frames", type=int, default=500, help="frames per synthetic video")
    s.add_argument("--copies", type=int, default=200)
    s.add_argument("--threshold", type=float, default=0.9)
    s.add_argument("--subset", type=int, default=5000)
    s.add_argument(
        "--no-previous", dest="previous", action="store_false", help="skip the previous setting"
    )
    t = sub.add_parser("tune")
    t.add_argument("--vectors", type=int, default=1_000_000)
    t.add_argument("--frames", type=int, default=500)
    t.add_argument("--copies", type=int, default=200)
    t.add_argument("--queries", type=int, default=50_000, help="queries timed, scaled to all")
    t.add_argument("--subset", type=int, default=5000, help="queries checked against exact")
    t.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.8])
    t.add_argument("--threads", type=int, nargs="*", default=[], help="also time these")
    t.add_argument("--threads-of", default="", help="candidate timed with --threads")
    args = parser.parse_args()
    if args.mode == "tune":
        tune(args)
    elif args.mode == "scale":
        scale(args)
    elif args.mode == "quality":
        quality(args)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
