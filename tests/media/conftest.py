"""Tiny test videos generated with ffmpeg lavfi, once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import (
    X264,
    color_src,
    concat_sources,
    lavfi,
    skip_without_ffmpeg,
    with_display_rotation,
)

W, H, RATE = 64, 48, 10


class Clips:
    """Lazily made clips, cached by name, in one session folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def make(self, name: str, build) -> Path:
        out = self.root / name
        if not out.exists():
            build(out)
        return out

    def cuts(self) -> Path:
        """red 0-2 s, green 2-4 s, blue 4-6 s, 10 fps, h264 mp4."""
        sources = [color_src(c, 2) for c in ("red", "green", "blue")]
        return self.make("cuts.mp4", lambda out: concat_sources(out, sources, *X264))

    def vfr(self) -> Path:
        """VFR mkv: red at 3 fps for 0-2 s, green at 25 fps 2-3 s, blue at 2 fps 3-5 s."""
        sources = [color_src("red", 2, 3), color_src("green", 1, 25), color_src("blue", 2, 2)]
        return self.make(
            "vfr.mkv", lambda out: concat_sources(out, sources, *X264, "-fps_mode", "vfr")
        )

    def testsrc(self) -> Path:
        """testsrc2 (busy, informative), 5 s at 10 fps."""
        return self.make("testsrc.mp4", lambda out: lavfi(out, f"testsrc2=s={W}x{H}:r={RATE}:d=5"))

    def black_then_testsrc(self) -> Path:
        """black 0-2 s, then testsrc2 2-4 s."""
        sources = [color_src("black", 2), f"testsrc2=s={W}x{H}:r={RATE}:d=2"]
        return self.make("black_testsrc.mp4", lambda out: concat_sources(out, sources, *X264))

    def rotated(self) -> Path:
        """left half white, right half black, stored 64x48 with a 90 degree display matrix."""

        def build(out: Path) -> None:
            src = f"{color_src('black', 1)},drawbox=x=0:y=0:w={W // 2}:h={H}:color=white:t=fill"
            with_display_rotation(lavfi(self.root / "leftwhite.mp4", src), out)

        return self.make("rotated.mp4", build)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    skip_without_ffmpeg("ffprobe")
    return Clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture
def unreadable(tmp_path: Path) -> Path:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root: every file is readable")
    path = tmp_path / "locked.mp4"
    path.write_bytes(b"\0" * 100)
    path.chmod(0)
    return path
