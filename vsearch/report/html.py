"""A self-contained HTML page of duplicate matches: thumbnails embedded as base64 JPEG.

The page loads nothing from outside (no scripts, fonts, styles or images by URL), so it can
be mailed or archived. Every path and label goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import html
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vsearch.errors import StorageError, VsearchError
from vsearch.pipeline.dups import DupReport
from vsearch.progress import NullProgress, Progress
from vsearch.types import DupMatch, file_url, shown_name, timecode

log = logging.getLogger(__name__)

THUMB_WIDTH = 160
MAX_MATCHES = 500  # matches shown with thumbnails; the rest are listed without

Thumbnailer = Callable[[str, float], bytes]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#555;font-size:13px;margin-bottom:14px}
.match{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;margin:10px 0}
.head{font-size:14px;margin-bottom:6px}
.score{font-weight:bold;font-size:15px;margin-right:8px}
.exact{background:#c62828;color:#fff;border-radius:3px;padding:1px 5px;font-size:12px}
.sides{display:flex;gap:14px;flex-wrap:wrap}
.side{flex:1;min-width:300px}
.path{font-family:monospace;font-size:12px;word-break:break-all;margin:2px 0 4px}
.thumbs{display:flex;gap:4px}
figure{margin:0;text-align:center;font-size:11px;color:#666}
img{display:block;width:160px;border-radius:3px;background:#ccc}
video{display:block;width:100%;max-width:488px;margin-top:6px;background:#000}
.missing{width:160px;height:90px;display:flex;align-items:center;justify-content:center;
background:#eee;color:#999;font-size:11px}
"""


_clock = timecode
THUMB_WORKERS = 4  # parallel ffmpeg thumbnail extractions


def _default_thumbnail(path: str, t: float) -> bytes:
    from vsearch.media import extract_thumbnail

    return extract_thumbnail(path, t, width=THUMB_WIDTH)


def _moments(start: float, end: float) -> list[float]:
    """Start, middle and (just before the) end of a segment."""
    last = max(start, end - 0.25)
    return [start, (start + last) / 2.0, last]


Thumbs = dict[tuple[str, float], bytes | None]


def _figure(path: str, t: float, thumbs: Thumbs) -> str:
    label = html.escape(_clock(t))
    data = thumbs.get((path, t))
    if data is None:
        return f'<figure><div class="missing">no frame</div>{label}</figure>'
    alt = html.escape(shown_name(f"{os.path.basename(path)} at {_clock(t)}"), quote=True)
    encoded = base64.b64encode(data).decode("ascii")
    return f'<figure><img src="data:image/jpeg;base64,{encoded}" alt="{alt}">{label}</figure>'


def _side(path: str, start: float, end: float, thumbs: Thumbs | None) -> str:
    figures = "".join(_figure(path, t, thumbs) for t in _moments(start, end)) if thumbs else ""
    span = html.escape(f"{_clock(start)} - {_clock(end)} ({end - start:.1f} s)")
    at = html.escape(file_url(path, start), quote=True)
    segment = html.escape(file_url(path, start, end), quote=True)
    player = (
        f'<video controls preload="none" src="{segment}"></video>' if thumbs is not None else ""
    )
    return (
        f'<div class="side"><div class="path"><a href="{at}">{html.escape(shown_name(path))}'
        f'</a></div><div class="head">{span}</div><div class="thumbs">{figures}</div>'
        f"{player}</div>"
    )


def _thumbnails(
    matches: list[DupMatch], thumb: Thumbnailer, progress: Progress
) -> dict[tuple[str, float], bytes | None]:
    """Every thumbnail the matches show, each (file, time) extracted once, in parallel."""
    wanted: dict[tuple[str, float], None] = {}
    for m in matches:
        for path, start, end in ((m.a_path, m.a_start, m.a_end), (m.b_path, m.b_start, m.b_end)):
            for t in _moments(start, end):
                wanted[(path, t)] = None

    def one(key: tuple[str, float]) -> bytes | None:
        try:
            return thumb(*key)
        except VsearchError as exc:
            log.warning("no thumbnail of %s at %.2f s: %s", shown_name(key[0]), key[1], exc)
            return None

    found: dict[tuple[str, float], bytes | None] = {}
    progress.begin(len(wanted), "thumbnails", "thumbnails")
    try:
        with ThreadPoolExecutor(THUMB_WORKERS, thread_name_prefix="vsearch-thumb") as pool:
            for key, data in zip(wanted, pool.map(one, wanted), strict=True):
                found[key] = data
                progress.advance(1)
    finally:
        progress.end()
    return found


def _match(rank: int, m: DupMatch, thumb: Thumbs | None) -> str:
    badge = ' <span class="exact">exact copy</span>' if m.exact else ""
    frames = "" if m.exact else f" · {m.frames} matched frames"
    return (
        f'<div class="match"><div class="head">#{rank} <span class="score">{m.score:.3f}</span>'
        f"{badge}{html.escape(frames)}</div>"
        f'<div class="sides">{_side(m.a_path, m.a_start, m.a_end, thumb)}'
        f"{_side(m.b_path, m.b_start, m.b_end, thumb)}</div></div>"
    )


def render_report(
    report: DupReport,
    *,
    title: str = "vsearch: near-duplicate footage",
    thumbnail: Thumbnailer | None = None,
    progress: Progress | None = None,
) -> str:
    """The report as one HTML string (matches in the order given: best first)."""
    thumb = thumbnail or _default_thumbnail
    progress = progress or NullProgress()
    s = report.summary()
    meta = (
        f"{s['matches']} matches ({s['exact']} exact files) among {s['videos']} videos, "
        f"{s['frames']} frames; threshold {s['threshold']:g}; search: {s['search'] or '-'}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><div class='meta'>{html.escape(shown_name(meta))}</div>",
    ]
    if not report.matches:
        parts.append("<p>No duplicates found.</p>")
    thumbs = _thumbnails(report.matches[:MAX_MATCHES], thumb, progress)
    for rank, m in enumerate(report.matches, 1):
        parts.append(_match(rank, m, thumbs if rank <= MAX_MATCHES else None))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: DupReport, path: str | Path, **kwargs) -> Path:
    """Render the report and write it to ``path``."""
    out = Path(path)
    text = render_report(report, **kwargs)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


__all__ = ["render_report", "write_report"]
