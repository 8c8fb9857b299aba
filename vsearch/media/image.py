"""``load_image``: a query image as the same upright, square, RGB array the frames are."""

from __future__ import annotations

import os

import numpy as np

from vsearch.errors import ImageError
from vsearch.media.files import describe_os_error

# Query images vsearch reads (by extension, when a folder of queries is walked).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def load_image(path: str | os.PathLike[str], size: int = 224) -> np.ndarray:
    """uint8 (size, size, 3): EXIF-transposed, RGB, short side resized to ``size`` (bicubic),
    centre-cropped, the same geometry ``iter_frames`` gives video frames."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = os.fspath(path)
    try:
        with Image.open(name) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when large
            upright = ImageOps.exif_transpose(img)
            rgb = upright.convert("RGB")
    except UnidentifiedImageError:
        raise ImageError(name, "not an image, or an unsupported image format") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(name, f"image too large ({exc})") from None
    except OSError as exc:
        cause = describe_os_error(exc) if exc.errno else f"cannot decode image ({exc})"
        raise ImageError(name, cause) from None
    return _resize_crop(rgb, size)


def _resize_crop(img, size: int) -> np.ndarray:
    from PIL import Image

    width, height = img.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    cropped = resized.crop((left, top, left + size, top + size))
    return np.asarray(cropped, dtype=np.uint8).copy()
