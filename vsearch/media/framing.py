"""Frame geometry: how a video frame or a query image becomes the square the encoder sees.

Two framings, fixed per library when it is created (its vectors depend on it):

* ``full`` (new libraries): the whole picture, uniform borders (letterbox, pillarbox,
  windowbox; black or white) trimmed, squeezed to a square. Nothing at the edges is lost,
  and a copy whose aspect ratio was changed (4:3 stretched to 16:9, a letterboxed squeeze, a
  rotation) lands on the same square as its source.
* ``centre`` (libraries made before framings existed): short side resized, centre square
  cropped, borders kept.

Border detection works per frame, so a copy letterboxed for only part of its length is
trimmed where it is letterboxed. A border is a band of lines at an edge that are nearly all
one black or white colour (the edge's own colour, within ``BORDER_TOLERANCE`` levels after a
light blur, for noise and compression), matched by a band of the same colour and about the
same width at the opposite edge; thin edges (under ``MIN_BORDER`` of the side) are left
alone, and a frame that is all one colour is never trimmed.
"""

from __future__ import annotations

import numpy as np

from vsearch.errors import UsageError
from vsearch.types import Framing

BORDER_TOLERANCE = 12  # levels (0-255) a smoothed border pixel may be off the border's colour
SMOOTH = 3  # half-resolution pixels of the box blur applied before looking for borders
NEUTRAL = 40  # a border's colour is near grey: its channels differ less than this...
DARK, BRIGHT = 48, 208  # ...and it is black (at most DARK) or white (at least BRIGHT)
BORDER_SHARE = 0.96  # share of a line's pixels that must be the border colour
SUBTITLE_SHARE = 0.6  # mean share over the band mirroring a border (captions in a bar)
MIN_BORDER = 0.03  # thinner bands at an edge are kept (share of the side)
MAX_BORDER = 0.45  # at most this share of a side per border
MIN_CONTENT = 0.2  # the content left must be at least this share of each side
UNEVEN = 0.25  # two opposite bars may differ by this share of the larger one

Box = tuple[int, int, int, int]  # top, bottom, left, right (bottom/right exclusive)


def check_framing(framing: str) -> Framing:
    try:
        return Framing(framing)
    except ValueError:
        choices = ", ".join(f.value for f in Framing)
        raise UsageError(f"`framing` must be one of {choices}, got {framing!r}") from None


Run = tuple[int, np.ndarray, np.ndarray]  # border lines, share per line, edge colour


def _flat_run(lines: np.ndarray) -> Run:
    """Lines (n, length, 3) from an edge inwards -> how many of them are border, the share
    of border-coloured pixels of each line and the edge's colour.

    A coloured or mid-grey edge (a blue sky, a green field, a grey wall) is content, never a
    border."""
    edge = np.median(lines[0], axis=0)
    if float(edge.max() - edge.min()) > NEUTRAL or DARK < float(edge.mean()) < BRIGHT:
        return 0, np.zeros(len(lines)), edge
    share = (np.abs(lines - edge).max(axis=2) <= BORDER_TOLERANCE).mean(axis=1)
    flat = share >= BORDER_SHARE
    run = int(np.argmin(flat)) if not flat.all() else len(flat)
    if 0 < run < len(flat):
        run = min(run + SMOOTH // 2, len(flat))  # the blur smeared the content's first line
    return run, share, edge


def _smooth(image: np.ndarray) -> np.ndarray:
    """The image at half resolution, box-blurred over ``SMOOTH`` of those pixels (float32):
    noise and grain in a border average out."""
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    x = image[0:h:2, 0:w:2].astype(np.float32)
    x += image[1:h:2, 0:w:2]
    x += image[0:h:2, 1:w:2]
    x += image[1:h:2, 1:w:2]
    x *= 0.25
    k = SMOOTH
    pad = np.pad(x, ((k // 2, k - 1 - k // 2), (k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
    return window_sums(summed_area(pad), k, k) / (k * k)


def summed_area(x: np.ndarray) -> np.ndarray:
    """The summed-area table of ``x`` over its first two axes (further axes apart), with a
    leading row and column of zeros: (H + 1, W + 1, ...)."""
    pad = ((1, 0), (1, 0)) + ((0, 0),) * (x.ndim - 2)
    return np.pad(np.cumsum(np.cumsum(x, axis=0), axis=1), pad)


def window_sums(table: np.ndarray, h: int, w: int) -> np.ndarray:
    """From a ``summed_area`` table, the sum of every ``h`` x ``w`` window lying wholly inside
    the array it was made of: (H - h + 1, W - w + 1, ...)."""
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


def _pair(first: Run, second: Run, side: int) -> tuple[int, int]:
    """Borders at two opposite edges, or none.

    Bars come in pairs of one colour (a letterbox, a pillarbox): a band too thin to count
    is dropped, a border without one opposite (a sky, a dark wall) is content, and the
    thinner of two is widened to the other when its band is mostly border colour (captions
    in a bar).
    """
    (a, share_a, colour_a), (b, share_b, colour_b) = first, second
    least = max(1, int(np.ceil(MIN_BORDER * side)))
    if min(a, b) < least or np.abs(colour_a - colour_b).max() > BORDER_TOLERANCE:
        return 0, 0
    if a > b and share_b[:a].mean() >= SUBTITLE_SHARE:
        b = a
    elif b > a and share_a[:b].mean() >= SUBTITLE_SHARE:
        a = b
    if abs(a - b) > max(least, UNEVEN * max(a, b)):
        return 0, 0
    return a, b


def content_box(image: np.ndarray) -> Box:
    """The part of a uint8 RGB image (H, W, 3) inside its uniform borders."""
    h, w = image.shape[:2]
    if min(h, w) < 8 * SMOOTH:
        return 0, h, 0, w
    x = _smooth(image)  # half resolution
    most_h, most_w = int(MAX_BORDER * x.shape[0]), int(MAX_BORDER * x.shape[1])
    top, bottom = _pair(_flat_run(x[:most_h]), _flat_run(x[::-1][:most_h]), x.shape[0])
    left, right = _pair(
        _flat_run(x[:, :most_w].transpose(1, 0, 2)),
        _flat_run(x[:, ::-1][:, :most_w].transpose(1, 0, 2)),
        x.shape[1],
    )
    top, bottom, left, right = 2 * top, 2 * bottom, 2 * left, 2 * right
    if h - top - bottom < MIN_CONTENT * h or w - left - right < MIN_CONTENT * w:
        return 0, h, 0, w  # one colour nearly everywhere: nothing to trim to
    return top, h - bottom, left, w - right


def trim_borders(image: np.ndarray, size: int) -> np.ndarray:
    """A square ``size`` frame of the full framing -> the same with its borders trimmed (the
    content squeezed back to ``size`` x ``size``, bicubic); unchanged when it has none."""
    top, bottom, left, right = content_box(image)
    if (top, bottom, left, right) == (0, image.shape[0], 0, image.shape[1]):
        return image
    return squeeze(image[top:bottom, left:right], size)


def squeeze(picture: np.ndarray, size: int) -> np.ndarray:
    """A uint8 RGB picture (H, W, 3) squeezed to ``size`` x ``size`` (bicubic)."""
    from PIL import Image

    content = Image.fromarray(np.ascontiguousarray(picture))
    return np.array(content.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
