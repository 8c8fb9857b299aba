"""Pictures inside the picture: rectangles whose four sides stay edges while the video plays.

A copy shown small inside other footage (picture in picture, a phone filmed in a frame, a
player's window) has a border that stays put while the footage on both sides of it moves:
over the frames, the same lines are edges again and again. Per pixel, the share of frames
where the luma jumps by more than EDGE_LEVELS to the next pixel is its *persistence*; the
columns and rows with the most persistent edge pixels are the candidate sides, and a
rectangle of them scores the mean persistence along its four sides. Static patterns (a test
card, a logo, a grid) and dense texture make persistent edges too, so these are candidates
to search with, not a verdict: a rectangle that is no inset only costs its search. (Scoring
a side against the lines two pixels either side of it, to cancel texture, lost a third of
the insets found: compression smears a border over neighbouring lines.) Pure numpy.
"""

from __future__ import annotations

import numpy as np

EDGE_LEVELS = 12.0  # luma jump between neighbouring pixels that makes an edge
INSET_MIN = 0.6  # mean persistence along the four sides of a rectangle worth searching
INSET_SIDES = (0.2, 0.85)  # an inset's width and height, as shares of the frame's
INSET_TOP = 2  # rectangles returned at most
LINES = 12  # candidate columns and rows
LINE_GAP = 4  # pixels between two candidate columns (rows)

Box = tuple[int, int, int, int]  # top, left, bottom, right (bottom/right exclusive)


def persistence(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey frames (T, H, W) -> (share of frames with an edge between x and x + 1: (H, W - 1),
    between y and y + 1: (H - 1, W))."""
    grey = np.asarray(grey, dtype=np.float32)
    across = (np.abs(np.diff(grey, axis=2)) > EDGE_LEVELS).mean(axis=0)
    down = (np.abs(np.diff(grey, axis=1)) > EDGE_LEVELS).mean(axis=0)
    return across, down


def _lines(profile: np.ndarray) -> list[int]:
    """The LINES strongest positions of ``profile``, at least LINE_GAP apart, in order."""
    picked: list[int] = []
    for i in np.argsort(-profile, kind="stable"):
        if profile[i] <= 0 or len(picked) >= LINES:
            break
        if all(abs(int(i) - j) >= LINE_GAP for j in picked):
            picked.append(int(i))
    return sorted(picked)


def find_insets(grey: np.ndarray, top: int = INSET_TOP) -> list[Box]:
    """The ``top`` best rectangles of persistent edges in grey frames (T, H, W), best first;
    rectangles overlapping a better one by more than half are left out."""
    if grey.ndim != 3 or grey.shape[0] < 2 or min(grey.shape[1:]) < 16:
        return []
    _, height, width = grey.shape
    across, down = persistence(grey)
    cols, rows = _lines(across.sum(axis=0)), _lines(down.sum(axis=1))
    low, high = INSET_SIDES
    scored: list[tuple[float, Box]] = []
    for i, x0 in enumerate(cols):
        for x1 in cols[i + 1 :]:
            if not low * width <= x1 - x0 <= high * width:
                continue
            for j, y0 in enumerate(rows):
                for y1 in rows[j + 1 :]:
                    if not low * height <= y1 - y0 <= high * height:
                        continue
                    sides = (
                        across[y0 + 1 : y1 + 1, x0].mean(),
                        across[y0 + 1 : y1 + 1, x1].mean(),
                        down[y0, x0 + 1 : x1 + 1].mean(),
                        down[y1, x0 + 1 : x1 + 1].mean(),
                    )
                    score = float(np.mean(sides))
                    if score >= INSET_MIN:
                        scored.append((score, (y0 + 1, x0 + 1, y1 + 1, x1 + 1)))
    scored.sort(key=lambda s: -s[0])
    out: list[Box] = []
    for _, box in scored:
        if len(out) >= top:
            break
        if all(_overlap(box, kept) <= 0.5 for kept in out):
            out.append(box)
    return out


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    h = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = h * w
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0
