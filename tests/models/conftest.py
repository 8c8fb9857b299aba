"""Synthetic frames and encoder specs shared by the models tests (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest

# One small, random-weight variant of every registered family: the contract tests run on all.
CONTRACT_SPECS = {
    "colorgrid": "colorgrid",
    "effnet": "effnet:lite0@random",
    "open_clip": "open_clip:vsearch-tiny@random",
    "torchvision": "torchvision:resnet18@random",
}


def structured_frames(n: int, size: int, seed: int = 0) -> np.ndarray:
    """testsrc-like uint8 RGB frames: smooth colour fields, bars and rectangles, distinct per
    frame, with structure at several scales (random pixel noise would be too easy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = np.zeros((size, size, 3))
        for c in range(3):
            fx, fy, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.3)
            img[..., c] = 0.5 + 0.3 * np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        for _ in range(4):
            x0, y0 = rng.integers(0, size - size // 4, 2)
            w, h = rng.integers(size // 8, size // 3, 2)
            img[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 1, 3)
        bars = rng.integers(0, size - size // 8)
        img[:, bars : bars + size // 10] = rng.uniform(0, 1, 3)
        frames[i] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return frames


@pytest.fixture(scope="session")
def make_frames():
    """``make_frames(n, size, seed=0)`` -> uint8 (n, size, size, 3) structured frames."""
    return structured_frames


@pytest.fixture(scope="session")
def contract_specs() -> dict[str, str]:
    return dict(CONTRACT_SPECS)


@pytest.fixture(scope="module", params=sorted(CONTRACT_SPECS))
def encoder(request):
    """Each registered family's small random-weight encoder, on the CPU."""
    from vsearch.models import create_encoder

    enc = create_encoder(CONTRACT_SPECS[request.param], device="cpu")
    yield enc
    enc.close()
