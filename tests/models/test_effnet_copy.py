"""effnet:lite0@copy: the copy-detection fine-tune ships in the package and loads offline."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tests.models.test_effnet import _views, textured_images
from vsearch.models import create_encoder
from vsearch.models.base import file_sha256
from vsearch.models.effnet import SHIPPED_WEIGHTS, WEIGHTS_DIR, shipped_weights

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def copy_lite0():
    encoder = create_encoder("effnet:lite0@copy", device="cpu")
    yield encoder
    encoder.close()


def test_shipped_weights_are_small_and_have_a_model_card():
    folder = resources.files("vsearch.models").joinpath(WEIGHTS_DIR)
    for name in SHIPPED_WEIGHTS.values():
        path = Path(str(folder.joinpath(name)))
        assert path.is_file() and path.stat().st_size <= 20 * 1024 * 1024
        card = path.with_suffix(".md").read_text()
        for must in ("licence", "augmentations", "steps", "images/s", "hardware"):
            assert must in card.lower()


def test_variant_provenance_and_head(copy_lite0, make_frames):
    path = shipped_weights("lite0", "copy")
    info = copy_lite0.info
    assert info.spec == "effnet:lite0@copy"
    assert info.weights == f"vsearch:{path.name} sha256:{file_sha256(path)}"
    frames = make_frames(4, 224, seed=5)
    vectors, probs = copy_lite0.encode_and_classify(frames)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors, copy_lite0.encode_images(frames))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_a_transformed_image_is_nearer_its_source(copy_lite0):
    from PIL import Image

    sources = textured_images(8, 288, seed=21)
    size = copy_lite0.info.input_size
    originals = np.stack(
        [np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC)) for f in sources]
    )
    sims = copy_lite0.encode_images(_views(sources, size)) @ copy_lite0.encode_images(originals).T
    assert np.array_equal(sims.argmax(axis=1), np.arange(len(sources)))


@pytest.fixture(scope="module")
def train_script():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_descriptor
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return train_descriptor


def test_augmentations_give_frames_of_the_training_size(train_script):
    import random

    from PIL import Image

    rng = random.Random(3)
    base = Image.fromarray(textured_images(1, 200, seed=1)[0])
    other = train_script.synthetic_image(random.Random(1))
    for _ in range(30):
        view = train_script.augment(base, rng, other, 96)
        assert view.size == (96, 96) and view.mode == "RGB"


def test_folding_the_input_normalisation_keeps_the_network(train_script):
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor(train_script.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(train_script.STD).view(1, 3, 1, 1)
    with torch.no_grad():
        want = model.forward_features((x - mean) / std)
        model.load_state_dict(train_script.fold_input_norm(model.state_dict()))
        got = model.forward_features((x - 127 / 255) / (128 / 255))
    # exact inside; the stem's zero padding differs on the border of the first feature map
    assert torch.allclose(got[..., 1:-1, 1:-1], want[..., 1:-1, 1:-1], atol=0.15)
    cos = torch.nn.functional.cosine_similarity(got.mean((2, 3)), want.mean((2, 3)))
    assert cos.min() > 0.99


@pytest.mark.slow
def test_training_runs_resumes_and_exports(train_script, tmp_path, monkeypatch):
    from PIL import Image

    stills = tmp_path / "stills"
    stills.mkdir()
    for i, img in enumerate(textured_images(6, 160, seed=4)):
        Image.fromarray(img).save(stills / f"{i:05d}.jpg")
    run, out = tmp_path / "run", tmp_path / "out" / "tuned.pth"
    args = ["train", "--images", str(stills), "--run", str(run), "--batch", "4", "--size", "64"]
    args += ["--workers", "0", "--weights", str(tmp_path / "none")]
    monkeypatch.setattr(train_script, "build_lite0", _random_lite0)
    for steps in ("2", "3"):
        monkeypatch.setattr(sys, "argv", ["train_descriptor.py", *args, "--steps", steps])
        train_script.main()
    import torch

    state = torch.load(run / "checkpoint.pt", weights_only=False)["state"]
    assert state["step"] == 3 and state["images"] == 3 * 2 * 4
    monkeypatch.setattr(
        sys, "argv", ["train_descriptor.py", "export", "--run", str(run), "--out", str(out)]
    )
    train_script.main()
    enc = create_encoder(f"effnet:lite0@{out}", device="cpu")
    assert enc.info.dim > 0


def _random_lite0(weights):
    import timm

    return timm.create_model("efficientnet_lite0", pretrained=False)
