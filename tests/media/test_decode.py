from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from helpers import H264, lavfi, make_video
from PIL import Image

from vsearch.errors import DecodeError, UsageError
from vsearch.media import extract_thumbnail, iter_frames, probe_video
from vsearch.media.informative import informative_mask
from vsearch.types import Framing


def colour(image: np.ndarray) -> str:
    """The dominant primary of a frame: 'red', 'green' or 'blue'."""
    return ("red", "green", "blue")[int(np.argmax(image.reshape(-1, 3).mean(axis=0)))]


def collect(path, **kwargs):
    batches = list(iter_frames(path, **kwargs))
    times = np.concatenate([b.times for b in batches])
    images = np.concatenate([b.images for b in batches])
    informative = np.concatenate([b.informative for b in batches])
    return batches, times, images, informative


def cuts_colour(t: float) -> str:
    return "red" if t < 2 else "green" if t < 4 else "blue"


@pytest.mark.parametrize("fps", [1.0, 2.0])
def test_known_cuts(clips, fps: float) -> None:
    _, times, images, _ = collect(clips.cuts(), fps=fps, size=32)
    assert times.dtype == np.float64 and images.dtype == np.uint8
    assert images.shape[1:] == (32, 32, 3)
    np.testing.assert_allclose(times, np.arange(0, 6, 1 / fps), atol=1e-3)
    assert [colour(im) for im in images] == [cuts_colour(t) for t in times]


def test_fractional_fps(clips) -> None:
    _, times, images, _ = collect(clips.cuts(), fps=0.4, size=16)
    np.testing.assert_allclose(times, [0.0, 2.5, 5.0], atol=1e-3)
    assert [colour(im) for im in images] == ["red", "green", "blue"]


def test_variable_frame_rate_times_are_true_pts(clips) -> None:
    # red frames at 0, 1/3, 2/3 ... 5/3 s; green at 25 fps from 2.0 s; blue at 2 fps from 3.0 s
    _, times, images, _ = collect(clips.vfr(), fps=2.0, size=16)
    assert [colour(im) for im in images] == [cuts_vfr(t) for t in times]
    assert np.all(np.diff(times) > 0)
    # the 0.5-1.0 s bucket holds no frame before 2/3 s: the time reported is that frame's
    assert any(abs(t - 2 / 3) < 2e-3 for t in times)
    first_green = times[[colour(im) == "green" for im in images]][0]
    assert first_green == pytest.approx(2.0, abs=1e-3)
    first_blue = times[[colour(im) == "blue" for im in images]][0]
    assert first_blue == pytest.approx(3.0, abs=1e-3)
    # every time is inside its own 1/fps bucket
    buckets = np.floor(times * 2 + 1e-6)
    assert len(set(buckets)) == len(buckets)


def cuts_vfr(t: float) -> str:
    return "red" if t < 2 else "green" if t < 3 else "blue"


def test_rotation_output_is_upright(clips) -> None:
    path = clips.rotated()
    info = probe_video(path)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (48, 64)
    thumb = extract_thumbnail(path, 0.2, width=48)
    assert thumb[:2] == b"\xff\xd8"
    # stored: white left half. Turned clockwise by 90 the left goes to the top, by 270 to the
    # bottom. Frames are square crops of the upright 48x64 picture, so test the full frame.
    _, _, images, _ = collect(path, fps=1.0, size=48, info=info)
    luma = images[0].mean(axis=(1, 2))
    top, bottom = luma[:16].mean(), luma[-16:].mean()
    assert abs(images[0][:, :24].mean() - images[0][:, 24:].mean()) < 30  # not left/right
    if info.rotation == 90:
        assert top > 200 and bottom < 50
    else:
        assert bottom > 200 and top < 50


def test_start_end_seek(clips) -> None:
    _, times, images, _ = collect(clips.cuts(), fps=1.0, size=16, start=2.5, end=5.0)
    np.testing.assert_allclose(times, [2.5, 3.5, 4.5], atol=1e-3)
    assert [colour(im) for im in images] == ["green", "green", "blue"]
    _, times, _, _ = collect(clips.cuts(), fps=2.0, size=16, start=4.0)
    np.testing.assert_allclose(times, [4.0, 4.5, 5.0, 5.5], atol=1e-3)


def test_bad_time_range(clips) -> None:
    with pytest.raises(UsageError):
        list(iter_frames(clips.cuts(), start=3, end=2))
    with pytest.raises(UsageError):
        list(iter_frames(clips.cuts(), start=60))
    with pytest.raises(UsageError):
        list(iter_frames(clips.cuts(), fps=0))


def test_chunking(clips) -> None:
    batches, times, _, _ = collect(clips.testsrc(), fps=5.0, size=16, chunk=7)
    assert [len(b) for b in batches] == [7, 7, 7, 4]
    for b in batches:
        assert b.images.shape == (len(b), 16, 16, 3)
        assert b.informative.shape == (len(b),) and b.informative.dtype == bool
    np.testing.assert_allclose(times, np.arange(25) / 5, atol=1e-3)


def test_informative_black_vs_testsrc(clips) -> None:
    _, times, _, informative = collect(clips.black_then_testsrc(), fps=2.0, size=64)
    assert not informative[times < 2].any()
    assert informative[times >= 2].all()
    _, _, _, flags = collect(clips.cuts(), fps=1.0, size=32)
    assert not flags.any()  # single-colour frames


def test_informative_rule() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    card = np.zeros((1, 32, 32, 3), np.uint8)
    card[:, 14:16, 4:28] = 255  # a line of white "text" on black: a title card
    half = np.zeros((1, 32, 32, 3), np.uint8)
    half[:, :, 16:] = 255
    fade = np.tile(np.linspace(100, 110, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))[None]
    mask = informative_mask(np.concatenate([noise, card, half, fade]))
    assert mask.tolist() == [True, False, True, False]


def test_early_close_kills_ffmpeg(clips, monkeypatch) -> None:
    import vsearch.media.decode as decode

    started = []
    real = decode._start_ffmpeg

    def spy(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(decode, "_start_ffmpeg", spy)
    gen = iter_frames(clips.testsrc(), fps=10.0, size=16, chunk=2)
    next(gen)
    gen.close()
    assert started[0].poll() is not None


def test_thumbnail(clips) -> None:
    jpeg = extract_thumbnail(clips.cuts(), 3.0, width=32)
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    from io import BytesIO

    from PIL import Image

    img = Image.open(BytesIO(jpeg))
    assert img.size == (32, 24)
    assert colour(np.asarray(img.convert("RGB"))) == "green"
    with pytest.raises(DecodeError, match="no frame at 60 s"):
        extract_thumbnail(clips.cuts(), 60.0)
    # A segment end rounded up past the last frame shows the frame just before it.
    duration = probe_video(clips.cuts()).duration
    tail = Image.open(BytesIO(extract_thumbnail(clips.cuts(), duration + 0.2, width=32)))
    assert colour(np.asarray(tail.convert("RGB"))) == "blue"


def test_anamorphic_pixels_are_made_square(tmp_path) -> None:
    # Stored 64x64 with SAR 2:1, i.e. displayed 128x64; white only in the leftmost quarter.
    src = "color=c=black:s=64x64:r=10:d=1"
    vf = "drawbox=x=0:y=0:w=16:h=64:color=white:t=fill,setsar=2/1"
    path = lavfi(tmp_path / "anamorphic.mp4", src, "-vf", vf, *H264)
    frame = next(iter_frames(path, fps=1, size=32, framing=Framing.CENTRE)).images[0]
    # Displayed 128x64 -> 64x32 -> centre crop x 16..48: the white quarter (x < 16) is cut
    # away. Read as square pixels it would be x < 8 of the 32x32 frame.
    assert frame.max() < 100
    # The full framing squeezes the whole picture: the white quarter is the left quarter.
    full = next(iter_frames(path, fps=1, size=32)).images[0].astype(float).mean(axis=(0, 2))
    assert full[:6].min() > 200 and full[10:].max() < 50
    thumb = Image.open(BytesIO(extract_thumbnail(path, 0.0, width=64)))
    assert thumb.size == (64, 32)


def _spy_sparse(monkeypatch) -> list[bool]:
    import vsearch.media.decode as decode

    runs: list[bool] = []
    real = decode._start_ffmpeg

    def spy(*args, **kwargs):
        runs.append(args[7] if len(args) > 7 else kwargs.get("sparse", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(decode, "_start_ffmpeg", spy)
    return runs


def test_sparse_sampling_skips_non_reference_frames(tmp_path, monkeypatch) -> None:
    # 25 frames/s h264 with B-frames (x264's defaults)
    video = make_video(tmp_path / "b.mp4", "testsrc2=size=160x120:rate=25", 4)
    runs = _spy_sparse(monkeypatch)
    _, sparse, _, _ = collect(video, fps=1.0, size=32)
    _, dense, _, _ = collect(video, fps=25.0, size=32)
    assert runs == [True, False]  # 1 in 25 frames is sparse, every frame is not
    # every second still gives one sample, at most a frame or two into its bucket
    assert len(sparse) == 4
    assert np.all(sparse >= np.arange(4) - 1e-6) and np.all(sparse < np.arange(4) + 3 / 25)
    assert len(dense) == 100


def test_sparse_sampling_falls_back_when_no_frame_is_a_reference(tmp_path, monkeypatch) -> None:
    import vsearch.media.decode as decode

    video = make_video(tmp_path / "b.mp4", "testsrc2=size=160x120:rate=25", 3)
    monkeypatch.setattr(decode, "_SPARSE_SKIP", "all")  # as if every frame were skipped
    runs = _spy_sparse(monkeypatch)
    _, times, _, _ = collect(video, fps=1.0, size=32)
    assert runs == [True, False]
    np.testing.assert_allclose(times, [0.0, 1.0, 2.0], atol=1e-3)


@pytest.mark.parametrize("width", [41, 42])  # odd and even pixel counts
def test_row_median_is_numpys_median(width) -> None:
    from vsearch.media.informative import luma, row_median

    rng = np.random.default_rng(width)
    frames = rng.integers(0, 256, (6, 37, width, 3), dtype=np.uint8)
    frames[1] = 9  # one flat frame
    frames[2, :, : width // 2] = 200  # half one colour
    grey = luma(frames).reshape(6, -1)
    expected = np.median(grey, axis=1)
    got = row_median(grey)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
