"""colorgrid finds copies: invariant to mirroring and photometric edits, not to content."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.models import colorgrid_features, create_encoder


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("colorgrid")


def _cos(encoder, a: np.ndarray, b: np.ndarray) -> float:
    va, vb = encoder.encode_images(np.stack([a, b]))
    return float(va @ vb)


def _edit(x: np.ndarray, gain, offset: float) -> np.ndarray:
    return np.clip(x.astype(np.float64) * gain + offset, 0, 255).astype(np.uint8)


def test_info(encoder):
    info = encoder.info
    assert (info.family, info.arch, info.weights, info.dim, info.input_size) == (
        "colorgrid",
        "v1",
        "none",
        128,
        64,
    )
    assert not info.has_text


def test_horizontal_flip_gives_the_same_vector(encoder, make_frames):
    for x in make_frames(8, 64, seed=11):
        assert _cos(encoder, x, x[:, ::-1]) > 0.999


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("darker, less contrast", lambda x: _edit(x, 0.7, 40)),
        ("brighter, more contrast", lambda x: _edit(x, 1.3, -30)),
        ("gamma", lambda x: (255 * (x / 255.0) ** 0.7).astype(np.uint8)),
        ("warm colour cast", lambda x: _edit(x, np.array([1.1, 0.95, 0.8]), 0)),
        (
            "greyscale",
            lambda x: np.repeat((x @ [0.299, 0.587, 0.114]).astype(np.uint8)[..., None], 3, -1),
        ),
        (
            "re-encoding noise",
            lambda x: _edit(x + np.random.default_rng(0).normal(0, 6, x.shape), 1, 0),
        ),
        ("flipped and brighter", lambda x: _edit(x[:, ::-1], 1.2, 10)),
    ],
)
def test_copies_stay_close(encoder, make_frames, name, edit):
    for x in make_frames(6, 64, seed=12):
        assert _cos(encoder, x, edit(x)) > 0.9, name


def test_different_frames_are_clearly_apart(encoder, make_frames):
    vecs = encoder.encode_images(make_frames(30, 64, seed=13))
    sims = (vecs @ vecs.T)[~np.eye(30, dtype=bool)]
    assert sims.mean() < 0.3
    assert sims.max() < 0.85


def test_flat_frames_share_one_unit_vector(encoder):
    flat = np.stack([np.full((64, 64, 3), v, np.uint8) for v in (0, 128, 255)])
    vecs = encoder.encode_images(flat)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vecs, vecs[[0, 0, 0]], atol=1e-6)


def test_features_function_matches_encoder(encoder, make_frames):
    frames = make_frames(3, 64, seed=14)
    np.testing.assert_array_equal(colorgrid_features(frames), encoder.encode_images(frames))


def test_uses_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, vsearch.models as m\n"
        "m.create_encoder('colorgrid').encode_images(np.zeros((1, 64, 64, 3), np.uint8))\n"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
