"""Frame search through a library's shards against its exact frame index, end to end.

    nice -n 10 .venv/bin/python scripts/bench_shard_search.py --n 100000 --queries 200

One real library (``--model``, colorgrid by default) holds ``--n`` synthetic frames stored
through ``Library.import_frames`` (the videos of ``scripts/bench_search.py``); queries are
stored frames plus noise (near copies). Baseline in the same run: ``search_vectors`` through
the library's exact frame index. Then ``Library.refresh_shards`` (default layout, or
``--factory``) and the same queries through the shards, candidates re-ranked by exact inner
product, at each ``--nprobe`` (changed without a rebuild). Prints, per nprobe, the video
recall@10 against the baseline, top-1 agreement, the largest score difference on frames both
return, ms per query (one query at a time, warm) and the ratio to the baseline; the refresh
time; and a refresh after one video is imported again (its old shard and the last rebuilt).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import near_copies, synthetic_videos  # noqa: E402


def timed_search(store, q: np.ndarray, k: int):
    from vsearch.pipeline.search import search_vectors

    search_vectors(store, q[:1], k=k)  # warm: index loaded, shards checked
    started = time.perf_counter()
    hits = [search_vectors(store, row[None], k=k)[0] for row in q]
    return hits, (time.perf_counter() - started) * 1000 / len(q)


def main() -> None:
    from vsearch.index.sharded import DEFAULT_SHARD_SIZE
    from vsearch.pipeline.library import Library
    from vsearch.store.shards import RerankedShards

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--model", default="colorgrid")
    ap.add_argument("--factory", default=None)
    ap.add_argument("--nprobe", default="8,32,128", help="comma-separated")
    ap.add_argument("--shard-size", type=int, default=None, help="default: n/4 rounded up")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    shard_size = args.shard_size or -(-args.n // 4) or DEFAULT_SHARD_SIZE
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        lib = Library.open(Path(tmp) / "lib", create=True, model=args.model)
        dim = lib.model_info.dim
        t0 = time.perf_counter()
        lib.import_frames(synthetic_videos(args.n, dim))
        import_s = time.perf_counter() - t0
        q = near_copies(lib, args.queries, seed=1)
        exact, exact_ms = timed_search(lib.store, q, args.k)
        built = lib.refresh_shards(shard_size=shard_size, factory=args.factory)
        rows = []
        for nprobe in [int(x) for x in args.nprobe.split(",")]:
            lib.refresh_shards(nprobe=nprobe)  # a search setting: nothing rebuilt
            assert isinstance(lib.store.frame_searcher, RerankedShards)
            sharded, shard_ms = timed_search(lib.store, q, args.k)
            pairs = list(zip(exact, sharded, strict=True))
            found = sum(len({h.video_id for h in a} & {h.video_id for h in b}) for a, b in pairs)
            diffs = [
                abs(h.score - {e.frame_id: e.score for e in a}[h.frame_id])
                for a, b in pairs
                for h in b
                if h.frame_id in {e.frame_id for e in a}
            ]
            top1 = np.mean([a[0].video_id == b[0].video_id for a, b in pairs])
            rows.append(
                {
                    "nprobe": nprobe,
                    "video_recall_at_10": round(found / sum(len(a) for a, _ in pairs), 4),
                    "top1_agreement": round(float(top1), 4),
                    "max_score_diff": float(max(diffs, default=0.0)),
                    "ms_per_query_shards": round(shard_ms, 2),
                    "ratio_to_exact": round(shard_ms / exact_ms, 2),
                }
            )
        lib.import_frames(synthetic_videos(200, dim, seed=7))
        again = lib.refresh_shards(shard_size=shard_size)
        shards = lib.store.frame_searcher.shards
        result = {
            "machine": platform.platform(),
            "frames": args.n,
            "dim": dim,
            "factory": shards.factory,
            "shards": built.shards,
            "import_s": round(import_s, 1),
            "refresh_s": round(built.seconds, 1),
            "trained": built.trained,
            "ms_per_query_exact": round(exact_ms, 2),
            "by_nprobe": rows,
            "bytes_per_vector": round(shards.nbytes() / shards.ntotal, 1),
            "grown_rebuilt": again.rebuilt,
            "grown_refresh_s": round(again.seconds, 1),
        }
        lib.close()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
