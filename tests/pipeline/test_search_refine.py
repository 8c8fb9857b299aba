"""Image queries are timed to the best frame, not the nearest sampled one."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import frame_image, make_video

from vsearch.pipeline.search import REFINE_MAX_FRAMES


@pytest.fixture()
def sweep(tmp_path) -> Path:
    # 25 frames/s, every frame different: a bright bar sweeps across a dark background, so
    # the frame nearest in time to the query frame is also the nearest in colour layout.
    return make_video(
        tmp_path / "v" / "sweep.mp4",
        "color=c=0x202020:s=128x96:r=25:d=4[b];color=c=0xf0c020:s=16x96:r=25:d=4[f];"
        "[b][f]overlay=x='t*28':y=0",
        4,
    )


def test_image_query_time_is_the_best_frame_between_samples(library, sweep, tmp_path):
    library.index([sweep.parent])  # 1 frame/s: samples at 0, 1, 2, 3 s
    query = frame_image(sweep, tmp_path / "q.png", number=40)  # 1.6 s: between two samples
    sampled = library.search_image(query, k=1, refine=0)[0]
    assert sampled.time == pytest.approx(2.0, abs=0.05)  # the nearest sample
    hit = library.search_image(query, k=1)[0]
    assert hit.path == str(sweep)
    assert hit.time == pytest.approx(1.6, abs=0.041)  # the frame itself, +-1 frame
    assert (hit.score, hit.frame_id) == (sampled.score, sampled.frame_id)  # only time moves


def test_refine_is_bounded_and_skips_raw_frame_hits(library, sweep, tmp_path, monkeypatch):
    import vsearch.media as media

    library.index([sweep.parent])
    query = frame_image(sweep, tmp_path / "q.png", number=40)
    decoded: list[int] = []
    real = media.iter_frames

    def counting(*args, **kwargs):
        for batch in real(*args, **kwargs):
            decoded.append(len(batch.times))
            yield batch

    monkeypatch.setattr(media, "iter_frames", counting)
    library.search_image(query, k=1)
    assert 0 < sum(decoded) <= REFINE_MAX_FRAMES
    decoded.clear()
    library.search_image(query, k=3, frames=True)
    assert decoded == []


def test_refine_keeps_the_sampled_time_when_the_file_is_gone(library, sweep, tmp_path):
    library.index([sweep.parent])
    query = frame_image(sweep, tmp_path / "q.png", number=40)
    sampled = library.search_image(query, k=1, refine=0)[0]
    sweep.unlink()
    hit = library.search_image(query, k=1)[0]
    assert (hit.time, hit.score) == (sampled.time, sampled.score)
