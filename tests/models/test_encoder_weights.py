"""Weights loading: local checkpoints, the torch hub cache, and fast offline failures."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from vsearch.errors import CheckpointError, UnknownModelError, WeightsNotFoundError
from vsearch.models import create_encoder
from vsearch.models.open_clip_encoder import find_cached_weights

TAG_SPEC = "open_clip:ViT-B-32@laion2b_s34b_b79k"


def _perturbed(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict unlike the seeded random init, so that loading it visibly changes outputs."""
    gen = torch.Generator().manual_seed(123)
    return {
        k: (v + 0.02 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v)
        for k, v in module.state_dict().items()
    }


@pytest.mark.parametrize(
    ("arch_spec", "filename"),
    [("open_clip:vsearch-tiny", "clip.pt"), ("torchvision:resnet18", "resnet18.pth")],
)
def test_local_checkpoint_loads_and_records_its_sha256(tmp_path, make_frames, arch_spec, filename):
    random_enc = create_encoder(f"{arch_spec}@random", device="cpu")
    state = _perturbed(random_enc.model)
    random_enc.model.load_state_dict(state)
    path = tmp_path / filename
    torch.save(state, path)

    enc = create_encoder(f"{arch_spec}@{path}", device="cpu")
    frames = make_frames(3, enc.info.input_size, seed=5)
    np.testing.assert_allclose(
        enc.encode_images(frames), random_enc.encode_images(frames), atol=1e-6
    )
    assert enc.info.weights.startswith("sha256:") and len(enc.info.weights) == 7 + 16
    assert enc.info.spec == f"{arch_spec}@{path}"
    assert enc.info.key() != random_enc.info.key()

    # same bytes under another name: same vector space
    copy = tmp_path / f"copy-{filename}"
    copy.write_bytes(path.read_bytes())
    assert create_encoder(f"{arch_spec}@{copy}", device="cpu").info.key() == enc.info.key()


def test_torchvision_full_classifier_state_dict_loads(tmp_path, make_frames):
    import torchvision

    with torch.random.fork_rng():
        torch.manual_seed(7)
        full = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "full.pth"
    torch.save({"state_dict": full.state_dict()}, path)  # wrapped, with its fc head

    enc = create_encoder(f"torchvision:resnet18@{path}", device="cpu")
    frames = make_frames(2, 224, seed=2)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    full.fc = torch.nn.Identity()
    with torch.no_grad():
        expected = torch.nn.functional.normalize(full((x - mean) / std), dim=-1).numpy()
    np.testing.assert_allclose(enc.encode_images(frames), expected, atol=1e-5)


@pytest.mark.parametrize("spec", ["open_clip:vsearch-tiny", "torchvision:resnet18"])
def test_wrong_checkpoint_is_a_checkpoint_error(tmp_path, spec):
    path = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="other.pt"):
        create_encoder(f"{spec}@{path}", device="cpu")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        create_encoder(f"{spec}@{garbage}", device="cpu")


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nope.pt"):
        create_encoder(f"open_clip:vsearch-tiny@{tmp_path}/nope.pt", device="cpu")


@pytest.fixture
def tag_not_cached():
    import open_clip

    if find_cached_weights(open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")):
        pytest.skip("laion2b_s34b_b79k weights are cached on this machine")


@pytest.mark.parametrize("env", ["HF_HUB_OFFLINE", "VSEARCH_OFFLINE"])
def test_missing_pretrained_weights_fail_fast_offline(monkeypatch, tag_not_cached, env):
    monkeypatch.setenv(env, "1")
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError) as err:
        create_encoder(TAG_SPEC, device="cpu")
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert "laion2b_s34b_b79k" in message
    assert "open_clip:ViT-B-32@/path/file.pt" in message and "colorgrid" in message


def test_missing_pretrained_weights_fail_fast_without_network(monkeypatch, tag_not_cached):
    import socket

    for env in ("HF_HUB_OFFLINE", "VSEARCH_OFFLINE"):
        monkeypatch.delenv(env, raising=False)

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError, match="cannot be reached"):
        create_encoder(TAG_SPEC, device="cpu")
    assert time.monotonic() - start < 5


def test_find_cached_weights_in_open_clip_url_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = {"url": "https://example.org/models/abc/vit-test.pt"}
    assert find_cached_weights(cfg) is None
    (tmp_path / ".cache" / "clip").mkdir(parents=True)
    (tmp_path / ".cache" / "clip" / "vit-test.pt").write_bytes(b"x")
    assert find_cached_weights(cfg) == str(tmp_path / ".cache" / "clip" / "vit-test.pt")


def test_open_clip_arch_without_tags_needs_explicit_weights():
    with pytest.raises(WeightsNotFoundError, match="@random"):
        create_encoder("open_clip:vsearch-tiny", device="cpu")


def test_torchvision_default_weights_from_hub_cache(monkeypatch, tmp_path, make_frames):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    expected = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    with pytest.raises(WeightsNotFoundError) as err:
        create_encoder("torchvision:resnet18", device="cpu")
    assert str(expected) in str(err.value) and url in str(err.value)

    expected.parent.mkdir(parents=True)
    random_enc = create_encoder("torchvision:resnet18@random", device="cpu")
    torch.save(random_enc.model.state_dict(), expected)
    enc = create_encoder("torchvision:resnet18", device="cpu")
    assert enc.info.weights == "IMAGENET1K_V1"
    assert enc.info.spec == "torchvision:resnet18@IMAGENET1K_V1"
    frames = make_frames(1, 224)
    np.testing.assert_allclose(enc.encode_images(frames), random_enc.encode_images(frames))


def test_unknown_torchvision_arch_error_is_unknown_model_error():
    with pytest.raises(UnknownModelError, match="resnet"):
        create_encoder("torchvision:resnt50", device="cpu")
