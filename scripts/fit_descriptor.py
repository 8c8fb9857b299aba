#!/usr/bin/env python3
"""Fit a backbone's frame descriptor on still images: pooling, PCA-whitening, background set.

Input: a folder of still photos (``scripts/still_images.py``), never video, so that every
video benchmark stays unseen. The images are split by a seeded hash of their names into

* *fit* images: each seen as several views (the whole image, random crops down to 30% of its
  area, mirror images) whose pooled features give the PCA-whitening;
* *background* images: one descriptor each, shipped with the model; scores are calibrated
  against them (how similar a frame is to footage it is surely not a copy of);
* *check* images: a copy-detection check on stills that neither of the above saw. Each check
  image is altered (crop, mirror, recolour, grey+noise, blur, rotation, letterbox,
  picture-in-picture, JPEG) and must find its source among all check images; the script
  prints micro-AP and recall@1 of raw and calibrated scores for every pooling and width asked
  for, and saves the one named by --pooling/--dim.

Usage (any variant, e.g. a fine-tuned backbone: --model effnet:lite0@/path/tuned.pth):

    python scripts/fit_descriptor.py data/stills --model effnet:lite0 \
        [--dim 256] [--pooling gem] [--compare] [--out vsearch/models/descriptors/NAME.npz]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from sample_data import PHOTOS  # noqa: E402
from still_images import list_images  # noqa: E402

from vsearch.media.image import frame_picture  # noqa: E402
from vsearch.models.descriptor import POOLINGS  # noqa: E402
from vsearch.types import DEFAULT_FRAMING, Framing  # noqa: E402

# Photos that scripts/sample_data.py films into benchmark videos (bench_dups, bench_classify):
# never fitted on, so that those benchmarks stay unseen.
BENCHMARK_PHOTOS = {Path(p).stem for p in PHOTOS}

DESCRIPTOR_DIR = ROOT / "vsearch" / "models" / "descriptors"


def split_of(path: Path, seed: int) -> str:
    """'fit' (70%), 'background' (15%) or 'check' (15%), stable for a file name and seed.

    The background set is the fit and background images (one whole view each): none of
    them is a copy of anything a library holds, which is all a background must be."""
    h = int(hashlib.sha256(f"{seed}:{path.parent.name}/{path.name}".encode()).hexdigest(), 16)
    r = (h % 1000) / 1000
    return "fit" if r < 0.70 else ("background" if r < 0.85 else "check")


def square(im, size: int, framing: str = DEFAULT_FRAMING.value):
    """What the video pipeline does to a frame in a library of ``framing``."""
    return frame_picture(im.convert("RGB"), size, framing)


def random_view(im, rng: np.random.Generator, size: int, framing: str):
    """A crop of 30-100% of the area with aspect 3:4..4:3, mirrored half the time."""
    w, h = im.size
    area = rng.uniform(0.3, 1.0) * w * h
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw, ch = min(w, int(np.sqrt(area * aspect))), min(h, int(np.sqrt(area / aspect)))
    x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    view = im.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        view = view.transpose(0)  # FLIP_LEFT_RIGHT
    return square(view, size, framing)


def altered(im, kind: str, rng: np.random.Generator, other):
    """A copy of ``im`` under one of the check's alterations (PIL in, PIL out)."""
    from PIL import Image, ImageEnhance, ImageFilter, ImageOps

    w, h = im.size
    if kind == "crop50":
        cw, ch = int(w * 0.7), int(h * 0.7)
        x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        return im.crop((x0, y0, x0 + cw, y0 + ch))
    if kind == "mirror":
        return ImageOps.mirror(im)
    if kind == "recolour":
        im = ImageEnhance.Color(im).enhance(1.6)
        return ImageEnhance.Brightness(im).enhance(0.8)
    if kind == "grey+noise":
        g = np.asarray(ImageOps.grayscale(im).convert("RGB"), dtype=np.float32)
        g = g + rng.normal(0, 12, g.shape)
        return Image.fromarray(np.clip(g, 0, 255).astype(np.uint8))
    if kind == "blur":
        return im.filter(ImageFilter.GaussianBlur(3))
    if kind == "rot90":
        return im.transpose(Image.Transpose.ROTATE_90)
    if kind == "letterbox":
        canvas = Image.new("RGB", (w, int(w * 9 / 16) if w / h < 16 / 9 else h), (0, 0, 0))
        cw, ch = canvas.size
        s = min(cw / w, ch / h) * 0.9
        small = im.resize((max(1, int(w * s)), max(1, int(h * s))))
        canvas.paste(small, ((cw - small.width) // 2, (ch - small.height) // 2))
        return canvas
    if kind == "pip":
        base = other.resize((w, h)).convert("RGB")
        small = im.resize((w // 2, h // 2))
        base.paste(small, (w // 4, h // 4))
        return base
    if kind == "jpeg":
        import io

        buf = io.BytesIO()
        im.resize((w // 3, h // 3)).save(buf, "JPEG", quality=15)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    raise ValueError(kind)


ALTERATIONS = (
    "crop50",
    "mirror",
    "recolour",
    "grey+noise",
    "blur",
    "rot90",
    "letterbox",
    "pip",
    "jpeg",
)


def micro_ap(scores: np.ndarray, correct: np.ndarray, n_positive: int) -> float:
    """Average precision of all (query, candidate) scores pooled together."""
    order = np.argsort(-scores, kind="stable")
    hits = correct[order].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / max(1, n_positive))


def evaluate(descriptor, feats, layouts, kinds, k_background: int) -> dict:
    """Copy check on stills: each altered image against all check images."""
    from vsearch.match.calibrate import background_offsets

    db = descriptor.project(feats["check"], layouts["check"])
    q = descriptor.project(feats["q"], layouts["q"])
    sims = q @ db.T
    n_q = len(q)
    truth = np.repeat(np.arange(len(db)), len(kinds))
    out = {"recall@1": float(np.mean(sims.argmax(axis=1) == truth))}
    correct = np.zeros_like(sims, dtype=bool)
    correct[np.arange(n_q), truth] = True
    top = np.argsort(-sims, axis=1)[:, :10]  # answers a search would return
    rows = np.repeat(np.arange(n_q), 10)
    out["micro-AP raw"] = micro_ap(sims[rows, top.ravel()], correct[rows, top.ravel()], n_q)
    if descriptor.background is not None:
        off_q = background_offsets(q, descriptor.background, k_background)
        off_db = background_offsets(db, descriptor.background, k_background)
        cal = sims - 0.5 * (off_q[:, None] + off_db[None, :])
        out["micro-AP calibrated"] = micro_ap(
            cal[rows, top.ravel()], correct[rows, top.ravel()], n_q
        )
        out["calibrated copies"] = np.quantile(cal[correct], [0.1, 0.25, 0.5])
        out["calibrated others"] = np.quantile(cal[~correct], [0.5, 0.9, 0.99, 0.999])
    per = {}
    for j, kind in enumerate(kinds):
        idx = np.arange(j, n_q, len(kinds))
        per[kind] = float(np.mean(sims[idx].argmax(axis=1) == truth[idx]))
    out["recall@1 by alteration"] = per
    return out


def pool_all(encoder, images: np.ndarray, poolings) -> dict[str, np.ndarray]:
    """Pooled features of each pooling from one forward pass per batch."""
    import torch

    from vsearch.models.base import cpu_threads
    from vsearch.models.descriptor import Descriptor

    pools = {p: Descriptor(in_dim=1, pooling=p) for p in poolings}
    out: dict[str, list[np.ndarray]] = {p: [] for p in poolings}
    with torch.inference_mode(), cpu_threads(encoder.device, encoder.threads):
        for lo in range(0, len(images), encoder.batch_size):
            fmap = encoder._features(encoder._to_input(images[lo : lo + encoder.batch_size]))
            for p, d in pools.items():
                out[p].append(d.pool_torch(fmap).float().cpu().numpy())
            if (lo // encoder.batch_size) % 10 == 9:
                print(f"  {lo + len(fmap)}/{len(images)} images encoded", flush=True)
    return {p: np.concatenate(v) for p, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stills", type=Path)
    parser.add_argument("--model", default="effnet:lite0")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--pooling", choices=POOLINGS, default="gem")
    parser.add_argument(
        "--layout-weight", type=float, default=0.0, help="share of the colour-layout part"
    )
    parser.add_argument("--shrink", type=float, default=0.0, help="eigenvalue shrinkage")
    parser.add_argument("--views", type=int, default=3, help="random views per fit image")
    parser.add_argument("--k-background", type=int, default=10)
    parser.add_argument("--max-images", type=int, default=0, help="0 = all")
    parser.add_argument("--compare", action="store_true", help="also evaluate the other choices")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--framing",
        choices=[f.value for f in Framing],
        default=DEFAULT_FRAMING.value,
        help="the frame geometry of the libraries the descriptor is for",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--cache", default="", help="folder to keep pooled features in")
    args = parser.parse_args()

    from PIL import Image

    from vsearch.models.descriptor import (
        Descriptor,
        fit_pca_whitening,
        layout_features,
        save_descriptor,
    )
    from vsearch.models.effnet import build_effnet_encoder
    from vsearch.models.registry import parse_spec

    family, arch, weights = parse_spec(args.model)
    if family != "effnet":
        raise SystemExit("fit_descriptor fits effnet backbones (effnet:liteN[@weights])")
    arch = arch or "lite0"
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    paths = [
        p
        for p in list_images(args.stills)
        if not (p.parent.name == "skimage" and p.stem in BENCHMARK_PHOTOS)
    ]
    if args.max_images:
        paths = [paths[i] for i in sorted(rng.permutation(len(paths))[: args.max_images])]
    splits = {p: split_of(p, args.seed) for p in paths}
    count = {s: sum(v == s for v in splits.values()) for s in ("fit", "background", "check")}
    print(f"{len(paths)} images: {count}", flush=True)

    poolings = ("gem", "gem-bands") if args.compare else (args.pooling,)
    results = {}
    saved = None
    encoder = build_effnet_encoder(arch, weights, "auto", descriptor=Descriptor(in_dim=1))
    in_dim = int(encoder.model.num_features)
    size = encoder.info.input_size
    fit, background, check, queries = [], [], [], []
    check_images = [p for p in paths if splits[p] == "check"]
    t0 = time.perf_counter()
    for path in paths:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if splits[path] == "fit":
                fit += [random_view(im, rng, size, args.framing) for _ in range(args.views)]
                fit.append(square(im, size, args.framing))
                background.append(fit[-1])
            elif splits[path] == "background":
                background.append(square(im, size, args.framing))
            else:
                check.append(square(im, size, args.framing))
                j = check_images.index(path)
                with Image.open(check_images[(j + 1) % len(check_images)]) as other:
                    other = other.convert("RGB")
                    for kind in ALTERATIONS:
                        queries.append(square(altered(im, kind, rng, other), size, args.framing))
    print(
        f"{len(fit)} fit views, {len(background)} background, {len(check)} check images x "
        f"{len(ALTERATIONS)} alterations read in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    t0 = time.perf_counter()
    what = (
        f"{encoder.info.weights}|{sorted(map(str, paths))}|{args.views}|{args.seed}|{poolings}"
        f"|{args.framing}"
    )
    key = hashlib.sha256(what.encode()).hexdigest()[:16]
    cache = Path(args.cache) / f"fit-features-{key}.npz" if args.cache else None
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            pooled = {n: {p: z[f"{n}/{p}"] for p in poolings} for n in ("fit", "bg", "check", "q")}
    else:
        pooled = {
            name: pool_all(encoder, np.stack(imgs), poolings)
            for name, imgs in (("fit", fit), ("bg", background), ("check", check), ("q", queries))
        }
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            flat = {f"{n}/{p}": a for n, d in pooled.items() for p, a in d.items()}
            np.savez(cache, **flat)
    print(f"features in {time.perf_counter() - t0:.0f} s", flush=True)
    layouts = {
        name: layout_features(np.stack(imgs))
        for name, imgs in (("bg", background), ("check", check), ("q", queries))
    }
    weights = sorted({args.layout_weight, 0.0, 0.3, 0.5}) if args.compare else [args.layout_weight]
    for pooling in poolings:
        feats = {name: by_pooling[pooling] for name, by_pooling in pooled.items()}
        base = Descriptor(in_dim=in_dim, pooling=pooling)
        dims = sorted({args.dim, 128, 256}) if args.compare else [args.dim]
        results[(pooling, "none", 0.0)] = evaluate(
            base, feats, layouts, ALTERATIONS, args.k_background
        )
        for dim, weight in ((d, w) for d in dims for w in weights):
            normalised = base.normalise_parts(feats["fit"])
            mean, projection, _values = fit_pca_whitening(normalised, dim, shrink=args.shrink)
            desc = Descriptor(
                in_dim=in_dim,
                pooling=pooling,
                mean=mean,
                projection=projection,
                layout_weight=weight,
            )
            desc = Descriptor(
                in_dim=in_dim,
                pooling=pooling,
                mean=mean,
                projection=projection,
                layout_weight=weight,
                background=desc.project(feats["bg"], layouts["bg"]),
                meta={
                    "fitted_on": f"{count['fit']} still images x {args.views + 1} views "
                    f"({args.stills.name}; scripts/still_images.py)",
                    "background_images": count["fit"] + count["background"],
                    "shrink": args.shrink,
                    "k_background": args.k_background,
                    "seed": args.seed,
                    "framing": args.framing,
                },
            )
            results[(pooling, dim, weight)] = evaluate(
                desc, feats, layouts, ALTERATIONS, args.k_background
            )
            if (pooling, dim, weight) == (args.pooling, args.dim, args.layout_weight):
                saved = (desc, encoder.info.weights)
    encoder.close()

    print("\n| pooling | dims | layout weight | recall@1 | micro-AP raw | micro-AP calibrated |")
    print("|---|---|---|---|---|---|")
    for (pooling, dim, weight), r in results.items():
        cal = r.get("micro-AP calibrated")
        print(
            f"| {pooling} | {dim} | {weight:g} | {r['recall@1']:.3f} | {r['micro-AP raw']:.3f} | "
            f"{'-' if cal is None else f'{cal:.3f}'} |"
        )
    kinds = list(next(iter(results.values()))["recall@1 by alteration"])
    print("\nrecall@1 by alteration:\n| pooling | dims | layout | " + " | ".join(kinds) + " |")
    print("|---|---|---|" + "---|" * len(kinds))
    for (pooling, dim, weight), r in results.items():
        per = r["recall@1 by alteration"]
        cells = " | ".join(f"{per[k]:.2f}" for k in kinds)
        print(f"| {pooling} | {dim} | {weight:g} | {cells} |")

    chosen = results[(args.pooling, args.dim, args.layout_weight)]
    print(
        "\ncalibrated scores of the saved descriptor on the check: copies (10/25/50%) "
        + " / ".join(f"{v:.3f}" for v in chosen["calibrated copies"])
        + "; other pairs (50/90/99/99.9%) "
        + " / ".join(f"{v:.3f}" for v in chosen["calibrated others"])
    )
    assert saved is not None
    desc, provenance = saved
    name = f"effnet-{arch}.npz" if weights in (None, "imagenet") else f"effnet-{arch}-custom.npz"
    out = args.out or DESCRIPTOR_DIR / name
    save_descriptor(out, desc, weights=provenance, arch=arch)
    print(
        f"\nsaved {out} ({out.stat().st_size / 1e6:.2f} MB: {desc.pooling}, {desc.dim} dims, "
        f"{len(desc.background)} background descriptors) for {provenance} "
        f"in {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
