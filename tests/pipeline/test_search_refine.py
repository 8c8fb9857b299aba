"""Image queries are timed to the best frame, not the nearest sampled one."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import frame_image, make_video, run_ffmpeg

from vsearch.pipeline.search import (
    MOMENT_GAP,
    REFINE_MAX_FRAMES,
    REFINE_MOMENTS,
    REFINE_WINDOWS,
    _windows,
)


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


@pytest.fixture()
def noise(tmp_path) -> Path:
    # Coarse grey noise drawn anew every second: to a colour layout every second looks
    # alike, while the pixels of each differ.
    return make_video(
        tmp_path / "v" / "noise.mp4",
        "color=c=gray:s=64x48:r=1:d=8,noise=alls=90:allf=t+u,scale=128:96:flags=neighbor,fps=10",
        8,
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
    # the windows around the best moments, and the sampled frames of the moments compared
    bound = REFINE_WINDOWS * REFINE_MAX_FRAMES + (REFINE_MOMENTS + 1) * (MOMENT_GAP + 1)
    assert 0 < sum(decoded) <= bound
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


def test_moment_chosen_by_pixels_where_the_descriptor_cannot_tell(
    library, tmp_path, monkeypatch, noise
):
    import vsearch.pipeline.search as search

    library.index([noise.parent])
    query = tmp_path / "q.png"  # 5.3 s, cropped to 80% around its centre
    run_ffmpeg("-ss", "5.3", "-i", noise, "-frames:v", "1", "-vf", "crop=iw*0.8:ih*0.8", query)
    hit = library.search_image(query, k=1)[0]
    assert hit.path == str(noise)
    assert 4.95 <= hit.time < 6.0  # the second whose noise it is
    monkeypatch.setattr(search, "PIXEL_MIN", 2.0)  # pixels never decide: the descriptor does
    assert not 4.95 <= library.search_image(query, k=1)[0].time < 6.0


def test_pixels_break_only_near_ties_of_the_descriptor():
    from vsearch.pipeline.search import (
        PIXEL_MIN,
        TIE_MARGIN,
        VERIFIED_MIN,
        _break_ties_by_pixels,
    )
    from vsearch.types import FrameHit

    def hit(name: str, score: float) -> FrameHit:
        return FrameHit(path=name, time=0.0, score=score, video_id=0, frame_id=0)

    nowhere, placed = PIXEL_MIN - 0.1, VERIFIED_MIN
    a, b, c = hit("a", 0.64), hit("b", 0.64 - TIE_MARGIN / 2), hit("c", 0.64 - TIE_MARGIN * 0.9)

    def order(*done):
        return [h.path for h, _ in _break_ties_by_pixels(list(done))]

    assert order((a, nowhere), (b, placed), (c, nowhere)) == ["b", "a", "c"]
    assert order((a, nowhere), (b, nowhere), (c, placed)) == ["c", "a", "b"]  # both within
    assert order((a, PIXEL_MIN), (b, placed)) == ["a", "b"]  # a's pixels were found too
    assert order((a, nowhere), (hit("far", 0.64 - 2 * TIE_MARGIN), placed)) == ["a", "far"]
    assert order((a, nowhere), (b, VERIFIED_MIN - 0.01)) == ["a", "b"]


def test_the_frames_around_the_runner_up_moments_are_searched_too(
    library, sweep, tmp_path, monkeypatch
):
    import vsearch.pipeline.search as search

    library.index([sweep.parent])
    query = frame_image(sweep, tmp_path / "q.png", number=40)  # 1.6 s
    # The best-placed sample lies on the wrong side of the query's frame (moving footage):
    # 3 s (its window is 2-4 s) narrowly ahead of 1 s (0-2 s, which holds 1.6 s).
    monkeypatch.setattr(search, "_rank_moments", lambda *a: [(3.0, 0.9), (1.0, 0.85)])
    assert library.search_image(query, k=1)[0].time == pytest.approx(1.6, abs=0.041)
    monkeypatch.setattr(search, "REFINE_WINDOWS", 1)
    monkeypatch.setattr(search, "SCAN_MAX_FRAMES", 0)  # and no search of the whole video
    assert library.search_image(query, k=1)[0].time >= 1.95  # the first window only


def test_refine_windows_are_one_step_around_each_moment_and_merged():
    assert _windows([3.0, 1.0], 1.0, 10.0) == [(0.0, 4.0)]
    assert _windows([9.5, 1.0, 5.0], 1.0, 10.0) == [(0.0, 2.0), (4.0, 6.0), (8.5, 10.0)]
    assert _windows([0.0], 0.5, 0.0) == [(0.0, 0.5)]  # unknown duration: not clipped


def test_a_short_video_is_searched_whole_when_its_windows_hold_no_frame_like_the_query(
    library, sweep, tmp_path, monkeypatch
):
    """Footage that changes faster than the sampling places alike at every sample, so the
    windows may all miss the query's frame: a short video is then searched whole."""
    import vsearch.pipeline.search as search

    library.index([sweep.parent])
    query = frame_image(sweep, tmp_path / "q.png", number=40)  # 1.6 s
    monkeypatch.setattr(search, "_rank_moments", lambda *a: [(3.0, 0.9)])  # window 2-4 s
    monkeypatch.setattr(search, "VERIFIED_MIN", -1.0)  # the window's best counts as near
    # the sweep's mirror image is its frame 0.84 s later, inside the window: upright only
    monkeypatch.setattr(search, "MIRRORED", False)
    assert library.search_image(query, k=1)[0].time == pytest.approx(1.6, abs=0.041)
    monkeypatch.setattr(search, "SCAN_MAX_FRAMES", 99)  # 4 s at 25 frames/s: too long
    assert library.search_image(query, k=1)[0].time >= 1.95


def test_a_hit_holding_the_query_goes_first_when_the_hits_above_hold_it_nowhere(
    library, sweep, tmp_path
):
    """Another video of the same kind can score a little above the query's own by
    descriptor; when its pixels hold the query nowhere, a hit just below that holds them
    goes first. One further below than VERIFY_MARGIN stays where it is."""
    from dataclasses import replace

    from vsearch.media import load_image
    from vsearch.pipeline.search import VERIFY_MARGIN, hits_wanted, refine_hits

    make_video(sweep.parent / "noise.mp4", "color=c=gray:s=128x96:r=25:d=4,noise=alls=60:allf=t", 4)
    library.index([sweep.parent])
    query = frame_image(sweep, tmp_path / "q.png", number=40)  # 1.6 s of the sweep
    hits = library.search_image(query, k=2, refine=0)
    own = next(h for h in hits if h.path == str(sweep))
    other = next(h for h in hits if h.path != str(sweep))
    store = library.store
    pixels = load_image(query, size=store.model_info.input_size, framing=store.framing)
    vector = store.encoder.encode_images(pixels[None])[0]

    def order(own_score: float) -> list[str]:
        ranked = [replace(other, score=0.6), replace(own, score=own_score)]
        return [h.path for h in refine_hits(store, vector, ranked, top=1, pixels=pixels)]

    assert order(0.6 - VERIFY_MARGIN / 2) == [str(sweep), other.path]
    assert order(0.6 - VERIFY_MARGIN * 2) == [other.path, str(sweep)]
    assert hits_wanted(5, frames=False, refine=3) > 5
    assert hits_wanted(5, frames=True, refine=3) == hits_wanted(5, frames=False, refine=0) == 5


def test_a_mirrored_picture_is_found_and_timed_by_its_mirrored_view(
    library, tmp_path, monkeypatch, noise
):
    """A flipped screenshot is still a frame of the video: the query is also placed (and,
    with an encoder that is not flip-invariant, searched) mirrored."""
    import numpy as np

    import vsearch.pipeline.search as search
    from vsearch.match.pixels import grey, placement_score, templates
    from vsearch.media import load_image

    library.index([noise.parent])
    query = tmp_path / "q.png"  # 5.3 s, mirrored, cropped to 80% around its centre
    run_ffmpeg(
        "-ss", "5.3", "-i", noise, "-frames:v", "1", "-vf", "hflip,crop=iw*0.8:ih*0.8", query
    )  # fmt: skip
    hit = library.search_image(query, k=1)[0]
    assert hit.path == str(noise)
    assert 4.95 <= hit.time < 6.0

    store = library.store
    pixels = load_image(query, size=store.model_info.input_size, framing=store.framing)
    frame = frame_image(noise, tmp_path / "f.png", number=53)
    own = grey(load_image(frame, size=store.model_info.input_size, framing=store.framing))
    assert placement_score(own, templates(grey(pixels))) < search.PIXEL_MIN  # as it is
    assert placement_score(own, templates(grey(pixels[:, ::-1]))) > search.VERIFIED_MIN
    # colorgrid is flip-invariant: one view; a picture whose mirror differs has two
    assert search.picture_views(store, pixels[None])[0].shape == (1, store.model_info.dim)

    class Sided:  # an encoder that tells a picture from its mirror
        info = store.encoder.info

        def encode_images(self, images):
            return images[:, :, :4, 0].reshape(len(images), -1).astype(np.float32)

    monkeypatch.setattr(type(store), "encoder", property(lambda self: Sided()))
    views = search.picture_views(store, np.stack([pixels, pixels]))
    assert len(views) == 2 and all(v.shape[0] == 2 for v in views)
    assert np.array_equal(views[0][1], Sided().encode_images(pixels[None, :, ::-1])[0])


def test_the_views_of_a_query_merge_into_each_videos_best_hit():
    from vsearch.pipeline.search import merge_views
    from vsearch.types import FrameHit

    def hit(video: int, frame: int, score: float) -> FrameHit:
        return FrameHit(path=f"{video}.mp4", time=0.0, score=score, video_id=video, frame_id=frame)

    plain = [hit(1, 10, 0.9), hit(2, 20, 0.5)]
    mirrored = [hit(2, 21, 0.8), hit(3, 30, 0.4), hit(1, 11, 0.3)]
    merged = merge_views([plain, mirrored], 5, frames=False)
    assert [(h.video_id, h.frame_id) for h in merged] == [(1, 10), (2, 21), (3, 30)]
    assert len(merge_views([plain, mirrored], 2, frames=False)) == 2
    by_frame = merge_views([plain, mirrored], 5, frames=True)
    assert [h.frame_id for h in by_frame] == [10, 21, 20, 30, 11]


def test_a_mirrored_placement_counts_less_than_an_upright_one():
    """Footage with symmetric patterns holds the mirror image of one frame at another
    moment: where the picture lines up upright, that placement wins a tie."""
    import numpy as np

    from vsearch.match.pixels import placement_score, templates
    from vsearch.pipeline.search import MIRROR_MARGIN, Templates

    rng = np.random.default_rng(0)
    frame = rng.normal(size=(64, 64)).astype(np.float32)
    picture = frame[:, ::-1]  # the frame, flipped
    both = Templates(templates(picture), templates(picture[:, ::-1]))
    exact = placement_score(frame, templates(frame))
    assert placement_score(frame, both.upright) < 0.5  # upright it lines up nowhere
    assert both.place(frame) == pytest.approx(exact - MIRROR_MARGIN, abs=1e-6)
    assert Templates(templates(picture)).place(frame) < 0.5  # not placed mirrored
    assert both.place(picture) == pytest.approx(exact, abs=1e-6)  # upright: no margin


def test_a_picture_on_its_side_is_found_and_timed_by_its_turned_view(library, tmp_path, noise):
    """A screenshot turned a quarter (or upside down) is still a frame of the video: it is
    searched and placed turned back, the one way that fits the library."""
    import numpy as np

    import vsearch.pipeline.search as search
    from vsearch.media import load_image
    from vsearch.pipeline.turns import turned

    library.index([noise.parent])
    store = library.store
    for name, vf in (("side", "transpose=clock"), ("upside-down", "vflip")):
        query = tmp_path / f"{name}.png"
        run_ffmpeg("-ss", "5.3", "-i", noise, "-frames:v", "1", "-vf", vf, query)
        hit = library.search_image(query, k=1)[0]
        assert hit.path == str(noise)
        assert 4.95 <= hit.time < 6.0, name
        pixels = load_image(query, size=store.model_info.input_size, framing=store.framing)
        plain = search.picture_views(store, pixels[None])[0]
        hits = search.search_vectors(store, plain, k=3)[0]
        views, hits, turn = search.with_turn(store, pixels, plain, hits, 3)
        assert turn is not None and len(views) == 2  # colorgrid: one plain view, one turned
        assert any(np.array_equal(turn, turned(pixels[None], way)[0]) for way in range(6))
    # a picture as it is keeps its views and is not turned
    upright = tmp_path / "upright.png"
    run_ffmpeg("-ss", "5.3", "-i", noise, "-frames:v", "1", upright)
    pixels = load_image(upright, size=store.model_info.input_size, framing=store.framing)
    plain = search.picture_views(store, pixels[None])[0]
    hits = search.search_vectors(store, plain, k=3)[0]
    views, kept, turn = search.with_turn(store, pixels, plain, hits, 3)
    assert turn is None and np.array_equal(views, plain) and kept == hits


def test_a_turn_the_pixels_do_not_confirm_is_dropped(library, tmp_path, monkeypatch, noise):
    """A picture that fits the library a little better turned by chance (footage that looks
    alike every way up) keeps its upright hits when the turned pixels line up nowhere."""
    import numpy as np

    import vsearch.pipeline.search as search
    import vsearch.pipeline.turns as turns
    from vsearch.media import load_image

    library.index([noise.parent])
    store = library.store
    query = tmp_path / "upright.png"
    run_ffmpeg("-ss", "5.3", "-i", noise, "-frames:v", "1", query)
    pixels = load_image(query, size=store.model_info.input_size, framing=store.framing)
    plain = search.picture_views(store, pixels[None])[0]
    hits = search.search_vectors(store, plain, k=3)[0]
    # every turned way judged to fit far better: only the pixels can say no
    monkeypatch.setattr(turns, "TURN_MARGIN", -10.0)
    views, kept, turn = search.with_turn(store, pixels, plain, hits, 3)
    assert turn is None and kept == hits and np.array_equal(views, plain)
