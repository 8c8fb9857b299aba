"""``colorgrid``: a deterministic, download-free, numpy-only frame descriptor.

It finds exact and near copies (re-encoded, resized, brightness/contrast/gamma-shifted,
colour-cast, desaturated or horizontally mirrored footage); it is NOT semantic: it cannot tell
a cat from a dog. Hue rotations (channel swaps) and crops/shifts of more than a few percent
are out of its reach.

Input: uint8 RGB (N, 64, 64, 3). Three parts, each zero-meaned and L2-normalised, then
weighted, concatenated and L2-normalised again (dim 128):

* luma layout (64): 8x8 grid of mean luma, standardised per frame (mean 0, std 1) so that
  brightness and contrast changes cancel;
* chroma layout (32): 4x4 grid of two opponent colours (R-G, (R+G)/2-B), minus the frame's
  mean colour (a global cast or white-balance shift cancels), scaled by the frame's chroma
  spread (so saturation changes cancel), with a floor so grey frames stay near zero;
* edge orientation (32): magnitude-weighted histogram of 8 unsigned gradient orientations
  (central differences on the 32x32 box-downsampled luma) in each of 2x2 cells, normalised
  by the total gradient magnitude and square-rooted (Hellinger).

Mirror invariance: a horizontal flip swaps column j with column W-1-j (and orientation bin k
with (8 - k) mod 8). Each part is rewritten as (a + b, |a - b|) over those mirror pairs, which
is unchanged by the swap yet keeps as many numbers as the original grid. Each half (sums,
differences) is zero-meaned on its own, so unrelated frames score near 0 (mean ~0.1 on
synthetic test frames) while copies score above ~0.95.
"""

from __future__ import annotations

import numpy as np

from vsearch.types import ModelInfo

from .base import check_images, l2_normalize, no_text_tower
from .registry import register_encoder, unknown_arch

INPUT_SIZE = 64
LUMA_GRID = 8
CHROMA_GRID = 4
GRAD_CELLS = 2
GRAD_BINS = 8
PART_WEIGHTS = (1.0, 0.5, 0.7)  # luma, chroma, gradients
CHROMA_FLOOR = 0.04  # chroma spread (0..1 scale) below which a frame counts as grey
DIM = LUMA_GRID * LUMA_GRID + 2 * CHROMA_GRID * CHROMA_GRID + GRAD_CELLS**2 * GRAD_BINS


def _grid_means(x: np.ndarray, cells: int) -> np.ndarray:
    """(N, H, W) -> (N, cells, cells) block means."""
    n, h, w = x.shape
    return x.reshape(n, cells, h // cells, cells, w // cells).mean(axis=(2, 4))


def _mirror_pairs(grid: np.ndarray, mirrored: np.ndarray | None = None) -> np.ndarray:
    """Flip-invariant rewrite of a (N, ..., W, ...) grid whose columns are axis 2 when
    ``mirrored`` is given, else the last axis: (N, 2, K) sums and absolute differences of each
    entry and its mirror image, over the left half of the columns (the rest is redundant)."""
    n = grid.shape[0]
    if mirrored is None:
        half = grid.shape[-1] // 2
        left, right = grid[..., :half], grid[..., ::-1][..., :half]
    else:
        half = grid.shape[2] // 2
        left, right = grid[:, :, :half], mirrored[:, :, :half]
    return np.stack([(left + right).reshape(n, -1), np.abs(left - right).reshape(n, -1)], 1)


def _unit(part: np.ndarray, weight: float) -> np.ndarray:
    """(N, 2, K) sums and differences -> (N, 2K): each half zero-meaned, then unit length."""
    part = (part - part.mean(axis=2, keepdims=True)).reshape(len(part), -1)
    norms = np.linalg.norm(part, axis=1, keepdims=True)
    return weight * np.where(norms > 1e-9, part / np.maximum(norms, 1e-12), 0.0)


def _luma_part(luma: np.ndarray) -> np.ndarray:
    grid = _grid_means(luma, LUMA_GRID)
    flat = grid.reshape(len(grid), -1)
    std = flat.std(axis=1).reshape(-1, 1, 1)
    grid = (grid - flat.mean(axis=1).reshape(-1, 1, 1)) / np.maximum(std, 1e-6)
    return _mirror_pairs(grid)


def _chroma_part(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    opp = np.stack([_grid_means(r - g, CHROMA_GRID), _grid_means((r + g) / 2 - b, CHROMA_GRID)], 1)
    opp -= opp.mean(axis=(2, 3), keepdims=True)
    spread = np.sqrt((opp**2).mean(axis=(1, 2, 3))).reshape(-1, 1, 1, 1)
    return _mirror_pairs(opp / np.maximum(spread, CHROMA_FLOOR))


def _gradient_part(luma: np.ndarray) -> np.ndarray:
    # on a 2x box-downsampled image: compression noise and grain average out
    luma = _grid_means(luma, luma.shape[1] // 2)
    gx = np.zeros_like(luma)
    gy = np.zeros_like(luma)
    gx[:, :, 1:-1] = luma[:, :, 2:] - luma[:, :, :-2]
    gy[:, 1:-1, :] = luma[:, 2:, :] - luma[:, :-2, :]
    mag = np.hypot(gx, gy)
    # unsigned orientation in [0, pi), bins centred on k*pi/8 (bin 0 wraps around 0 and pi).
    # A mirror maps theta -> pi - theta, i.e. bin k -> (8 - k) % 8, and 0 and pi/2 onto
    # themselves, so horizontal and vertical edges stay in their own bins.
    theta = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.floor(theta / np.pi * GRAD_BINS + 0.5).astype(np.int64) % GRAD_BINS
    n, h, w = luma.shape
    cell = (np.arange(h)[:, None] // (h // GRAD_CELLS)) * GRAD_CELLS + (
        np.arange(w)[None, :] // (w // GRAD_CELLS)
    )
    index = (np.arange(n)[:, None, None] * GRAD_CELLS**2 + cell) * GRAD_BINS + bins
    hist = np.bincount(index.ravel(), weights=mag.ravel(), minlength=n * GRAD_CELLS**2 * GRAD_BINS)
    hist = hist.reshape(n, -1) / np.maximum(mag.sum(axis=(1, 2)), 1e-6)[:, None]
    hist = np.sqrt(hist).reshape(n, GRAD_CELLS, GRAD_CELLS, GRAD_BINS)
    mirrored = hist[:, :, ::-1, :][..., (GRAD_BINS - np.arange(GRAD_BINS)) % GRAD_BINS]
    return _mirror_pairs(hist, mirrored)


def colorgrid_features(images: np.ndarray) -> np.ndarray:
    """uint8 RGB (N, 64, 64, 3) -> float32 (N, 128) L2-normalised descriptors."""
    rgb = images.astype(np.float64) / 255.0
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    parts = [_luma_part(luma), _chroma_part(rgb), _gradient_part(luma)]
    feats = np.concatenate([_unit(p, w) for p, w in zip(parts, PART_WEIGHTS, strict=True)], 1)
    # flat frames (black, single colour) have no structure: give them one fixed unit vector
    flat = np.linalg.norm(feats, axis=1) < 1e-9
    feats[flat] = 1.0
    return l2_normalize(feats)


class ColorGridEncoder:
    """The numpy ``colorgrid:v1`` encoder (see module doc)."""

    def __init__(self) -> None:
        self.info = ModelInfo(
            spec="colorgrid:v1",
            family="colorgrid",
            arch="v1",
            weights="none",
            dim=DIM,
            input_size=INPUT_SIZE,
            preprocess=f"resize-short-{INPUT_SIZE}+center-crop-{INPUT_SIZE}+colorgrid-v1",
            has_text=False,
        )
        self.device = "cpu"
        self.batch_size = 256

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images, INPUT_SIZE, self.info.spec)
        out = np.empty((images.shape[0], DIM), dtype=np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            out[start : start + self.batch_size] = colorgrid_features(
                images[start : start + self.batch_size]
            )
        return out

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        raise no_text_tower(self.info)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "ColorGridEncoder('colorgrid:v1')"


@register_encoder("colorgrid", default_arch="v1")
def build_colorgrid(arch: str, weights: str | None, device: str) -> ColorGridEncoder:
    """Device is ignored (numpy on the CPU); the only weights are none."""
    if arch != "v1":
        raise unknown_arch("colorgrid", arch, ["v1"])
    if weights not in (None, "none"):
        raise unknown_arch("colorgrid", f"{arch}@{weights}", ["v1"])
    return ColorGridEncoder()
