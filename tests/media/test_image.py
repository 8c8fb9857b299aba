from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vsearch.errors import ImageError
from vsearch.media import load_image
from vsearch.types import Framing


def left_white(width: int, height: int) -> Image.Image:
    img = Image.new("RGB", (width, height), "black")
    img.paste((255, 255, 255), (0, 0, width // 2, height))
    return img


def test_resize_and_centre_crop(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    img = Image.new("RGB", (90, 30), "red")
    img.paste((0, 0, 255), (30, 0, 60, 30))  # blue centre third
    img.save(path)
    out = load_image(path, size=30, framing=Framing.CENTRE)
    assert out.shape == (30, 30, 3) and out.dtype == np.uint8
    assert out[:, 3:-3].mean(axis=(0, 1)).argmax() == 2  # only the blue centre remains


def test_full_framing_squeezes_the_whole_picture(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    img = Image.new("RGB", (90, 30), "red")
    img.paste((0, 0, 255), (30, 0, 60, 30))  # blue centre third
    img.save(path)
    out = load_image(path, size=30)  # the default framing of new libraries
    assert out.shape == (30, 30, 3) and out.dtype == np.uint8
    thirds = [out[:, i * 10 + 2 : i * 10 + 8].mean(axis=(0, 1)).argmax() for i in range(3)]
    assert thirds == [0, 2, 0]  # red, blue, red: nothing cut away


def test_full_framing_trims_a_letterbox(tmp_path: Path) -> None:
    plain, boxed = tmp_path / "plain.png", tmp_path / "boxed.png"
    picture = left_white(120, 90)
    picture.paste((200, 30, 30), (60, 45, 120, 90))  # a red quarter, bottom right
    picture.save(plain)
    canvas = Image.new("RGB", (160, 160), "black")  # 4:3 inside a square, black bars
    canvas.paste(picture.resize((160, 120)), (0, 20))
    canvas.save(boxed)
    a = load_image(plain, size=64).astype(float)
    b = load_image(boxed, size=64).astype(float)
    assert np.abs(a - b).mean() < 6  # the bars are gone: the same square
    centre = load_image(boxed, size=64, framing=Framing.CENTRE).astype(float)
    assert np.abs(a - centre).mean() > 20


def test_exif_orientation_and_modes(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    left_white(60, 40).save(path, exif=exif, quality=95)
    out = load_image(path, size=32).astype(float).mean(axis=2)
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # left half ends up on top
    rgba = tmp_path / "alpha.png"
    Image.new("RGBA", (20, 50), (0, 255, 0, 128)).save(rgba)
    grey = tmp_path / "grey.png"
    Image.new("L", (50, 20), 99).save(grey)
    assert load_image(rgba, size=16).shape == (16, 16, 3)
    assert load_image(grey, size=16)[0, 0].tolist() == [99, 99, 99]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "notes.jpg")
    good = tmp_path / "good.jpg"
    left_white(200, 200).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ImageError) as caught:
        load_image(cut)
    assert caught.value.path == str(cut)
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
