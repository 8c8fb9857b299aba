"""Sharded IVF-PQ index: recall@10 against exact search on a synthetic set, streamed.

    nice -n 10 .venv/bin/python scripts/bench_shards.py --n 10000000 --dim 512 --shards 4

The vectors are never all in memory: shard ``s`` holds the ids of its range, generated chunk
by chunk from a seed per chunk (the same chunk always has the same vectors). Each shard
builder (one thread per shard, ``--workers`` at a time) adds its chunks to its copy of the
trained index and, in the same pass, keeps the exact top-k of every query over its range
(brute force inner products), so the ground truth costs no second pass. The exact top-k of
the shards are merged at the end and compared with the sharded search (IndexShards), the
merged index (merge_from) and, for "10@100", the true top-10 found among the first 100
answers (what re-ranking the candidates with the vectors stored in the database gives).

Data: frames of synthetic videos (see ``Synthetic``): shots whose frames lie on a short
path, as consecutive frames of footage do, and queries that are unseen frames of indexed
shots. Prints a Markdown table; peak RSS from the kernel.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import numpy as np

from vsearch.index.sharded import ShardedIndex

CHUNK = 50_000  # vectors generated at a time (a whole number of videos)
VIDEO = 1000  # frames per synthetic video
SHOT = 25  # frames per shot


class Synthetic:
    """Frames of synthetic videos: 1,000 frames per video, shots of 25 frames. A shot has a
    centre (its video's centre plus a shot offset) and a direction it drifts along, so that
    the frames of a shot lie on a short path, as the frames of real footage do, plus noise.
    Queries are new frames of indexed shots, between two sampled frames, with their own
    noise: the query-by-image case, where the neighbours are the nearby frames of one shot.
    """

    def __init__(self, dim: int, seed: int = 0):
        self.dim = dim
        self.seed = seed

    def _shots(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 1, chunk])
        videos = rng.standard_normal((CHUNK // VIDEO, self.dim), dtype=np.float32)
        offsets = rng.standard_normal((CHUNK // SHOT, self.dim), dtype=np.float32)
        centres = np.repeat(videos, VIDEO // SHOT, axis=0) + 0.8 * offsets
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        drift = rng.standard_normal((CHUNK // SHOT, self.dim), dtype=np.float32)
        drift *= 0.02 / np.linalg.norm(drift, axis=1, keepdims=True)  # per frame step
        return centres, drift

    def _frames(self, centres, drift, shot, t, rng) -> np.ndarray:
        x = centres[shot] + drift[shot] * t[:, None]
        x += rng.standard_normal(x.shape, dtype=np.float32) * (0.02 / np.sqrt(self.dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def chunk(self, number: int, n: int = CHUNK) -> np.ndarray:
        centres, drift = self._shots(number)
        rng = np.random.default_rng([self.seed, 2, number])
        i = np.arange(CHUNK)
        return self._frames(centres, drift, i // SHOT, (i % SHOT).astype(np.float32), rng)[:n]

    def queries(self, n: int, chunks: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 3])
        out = np.empty((n, self.dim), np.float32)
        for q in range(n):
            centres, drift = self._shots(int(rng.integers(chunks)))
            shot = np.array([rng.integers(len(centres))])
            t = np.array([rng.uniform(0, SHOT - 1)], np.float32)
            out[q] = self._frames(centres, drift, shot, t, rng)[0]
        return out

    def sample(self, n: int, chunks: int) -> np.ndarray:
        """Training vectors: whole chunks spread over the id range."""
        picks = np.linspace(0, chunks - 1, max(1, n // CHUNK)).astype(int)
        rng = np.random.default_rng([self.seed, 4])
        rows = np.concatenate([self.chunk(int(c)) for c in picks])
        return rows[rng.choice(len(rows), size=min(n, len(rows)), replace=False)]


def topk_merge(scores, ids, new_scores, new_ids, k):
    s = np.concatenate([scores, new_scores], axis=1)
    i = np.concatenate([ids, new_ids], axis=1)
    order = np.argsort(-s, axis=1)[:, :k]
    return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


def recall(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    hits = sum(
        len(set(f.tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / (k * len(truth))


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--factory", default="IVF4096_HNSW32,PQ64")
    ap.add_argument("--train", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    ap.add_argument("--out", type=Path, default=None, help="save the index in this folder")
    args = ap.parse_args()

    import faiss

    faiss.omp_set_num_threads(max(1, 2 // args.workers))
    data = Synthetic(args.dim)
    chunks = -(-args.n // CHUNK)
    queries = data.queries(args.queries, chunks)
    per_shard = -(-args.n // args.shards)
    index = ShardedIndex(dim=args.dim, factory=args.factory, shard_size=per_shard)
    t0 = time.perf_counter()
    index.train(data.sample(args.train, chunks))
    train_s = time.perf_counter() - t0
    print(f"trained {args.factory} on {args.train} vectors in {train_s:.0f} s", flush=True)

    k_truth = 10
    truths: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def source(number: int):
        lo, hi = number * per_shard, min(args.n, (number + 1) * per_shard)
        scores = np.full((len(queries), k_truth), -np.inf, np.float32)
        ids = np.full((len(queries), k_truth), -1, np.int64)
        for c in range(lo // CHUNK, (hi - 1) // CHUNK + 1):
            start, stop = max(lo, c * CHUNK), min(hi, (c + 1) * CHUNK)
            x = data.chunk(c, CHUNK)[start - c * CHUNK : stop - c * CHUNK]
            chunk_ids = np.arange(start, stop, dtype=np.int64)
            sims = queries @ x.T
            part = np.argpartition(-sims, k_truth, axis=1)[:, :k_truth]
            scores, ids = topk_merge(
                scores, ids, np.take_along_axis(sims, part, 1), chunk_ids[part], k_truth
            )
            yield chunk_ids, x
            if (c - lo // CHUNK) % 40 == 0:
                print(
                    f"  shard {number}: {stop - lo}/{hi - lo}, rss {rss_gib():.2f} GiB", flush=True
                )
        truths[number] = (scores, ids)

    t0 = time.perf_counter()
    index.build_shards(
        {s: (lambda s=s: source(s)) for s in range(args.shards)}, workers=args.workers
    )
    build_s = time.perf_counter() - t0
    scores = np.full((len(queries), k_truth), -np.inf, np.float32)
    truth = np.full((len(queries), k_truth), -1, np.int64)
    for s_scores, s_ids in truths.values():
        scores, truth = topk_merge(scores, truth, s_scores, s_ids, k_truth)
    print(
        f"built {args.shards} shards ({index.ntotal} vectors) and exact top-10 in "
        f"{build_s:.0f} s, rss {rss_gib():.2f} GiB",
        flush=True,
    )

    faiss.omp_set_num_threads(2)
    nbytes = index.nbytes()
    merged = index.merged()
    rows = []
    for nprobe in args.nprobe:
        index.nprobe = nprobe
        searcher = index.searcher()
        t0 = time.perf_counter()
        _, found = searcher.search(queries, 100)
        shard_s = time.perf_counter() - t0
        faiss.extract_index_ivf(merged).nprobe = nprobe
        t0 = time.perf_counter()
        _, found_m = merged.search(queries, 10)
        merged_s = time.perf_counter() - t0
        rows.append(
            (
                nprobe,
                recall(found[:, :10], truth),
                recall(found_m, truth),
                recall(found, truth),
                1000 * shard_s / len(queries),
                1000 * merged_s / len(queries),
            )
        )

    # Incremental: 1% more vectors land in the last shard; only that shard is built again.
    grown = args.n + args.n // 100
    new_ids = np.arange(grown, dtype=np.int64)
    stale = index.stale_shards(new_ids)
    t0 = time.perf_counter()
    args.n = grown
    index.build_shards({s: (lambda s=s: source(s)) for s in stale}, workers=args.workers)
    rebuild_s = time.perf_counter() - t0
    assert index.stale_shards(new_ids) == []

    print()
    print(
        f"Date {time.strftime('%Y-%m-%d')}, machine {platform.machine()} "
        f"{faiss.omp_get_max_threads()} threads; n={args.n - args.n // 101:,} dim={args.dim} "
        f"factory {args.factory}, {args.shards} shards built {args.workers} at a time, "
        f"trained on {args.train:,}, {args.queries} queries"
    )
    print(
        f"train {train_s:.0f} s; build + exact ground truth {build_s:.0f} s; "
        f"index {nbytes / (grown - grown // 101):.1f} bytes/vector serialised "
        f"({nbytes / 2**30:.2f} GiB); RAM per 10^9 vectors ~ "
        f"{nbytes / (grown - grown // 101) * 1e9 / 2**30:.0f} GiB; peak RSS {rss_gib():.2f} GiB"
    )
    print(
        f"incremental: +1% vectors -> stale shards {stale} of {len(index.shards)}, rebuilt "
        f"in {rebuild_s:.0f} s vs {build_s:.0f} s for all"
    )
    print()
    print(
        "| nprobe | recall@10 (IndexShards) | recall@10 (merged) | 10@100 | ms/query "
        "(shards) | ms/query (merged) |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| {} | {:.3f} | {:.3f} | {:.3f} | {:.2f} | {:.2f} |".format(*row))
    if args.out:
        index.save(args.out)


if __name__ == "__main__":
    main()
