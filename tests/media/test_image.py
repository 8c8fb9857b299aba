from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vsearch.errors import ImageError
from vsearch.media import load_image


def left_white(width: int, height: int) -> Image.Image:
    img = Image.new("RGB", (width, height), "black")
    img.paste((255, 255, 255), (0, 0, width // 2, height))
    return img


def test_resize_and_centre_crop(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    img = Image.new("RGB", (90, 30), "red")
    img.paste((0, 0, 255), (30, 0, 60, 30))  # blue centre third
    img.save(path)
    out = load_image(path, size=30)
    assert out.shape == (30, 30, 3) and out.dtype == np.uint8
    assert out[:, 3:-3].mean(axis=(0, 1)).argmax() == 2  # only the blue centre remains


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
