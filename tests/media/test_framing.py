"""Framings: uniform bars trimmed per frame, the picture squeezed to the encoder's square;
libraries record their framing and never mix two."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import X264, lavfi, run_cli
from PIL import Image

from vsearch.errors import ModelMismatchError, UsageError
from vsearch.media import iter_frames
from vsearch.media.framing import check_framing, content_box, trim_borders
from vsearch.types import DEFAULT_FRAMING, Framing

SIZE = 224


def scene(width: int = 320, height: int = 240, seed: int = 0) -> np.ndarray:
    """A busy synthetic picture: smooth colour gradients plus blocks, content to every edge."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], -1)
    for _ in range(12):
        x0, y0 = rng.integers(0, width - 20), rng.integers(0, height - 20)
        img[y0 : y0 + 20, x0 : x0 + 30] = rng.integers(0, 256, 3)
    return img.astype(np.uint8)


def boxed(picture: np.ndarray, top: int, left: int, colour: int = 0) -> np.ndarray:
    h, w = picture.shape[:2]
    canvas = np.full((h + 2 * top, w + 2 * left, 3), colour, np.uint8)
    canvas[top : top + h, left : left + w] = picture
    return canvas


def square(image: np.ndarray, size: int = SIZE) -> np.ndarray:
    return np.array(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))


def close(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


@pytest.mark.parametrize(
    ("top", "left", "colour"),
    [(40, 0, 0), (0, 60, 0), (30, 40, 0), (0, 50, 255), (36, 0, 30)],
    ids=["letterbox", "pillarbox", "windowbox", "white pillarbox", "dark grey letterbox"],
)
def test_bars_are_trimmed_to_the_picture(top: int, left: int, colour: int) -> None:
    picture = scene()
    framed = square(boxed(picture, top, left, colour))
    t, b, lft, r = content_box(framed)
    h, w = picture.shape[0] + 2 * top, picture.shape[1] + 2 * left
    assert abs(t - top * SIZE / h) <= 2 and abs(SIZE - b - top * SIZE / h) <= 2
    assert abs(lft - left * SIZE / w) <= 2 and abs(SIZE - r - left * SIZE / w) <= 2
    assert close(trim_borders(framed, SIZE), square(picture)) < 8


def test_noise_over_the_bars_does_not_hide_them() -> None:
    framed = square(boxed(scene(), 40, 0)).astype(np.int16)
    noise = np.random.default_rng(1).uniform(-25, 25, framed.shape)
    noisy = np.clip(framed + noise, 0, 255).astype(np.uint8)
    assert content_box(noisy)[0] == pytest.approx(40 * SIZE / 320, abs=2)


def test_captions_in_one_bar_still_trim_both() -> None:
    framed = square(boxed(scene(), 40, 0))
    framed[200:212, 50:170] = 255  # white captions in the bottom bar
    top, bottom, _, _ = content_box(framed)
    assert top == pytest.approx(SIZE - bottom, abs=2) and top > 20


@pytest.mark.parametrize(
    "case",
    ["plain", "dark top only", "blue bars", "grey walls", "one colour", "uneven bars", "tiny"],
)
def test_content_is_never_trimmed(case: str) -> None:
    picture = square(scene())
    if case == "dark top only":  # a night sky is not a letterbox without a matching bar
        picture[:50] = 3
    elif case == "blue bars":  # a coloured band is content (sky, sea), not a border
        picture[:40] = picture[-40:] = (20, 60, 200)
    elif case == "grey walls":  # a flat mid-grey wall on each side of a door
        picture[:, :40] = picture[:, -40:] = 128
    elif case == "one colour":
        picture[:] = 0
    elif case == "uneven bars":  # 40 px above, 10 px below: an overlay, not a letterbox
        picture[:40] = picture[-10:] = 0
    elif case == "tiny":
        picture = square(scene(), 16)
    h, w = picture.shape[:2]
    assert content_box(picture) == (0, h, 0, w)
    assert trim_borders(picture, h) is picture


def test_framings_are_checked() -> None:
    assert check_framing("full") is Framing.FULL and check_framing("centre") is Framing.CENTRE
    with pytest.raises(UsageError, match="full, centre"):
        check_framing("center-ish")


def test_a_letterboxed_copy_decodes_to_the_frames_of_its_source(tmp_path: Path) -> None:
    src = "testsrc2=s=320x240:r=10:d=2"
    source = lavfi(tmp_path / "source.mp4", src, *X264)
    # 4:3 squashed into 2.2:1 and letterboxed back into 4:3, part of the time only
    inner = "scale=320:144,pad=320:240:0:48,setsar=1"
    graph = (
        f"{src},split[a][b];[a]trim=0:1[x];[b]trim=1:2,setpts=PTS-STARTPTS,{inner}[y];"
        "[x][y]concat=n=2:v=1"
    )
    copy = lavfi(tmp_path / "copy.mp4", graph, *X264)
    a = np.concatenate([b.images for b in iter_frames(source, fps=2, size=64)])
    b = np.concatenate([b.images for b in iter_frames(copy, fps=2, size=64)])
    assert len(a) == len(b) == 4
    assert max(close(x, y) for x, y in zip(a, b, strict=True)) < 12
    c = np.concatenate(
        [b.images for b in iter_frames(copy, fps=2, size=64, framing=Framing.CENTRE)]
    )
    assert close(a[3], c[3]) > 2 * close(a[3], b[3])  # the bars were kept there


def test_a_library_records_its_framing(settings, tmp_path: Path) -> None:
    from vsearch.pipeline.library import Library

    video = lavfi(tmp_path / "videos" / "a.mp4", "testsrc2=s=96x64:r=5:d=2", *X264)
    with Library.open(settings=settings, create=True) as lib:
        assert lib.framing is DEFAULT_FRAMING
    other = settings.with_(library=settings.library.parent / "centre")
    with Library.open(settings=other, create=True, framing="centre") as lib:
        assert lib.framing is Framing.CENTRE
        lib.index([video])
    with Library.open(settings=other) as lib:  # the default of new libraries does not apply
        assert lib.framing is Framing.CENTRE and lib.search_image is not None
    with pytest.raises(ModelMismatchError, match="framing"):
        Library.open(settings=other, framing="full")


def test_a_library_made_before_framings_keeps_the_centre_square(settings) -> None:
    import sqlite3

    from vsearch.pipeline.library import Library
    from vsearch.store.library_store import DB_NAME, FRAMING_META

    Library.open(settings=settings, create=True).close()
    with sqlite3.connect(settings.library / DB_NAME) as db:  # as an older vsearch left it
        db.execute("DELETE FROM library_meta WHERE key = ?", (FRAMING_META,))
    with Library.open(settings=settings) as lib:
        assert lib.framing is Framing.CENTRE


def test_init_says_the_framing(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "lib", "init", "--model", "colorgrid", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["framing"] == DEFAULT_FRAMING.value
    result = run_cli(tmp_path / "lib2", "init", "--model", "colorgrid", "--framing", "centre")
    assert result.exit_code == 0 and "centre framing" in result.output
    result = run_cli(tmp_path / "lib3", "init", "--framing", "sideways")
    assert result.exit_code == 2
