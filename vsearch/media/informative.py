"""Which sampled frames carry content: black, blank, single-colour and title-card frames do not."""

from __future__ import annotations

import numpy as np

FLAT_FRACTION = 0.90  # a frame is flat when this share of pixels ...
FLAT_TOLERANCE = 12  # ... lies within this many grey levels of the median luma
MIN_LUMA_STD = 6.0  # or when the luma standard deviation is below this


BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # luma weights of R, G, B


def luma(images: np.ndarray) -> np.ndarray:
    """float32 BT.601 luma of uint8 RGB pixels (..., 3) -> (...)."""
    return images.astype(np.float32) @ BT601


def informative_mask(images: np.ndarray) -> np.ndarray:
    """Bool (N,): False for frames that must never create matches.

    A frame is uninformative when at least 90% of its pixels lie within +-12 grey levels of the
    median luma (black, white, one flat colour, a title card: text on a plain background), or
    when the luma standard deviation is below 6 (a faint gradient or fade). Luma is BT.601.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        return np.zeros((images.shape[0] if images.ndim else 0,), dtype=bool)
    grey = luma(images).reshape(images.shape[0], -1)
    median = row_median(grey)[:, None]
    near = (np.abs(grey - median) <= FLAT_TOLERANCE).mean(axis=1)
    flat = (near >= FLAT_FRACTION) | (grey.std(axis=1) < MIN_LUMA_STD)
    return ~flat


def row_median(x: np.ndarray) -> np.ndarray:
    """``np.median(x, axis=1)`` of a 2-D array without NaNs, from one partition: the middle
    value, and for an even length the largest value below it (``np.median`` partitions
    around three places, one of them to look for NaNs: up to 12x slower on noisy frames)."""
    n = x.shape[1]
    k = n // 2
    part = np.partition(x, k, axis=1)
    if n % 2:
        return part[:, k]
    return (part[:, :k].max(axis=1) + part[:, k]) / 2
