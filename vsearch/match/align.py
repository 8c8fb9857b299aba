"""Temporal alignment: turn frame-level matches into matched segment pairs.

A query (or library video) A and a library video B are compared through *hits*: pairs of
frames (i in A, j in B) with their similarity, from a k-NN search or a similarity matrix.
Copies show up as chains of hits that move forward in both videos at a steady speed (the
idea of the temporal networks used in copy detection). ``chain_segments`` finds the best
such chains by dynamic programming over the hits sorted by time:

    best[b] = gain(b) + max(0, max over a before b: best[a])

where a may precede b when both times increase, the speed ratio (dt_B / dt_A) lies within
[1/max_speed, max_speed] and the gap is at most ``max_gap`` seconds, and gain = sim - bias.
Chains are taken best first; hits used by a chain are not reused, so each answer is a
distinct segment pair. Pure numpy, O(hits x hits within the gap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """A matched pair of segments: [a_start, a_end) in A and [b_start, b_end) in B."""

    a_start: float
    a_end: float
    b_start: float
    b_end: float
    score: float  # mean similarity of the chained frames
    frames: int  # number of chained frame pairs
    speed: float  # (b_end - b_start) / (a_end - a_start)


def hits_from_matrix(sim: np.ndarray, threshold: float, top: int = 5) -> np.ndarray:
    """Hits (i, j, s) from a dense similarity matrix: each row's ``top`` best above threshold."""
    if sim.size == 0:
        return np.zeros((0, 3))
    top = min(top, sim.shape[1])
    cols = np.argpartition(-sim, top - 1, axis=1)[:, :top]
    rows = np.repeat(np.arange(sim.shape[0]), top)
    cols = cols.ravel()
    vals = sim[rows, cols]
    keep = vals >= threshold
    return np.stack([rows[keep], cols[keep], vals[keep]], axis=1)


def chain_segments(
    hits: np.ndarray,
    times_a: np.ndarray,
    times_b: np.ndarray,
    *,
    step: float,
    bias: float,
    max_speed: float = 2.0,
    max_gap: float | None = None,
    min_frames: int = 2,
    max_segments: int = 10,
) -> list[Segment]:
    """Best chains of ``hits`` (rows of i, j, sim) as segments; see the module docstring.

    ``step`` is the sampling interval in seconds (segments end one step after their last
    frame); ``bias`` is subtracted from each similarity so that weak hits cost more than
    they add; ``max_gap`` defaults to 3 steps.
    """
    if len(hits) == 0:
        return []
    max_gap = max_gap if max_gap is not None else 3.0 * step
    hits = np.asarray(hits, dtype=np.float64)
    order = np.lexsort((hits[:, 1], hits[:, 0]))
    hits = hits[order]
    ia = hits[:, 0].astype(np.int64)
    jb = hits[:, 1].astype(np.int64)
    ta = times_a[ia]
    tb = times_b[jb]
    gain = hits[:, 2] - bias
    n = len(hits)
    best = gain.copy()
    prev = np.full(n, -1, dtype=np.int64)
    lo = 0
    tol = 1e-6
    for b in range(n):
        while ta[b] - ta[lo] > max_gap + tol:
            lo += 1
        if lo >= b:
            continue
        cand = np.arange(lo, b)
        dta = ta[b] - ta[cand]
        dtb = tb[b] - tb[cand]
        ok = (dta > tol) & (dtb > tol) & (dtb <= max_gap + tol)
        ok &= (dtb <= max_speed * dta + step * 0.51) & (dta <= max_speed * dtb + step * 0.51)
        if not ok.any():
            continue
        cand = cand[ok]
        k = cand[np.argmax(best[cand])]
        if best[k] > 0:
            best[b] = gain[b] + best[k]
            prev[b] = k
    used = np.zeros(n, dtype=bool)
    segments: list[Segment] = []
    for end in np.argsort(-best):
        if len(segments) >= max_segments or best[end] <= 0:
            break
        if used[end]:
            continue
        chain = []
        node = end
        while node >= 0 and not used[node]:
            chain.append(node)
            node = prev[node]
        if node >= 0:  # the tail of a chain already reported: not a match of its own
            used[chain] = True
            continue
        chain.reverse()
        if len(chain) < min_frames:
            continue
        used[chain] = True
        a0, a1 = ta[chain[0]], ta[chain[-1]] + step
        b0, b1 = tb[chain[0]], tb[chain[-1]] + step
        if any(_overlaps(s, a0, a1, b0, b1) for s in segments):
            continue
        segments.append(
            Segment(
                a_start=float(a0),
                a_end=float(a1),
                b_start=float(b0),
                b_end=float(b1),
                score=float(hits[chain, 2].mean()),
                frames=len(chain),
                speed=float((b1 - b0) / max(a1 - a0, 1e-9)),
            )
        )
    return segments


def _overlaps(s: Segment, a0: float, a1: float, b0: float, b1: float) -> bool:
    """True when a new chain mostly repeats an existing segment in both videos."""
    over_a = min(s.a_end, a1) - max(s.a_start, a0)
    over_b = min(s.b_end, b1) - max(s.b_start, b0)
    return over_a > 0.5 * (a1 - a0) and over_b > 0.5 * (b1 - b0)


def segment_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0
