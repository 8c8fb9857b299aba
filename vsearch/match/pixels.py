"""Where a picture sits in a frame, pixel by pixel (pure numpy): the re-timing of image queries.

A global descriptor says which video a picture comes from, but not always which moment:
footage whose look barely changes (a slow zoom, a pattern evolving, a test card with a
counter) gives many moments with nearly the same descriptor. Pixels tell them apart. The
query picture, in grey and at a few scales, is slid over a frame (normalised
cross-correlation, computed with FFTs) and the best placement is the frame's score: 1 when
the picture is exactly a part of the frame, whatever its brightness and contrast; near 0
when nothing lines up (a rotated or heavily altered copy, where the descriptor's choice of
moment stands).
"""

from __future__ import annotations

import numpy as np

from vsearch.media.framing import summed_area, window_sums
from vsearch.media.informative import luma

PIXEL_SIDE = 128  # frames and the query are compared at this size (the framed square)
PIXEL_SCALES = (1.0, 0.9, 0.8, 0.7)  # the query as the whole frame, or a crop of it


def grey(images: np.ndarray, side: int = PIXEL_SIDE) -> np.ndarray:
    """uint8 RGB (..., H, W, 3) square images as float32 luma (..., side, side)."""
    from PIL import Image

    images = np.asarray(images)
    if images.shape[-3:-1] != (side, side):
        flat = images.reshape(-1, *images.shape[-3:])
        images = np.stack(
            [
                np.asarray(Image.fromarray(im).resize((side, side), Image.Resampling.BILINEAR))
                for im in flat
            ]
        ).reshape(*images.shape[:-3], side, side, 3)
    return luma(images)


def templates(query: np.ndarray, scales: tuple[float, ...] = PIXEL_SCALES) -> list[np.ndarray]:
    """A grey (side, side) query at each scale, mean removed and unit norm."""
    side = query.shape[0]
    out = []
    for s in scales:
        n = max(8, int(round(side * s)))
        t = query if n == side else _resize(query, n)
        t = t.astype(np.float32) - t.mean()
        norm = float(np.sqrt((t * t).sum()))
        out.append(t / norm if norm > 1e-6 else t)
    return out


def _resize(plane: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(
        Image.fromarray(plane.astype(np.float32)).resize((side, side), Image.Resampling.BILINEAR)
    )


def placement_score(frame: np.ndarray, tmpls: list[np.ndarray]) -> float:
    """Best normalised cross-correlation of any template at any place inside ``frame``."""
    frame = np.asarray(frame, dtype=np.float64)
    height, width = frame.shape
    spectrum = np.fft.rfft2(frame)
    sums, squares = summed_area(frame), summed_area(frame * frame)
    best = -1.0
    for t in tmpls:
        h, w = t.shape
        if h > height or w > width or not t.any():
            continue
        corr = np.fft.irfft2(spectrum * np.fft.rfft2(t[::-1, ::-1], s=frame.shape), s=frame.shape)
        corr = corr[h - 1 :, w - 1 :]  # placements with the template wholly inside the frame
        s1, s2 = window_sums(sums, h, w), window_sums(squares, h, w)
        spread = np.sqrt(np.maximum(s2 - s1 * s1 / (h * w), 1e-6))
        best = max(best, float((corr / spread).max()))
    return best


__all__ = ["PIXEL_SCALES", "PIXEL_SIDE", "grey", "placement_score", "templates"]
