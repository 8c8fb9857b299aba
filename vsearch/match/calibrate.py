"""Score calibration against a background set (pure numpy).

A raw cosine similarity means different things for different frames: a dark, textureless
or very common-looking frame is similar to everything, a distinctive one to nothing. With a
background set (descriptors of still images that are copies of nothing in any library,
shipped with the model), each frame gets an *offset*: the mean similarity of its
``k`` nearest background descriptors, i.e. how similar it typically is to footage it is
surely not a copy of. A pair's calibrated score is its similarity minus the mean of the two
offsets; 0 then means "as similar as unrelated footage", whatever the query (the score
normalisation of SSCD and of the Video Similarity Challenge baselines).
"""

from __future__ import annotations

import numpy as np

DEFAULT_K = 10  # background neighbours averaged into an offset
BLOCK = 4096  # rows per matrix product (bounded memory on large libraries)


def background_offsets(
    vectors: np.ndarray, background: np.ndarray | None, k: int = DEFAULT_K
) -> np.ndarray:
    """Per row: the mean of its ``k`` highest similarities to the background (0 if none)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    out = np.zeros(len(vectors), dtype=np.float32)
    if background is None or len(background) == 0 or len(vectors) == 0:
        return out
    k = max(1, min(int(k), len(background)))
    bg = np.asarray(background, dtype=np.float32)
    for lo in range(0, len(vectors), BLOCK):
        sims = vectors[lo : lo + BLOCK] @ bg.T
        top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
        out[lo : lo + BLOCK] = top.mean(axis=1)
    return out


def calibrate_matrix(sims: np.ndarray, offsets_a: np.ndarray, offsets_b: np.ndarray) -> np.ndarray:
    """Calibrated similarities of an (A, B) matrix given both sides' offsets."""
    return sims - 0.5 * (offsets_a[:, None] + offsets_b[None, :])


def calibrate_pairs(sims: np.ndarray, offsets_a: np.ndarray, offsets_b: np.ndarray) -> np.ndarray:
    """Calibrated similarities of aligned pairs (sims[i] is between a[i] and b[i])."""
    return sims - 0.5 * (offsets_a + offsets_b)
