"""One contract, run against every registered encoder family (random weights, small models)."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.errors import ModelError, NoTextTowerError
from vsearch.models import FrameEncoder, create_encoder, list_encoders
from vsearch.types import ModelInfo


def test_every_family_has_a_contract_spec(contract_specs):
    assert sorted(contract_specs) == list_encoders()


@pytest.fixture(scope="module")
def frames(encoder, make_frames):
    return make_frames(5, encoder.info.input_size, seed=1)


class TestEncoderContract:
    def test_is_a_frame_encoder_with_provenance(self, encoder):
        assert isinstance(encoder, FrameEncoder)
        info = encoder.info
        assert isinstance(info, ModelInfo)
        assert info.family in list_encoders()
        assert info.spec.startswith(f"{info.family}:{info.arch}")
        assert info.dim > 0 and info.input_size > 0 and info.preprocess
        assert ModelInfo.from_dict(info.to_dict()) == info
        assert encoder.device == "cpu"
        assert encoder.batch_size == 32 or info.family == "colorgrid"

    def test_float32_rows_of_declared_dim_and_unit_norm(self, encoder, frames):
        vecs = encoder.encode_images(frames)
        assert vecs.dtype == np.float32
        assert vecs.shape == (len(frames), encoder.info.dim)
        assert np.all(np.isfinite(vecs))
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)

    def test_deterministic(self, encoder, frames):
        np.testing.assert_array_equal(encoder.encode_images(frames), encoder.encode_images(frames))

    def test_independent_of_batching(self, encoder, frames):
        together = encoder.encode_images(frames)
        one_by_one = np.concatenate([encoder.encode_images(f[None]) for f in frames])
        np.testing.assert_allclose(together, one_by_one, atol=1e-4)
        encoder.batch_size, old = 2, encoder.batch_size
        try:
            np.testing.assert_allclose(encoder.encode_images(frames), together, atol=1e-4)
        finally:
            encoder.batch_size = old

    def test_different_images_give_different_vectors(self, encoder, frames):
        vecs = encoder.encode_images(frames)
        sims = vecs @ vecs.T
        off_diagonal = sims[~np.eye(len(frames), dtype=bool)]
        assert off_diagonal.max() < 0.9999

    def test_empty_batch(self, encoder):
        s = encoder.info.input_size
        out = encoder.encode_images(np.zeros((0, s, s, 3), np.uint8))
        assert out.shape == (0, encoder.info.dim) and out.dtype == np.float32

    def test_wrong_frame_shape_or_dtype_is_a_model_error(self, encoder):
        s = encoder.info.input_size
        with pytest.raises(ModelError, match=str(s)):
            encoder.encode_images(np.zeros((2, s + 1, s, 3), np.uint8))
        with pytest.raises(ModelError):
            encoder.encode_images(np.zeros((2, s, s, 3), np.float32))

    def test_text_tower_or_no_text_tower_error(self, encoder):
        texts = ["a red car", "a dog on a beach", "a red car"]
        if not encoder.info.has_text:
            with pytest.raises(NoTextTowerError, match=encoder.info.family):
                encoder.encode_texts(texts)
            return
        vecs = encoder.encode_texts(texts)
        assert vecs.dtype == np.float32 and vecs.shape == (3, encoder.info.dim)
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(vecs[0], vecs[2])
        assert vecs[0] @ vecs[1] < 0.9999
        assert encoder.encode_texts([]).shape == (0, encoder.info.dim)


def test_random_weights_are_reproducible_across_instances(encoder, make_frames):
    a, b = encoder, create_encoder(encoder.info.spec, device="cpu")
    frames = make_frames(2, a.info.input_size, seed=3)
    np.testing.assert_allclose(a.encode_images(frames), b.encode_images(frames), atol=1e-6)
    assert a.info == b.info


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("spec", ["open_clip:vsearch-tiny@random", "torchvision:resnet18@random"])
def test_cuda_autocast_matches_cpu(spec, make_frames):
    cpu, gpu = create_encoder(spec, device="cpu"), create_encoder(spec, device="cuda")
    assert gpu.device == "cuda" and gpu.batch_size == 64
    frames = make_frames(5, cpu.info.input_size, seed=4)
    out = gpu.encode_images(frames)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-3)
    assert np.all(np.sum(out * cpu.encode_images(frames), axis=1) > 0.99)
    np.testing.assert_array_equal(out, gpu.encode_images(frames))
