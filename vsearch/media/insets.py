"""Pictures inside the picture: rectangles whose four sides stay edges while the video plays.

A copy shown small inside other footage (picture in picture, a phone filmed in a frame, a
player's window) has a border that stays put while the footage on both sides of it moves:
over the frames, the same lines are edges again and again. Per pixel, the share of frames
where the luma jumps by more than EDGE_LEVELS to the next pixel is its *persistence*; the
columns and rows with the most persistent edge pixels are the candidate sides, and a
rectangle of them scores the mean persistence along its four sides (two of them may be the
frame's own edges, for a band across the whole frame). Static patterns (a test
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
    # A side may also be the frame's own edge (-1 before the first column, the last one
    # after), where nothing can be measured: a band across the whole frame (a landscape
    # video over a blurred copy of itself in a portrait frame) has two real sides.
    xs, ys = [-1, *cols, width - 1], [-1, *rows, height - 1]
    for i, x0 in enumerate(xs):
        for x1 in xs[i + 1 :]:
            x_real = [x for x in (x0, x1) if 0 <= x < width - 1]
            if not low * width <= x1 - x0 <= (high if len(x_real) == 2 else 1.0) * width:
                continue
            for j, y0 in enumerate(ys):
                for y1 in ys[j + 1 :]:
                    y_real = [y for y in (y0, y1) if 0 <= y < height - 1]
                    if len(x_real) < 2 and len(y_real) < 2:
                        continue  # one real side per axis at most: no opposite pair
                    if not low * height <= y1 - y0 <= (high if len(y_real) == 2 else 1.0) * height:
                        continue
                    sides = [across[max(y0 + 1, 0) : y1 + 1, x].mean() for x in x_real]
                    sides += [down[y, max(x0 + 1, 0) : x1 + 1].mean() for y in y_real]
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
