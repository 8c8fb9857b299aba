"""``load_image``: a query image as the same upright, square, RGB array the frames are."""

from __future__ import annotations

import os
import stat
import struct
import warnings
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import ImageError
from vsearch.media.files import describe_os_error, special_file_cause
from vsearch.media.framing import check_framing, trim_borders
from vsearch.types import DEFAULT_FRAMING, Framing

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# A query image is decoded whole (a JPEG at a reduced scale): refuse sizes whose decoding
# would take gigabytes (64 Mpx is 192 MiB as RGB) before any pixel is decoded.
MAX_IMAGE_PIXELS = 64_000_000

# Query images vsearch reads (by extension, when a folder of queries is walked).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def load_image(
    path: str | os.PathLike[str], size: int = 224, framing: str = DEFAULT_FRAMING
) -> np.ndarray:
    """uint8 (size, size, 3): EXIF-transposed, RGB, in the same ``framing`` as ``iter_frames``
    gives video frames (``full``: borders trimmed, squeezed to the square, bicubic;
    ``centre``: short side resized to ``size``, centre-cropped)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as exc:
        raise ImageError(name, describe_os_error(exc)) from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
        raise ImageError(name, special_file_cause(st))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(name) as img:
                img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when large
                width, height = img.size  # from the header: nothing decoded yet
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageError(
                        name,
                        f"image too large to decode ({width}x{height} pixels; at most "
                        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)",
                    )
                upright = ImageOps.exif_transpose(img)
                rgb = upright.convert("RGB")
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(name, "not an image, or an unsupported image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(name, f"image too large to decode ({exc})") from None
    except OSError as exc:
        cause = describe_os_error(exc) if exc.errno else f"cannot decode image ({exc})"
        raise ImageError(name, cause) from None
    except (ValueError, SyntaxError, EOFError, struct.error, MemoryError) as exc:
        # PIL's guards against oversized compressed chunks raise ValueError; broken EXIF
        # and truncated headers raise the others
        raise ImageError(name, f"cannot decode image ({exc or type(exc).__name__})") from None
    return frame_picture(rgb, size, framing)


# Formats Pillow opens that are moving pictures: treated as videos.
_MOVING_FORMATS = frozenset({"MPEG", "FLI"})


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a still image by its content (whatever its name says); False
    for anything else (a video, say). Reads the header only. Raises ImageError when the
    file cannot be read at all (missing, a folder, a FIFO...)."""
    from PIL import Image, UnidentifiedImageError

    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as exc:
        raise ImageError(name, describe_os_error(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(name, special_file_cause(st))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(name) as img:
                if img.format in _MOVING_FORMATS:
                    return False
                return not (getattr(img, "is_animated", False) and img.format != "GIF")
    except UnidentifiedImageError:
        return False
    except Image.DecompressionBombError:
        return True  # an image, too large: load_image refuses it with a clear message
    except OSError as exc:
        if exc.errno:
            raise ImageError(name, describe_os_error(exc)) from None
        return False
    except Exception:  # a header Pillow chokes on: let the video path judge the file
        return False


def frame_picture(img: PILImage, size: int, framing: str = DEFAULT_FRAMING) -> np.ndarray:
    """An RGB PIL image -> uint8 (size, size, 3) in ``framing``, the geometry ``iter_frames``
    gives video frames: ``full``, the whole picture squeezed to the square (bicubic) with
    its bars trimmed; ``centre``, short side resized to ``size`` and the centre square."""
    from PIL import Image

    if check_framing(framing) is Framing.FULL:
        squeezed = np.array(img.resize((size, size), Image.Resampling.BICUBIC), np.uint8)
        return trim_borders(squeezed, size)
    width, height = img.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    cropped = resized.crop((left, top, left + size, top + size))
    return np.asarray(cropped, dtype=np.uint8).copy()
