from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import CODECS, X264, has_encoder, lavfi, run_ffmpeg, tone

from vsearch.errors import (
    DecodeError,
    FfmpegNotFoundError,
    MediaError,
    NotAVideoError,
    PartialDecodeError,
    UnreadableFileError,
)
from vsearch.media import check_ffmpeg, extract_thumbnail, iter_frames, probe_video, walk_videos
from vsearch.media.probe import stream_rotation


def frames_of(path, **kwargs) -> np.ndarray:
    return np.concatenate([b.times for b in iter_frames(path, size=16, **kwargs)])


def test_check_ffmpeg() -> None:
    assert check_ffmpeg().startswith("ffmpeg version ")


def test_probe_cuts(clips) -> None:
    info = probe_video(clips.cuts())
    assert info.path == str(clips.cuts())
    assert info.duration == pytest.approx(6.0, abs=0.05)
    assert info.fps == pytest.approx(10.0)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.codec == "h264" and info.nb_frames == 60
    assert not info.variable_frame_rate


def test_probe_vfr_mp4(clips) -> None:
    path = clips.make("vfr.mp4", lambda out: run_ffmpeg("-i", clips.vfr(), "-c", "copy", out))
    assert probe_video(path).variable_frame_rate


def test_rotation_rule() -> None:
    def matrix(degrees: float) -> dict:
        return {"side_data_list": [{"side_data_type": "Display Matrix", "rotation": degrees}]}

    # the display matrix angle is counter-clockwise; VideoInfo.rotation is clockwise
    assert stream_rotation(matrix(-90)) == 90
    assert stream_rotation(matrix(90)) == 270
    assert stream_rotation(matrix(180)) == 180
    assert stream_rotation(matrix(-270.0)) == 270
    assert stream_rotation({"tags": {"rotate": "90"}}) == 90
    assert stream_rotation({}) == 0


def expect(exc_type, path, match: str) -> MediaError:
    with pytest.raises(exc_type, match=match) as info:
        probe_video(path)
    err = info.value
    assert err.path == str(path)
    assert "\n" not in err.cause and len(err.cause) < 200
    return err


def test_missing_and_directory(tmp_path: Path) -> None:
    expect(UnreadableFileError, tmp_path / "missing.mp4", "no such file")
    expect(UnreadableFileError, tmp_path, "is a directory")
    with pytest.raises(UnreadableFileError):
        list(iter_frames(tmp_path / "missing.mp4"))
    with pytest.raises(UnreadableFileError):
        extract_thumbnail(tmp_path / "missing.mp4", 0)


def test_unreadable(unreadable: Path) -> None:
    expect(UnreadableFileError, unreadable, "permission denied")


def test_permission_denied_simulated(clips, monkeypatch) -> None:
    import vsearch.media.probe as probe

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(probe, "open", denied, raising=False)
    expect(UnreadableFileError, clips.cuts(), "permission denied")


def test_empty_random_text(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    expect(NotAVideoError, tmp_path / "empty.mp4", r"empty file \(0 bytes\)")
    (tmp_path / "random.mp4").write_bytes(np.random.default_rng(1).bytes(20000))
    expect(NotAVideoError, tmp_path / "random.mp4", "not a media file")
    (tmp_path / "random.bin").write_bytes(np.random.default_rng(1).bytes(20000))
    expect(NotAVideoError, tmp_path / "random.bin", "not a media file")
    (tmp_path / "text.mp4").write_text("just some notes\n" * 100)
    expect(NotAVideoError, tmp_path / "text.mp4", "not a media file")


def test_audio_only(clips) -> None:
    expect(NotAVideoError, clips.make("tone.m4a", tone), r"no video stream \(audio only\)")


def test_images(clips) -> None:
    png = clips.make("still.png", lambda out: lavfi(out, "testsrc2=s=64x48", "-frames:v", "1"))
    expect(NotAVideoError, png, "a still image")
    renamed = clips.path("still_png.mp4")
    shutil.copy(png, renamed)
    expect(NotAVideoError, renamed, "a still image")
    jpg = clips.make("still.jpg", lambda out: run_ffmpeg("-i", png, out))
    expect(NotAVideoError, jpg, "a still image")


def test_truncated_moov_missing(clips) -> None:
    data = clips.testsrc().read_bytes()  # default mp4: moov atom at the end
    path = clips.path("no_moov.mp4")
    path.write_bytes(data[: len(data) // 2])
    expect(DecodeError, path, "moov atom not found .truncated")


def test_cut_mid_stream_keeps_frames(clips) -> None:
    def build(out: Path) -> None:
        fast = clips.path("faststart.mp4")
        lavfi(fast, "testsrc2=s=128x96:r=10:d=6", *X264, "-movflags", "+faststart")
        data = fast.read_bytes()
        out.write_bytes(data[: len(data) // 2])

    path = clips.make("cut_half.mp4", build)
    info = probe_video(path)  # the moov is intact: the header still says 6 s
    kept: list[float] = []
    with pytest.raises(PartialDecodeError) as caught:  # ffmpeg itself exits 0 here
        for batch in iter_frames(path, fps=2.0, size=16, info=info):
            kept.extend(batch.times.tolist())
    assert caught.value.frames_decoded == len(kept)
    assert "kept the first" in str(caught.value) and "\n" not in caught.value.cause
    assert 0 < len(kept) < 12
    assert kept[0] == 0.0


def test_decode_garbage_with_given_info(clips, tmp_path: Path) -> None:
    fake = probe_video(clips.cuts())
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(2).bytes(5000))
    with pytest.raises(DecodeError) as info:
        list(iter_frames(path, info=fake))
    assert "\n" not in info.value.cause
    with pytest.raises(DecodeError):
        extract_thumbnail(path, 0.0)


WEIRD_NAMES = [
    "with space.mp4",
    'quote\'s "double".mp4',
    "vidéo ü 日本.mp4",
    "new\nline.mp4",
    "-starts-with-dash.mp4",
    "co:lon.mp4",
    "file:looks-like-protocol.mp4",
]


def test_weird_file_names(clips, tmp_path: Path, monkeypatch) -> None:
    for name in WEIRD_NAMES:
        shutil.copy(clips.cuts(), tmp_path / name)
    found = [p for p, err in walk_videos([tmp_path]) if err is None]
    assert sorted(os.path.basename(p) for p in found) == sorted(WEIRD_NAMES)
    monkeypatch.chdir(tmp_path)  # relative names, including the one starting with '-'
    for name in WEIRD_NAMES:
        assert probe_video(name).duration == pytest.approx(6.0, abs=0.05), name
        assert len(frames_of(name, fps=1.0)) == 6, name
        assert extract_thumbnail(name, 1.0, width=32)[:2] == b"\xff\xd8", name


@pytest.mark.parametrize(("name", "encoder", "codec"), CODECS, ids=[c[0] for c in CODECS])
def test_uncommon_codecs(clips, name: str, encoder: str, codec: tuple[str, ...]) -> None:
    if not has_encoder(encoder):
        pytest.skip(f"ffmpeg has no {encoder} encoder")
    src = "testsrc2=s=64x48:r=10:d=2"
    path = clips.make(name, lambda out: lavfi(out, src, *codec))
    info = probe_video(path)
    assert (info.width, info.height) == (64, 48)
    times = frames_of(path, fps=2.0)
    np.testing.assert_allclose(times, [0.0, 0.5, 1.0, 1.5], atol=0.02)


def test_missing_ffmpeg(clips, monkeypatch) -> None:
    import vsearch.media._ffmpeg as ff

    path = clips.cuts()
    monkeypatch.setenv("PATH", "/nonexistent")
    ff._version_line.cache_clear()
    try:
        with pytest.raises(FfmpegNotFoundError):
            check_ffmpeg()
        with pytest.raises(FfmpegNotFoundError):
            probe_video(path)
        with pytest.raises(FfmpegNotFoundError):
            extract_thumbnail(path, 0.0)
    finally:
        monkeypatch.undo()
        ff._version_line.cache_clear()
    assert subprocess.run(["ffmpeg", "-version"], capture_output=True).returncode == 0
