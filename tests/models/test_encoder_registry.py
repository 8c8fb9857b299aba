"""Spec parsing, the factory's errors, and the lazy-import promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vsearch.errors import ModelError, UnknownModelError, UsageError
from vsearch.models import (
    DEFAULT_ENCODER,
    create_encoder,
    list_encoders,
    parse_spec,
    register_encoder,
)


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("colorgrid", ("colorgrid", None, None)),
        ("colorgrid:v1", ("colorgrid", "v1", None)),
        ("open_clip:ViT-B-32@laion2b_s34b_b79k", ("open_clip", "ViT-B-32", "laion2b_s34b_b79k")),
        ("open_clip:ViT-B-32@/path/ckpt.pt", ("open_clip", "ViT-B-32", "/path/ckpt.pt")),
        ("torchvision:resnet50@/p/a@b.pth", ("torchvision", "resnet50", "/p/a@b.pth")),
        (" Torchvision:resnet18@random ", ("torchvision", "resnet18", "random")),
        ("open_clip@random", ("open_clip", None, "random")),
    ],
)
def test_parse_spec(spec, parsed):
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["", "   ", ":resnet18", "torchvision:", "colorgrid@", "@x"])
def test_bad_spec_syntax_explains_the_grammar(spec):
    with pytest.raises(UnknownModelError, match=r"family\[:arch\]\[@weights\]"):
        parse_spec(spec)


def test_default_encoder_and_families(monkeypatch):
    from vsearch.config import DEFAULT_MODEL, Settings

    monkeypatch.delenv("VSEARCH_MODEL", raising=False)
    assert DEFAULT_ENCODER == DEFAULT_MODEL == "effnet:lite0"  # offline: no hub download
    assert Settings.load(library="/tmp/x").model == DEFAULT_ENCODER
    assert {"colorgrid", "effnet", "open_clip", "torchvision"} <= set(list_encoders())


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(UnknownModelError) as err:
        create_encoder("clipper:ViT-B-32")
    for name in list_encoders():
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("spec", "suggestion"),
    [
        ("torchvision:resnet19@random", "resnet18"),
        ("open_clip:ViT-B-31@random", "ViT-B-32"),
        ("colorgrid:v2", "v1"),
    ],
)
def test_unknown_arch_suggests_close_names(spec, suggestion):
    with pytest.raises(UnknownModelError, match=suggestion):
        create_encoder(spec, device="cpu")


def test_unknown_open_clip_tag_lists_the_arch_tags():
    with pytest.raises(UnknownModelError, match="laion2b_s34b_b79k"):
        create_encoder("open_clip:ViT-B-32@no_such_tag", device="cpu")


def test_unknown_torchvision_weights_enum_lists_the_enum():
    with pytest.raises(UnknownModelError, match="IMAGENET1K_V1"):
        create_encoder("torchvision:resnet18@IMAGENET9K", device="cpu")


def test_spec_is_normalised():
    assert create_encoder("colorgrid").info.spec == "colorgrid:v1"
    enc = create_encoder("TORCHVISION:ResNet18@random", device="cpu")
    assert enc.info.spec == "torchvision:resnet18@random"
    assert enc.info.weights == "random"


def test_random_weights_log_a_warning(caplog):
    create_encoder("open_clip:vsearch-tiny@random", device="cpu")
    assert any("RANDOM" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_batch_size_option():
    assert create_encoder("colorgrid", batch_size=7).batch_size == 7
    with pytest.raises(UsageError):
        create_encoder("colorgrid", batch_size=0)


def test_unavailable_device_is_a_model_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ModelError, match="CUDA"):
        create_encoder("torchvision:resnet18@random", device="cuda")


def test_auto_device_resolves():
    import torch

    enc = create_encoder("open_clip:vsearch-tiny@random")
    assert enc.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_register_encoder_adds_a_family(registries):
    from vsearch.models import registry

    @register_encoder("fake-test-family", default_arch="a")
    def build(arch, weights, device):
        return create_encoder("colorgrid")

    assert "fake-test-family" in list_encoders()
    assert create_encoder("fake-test-family").info.family == "colorgrid"
    register_encoder("fake-test-family", default_arch="a")(build)  # the same again: no-op
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("fake-test-family")(lambda a, w, d: None)
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("colorgrid")(build)

    register_encoder("fake-test-family", default_arch="b", replace=True)(build)
    assert registry.ENCODERS.get("fake-test-family").default_arch == "b"
    register_encoder("fake-no-arch")(build)
    with pytest.raises(UnknownModelError, match="needs an arch"):
        create_encoder("fake-no-arch")


def test_import_is_torch_free():
    code = (
        "import sys, vsearch.models\n"
        "heavy = {'torch', 'torchvision', 'open_clip'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_models_imports_no_other_vsearch_subpackage():
    import ast
    from pathlib import Path

    import vsearch.models

    allowed = {"vsearch.errors", "vsearch.types", "vsearch.atomic", "vsearch.registry"}
    for path in Path(vsearch.models.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("vsearch"):
                    assert name in allowed or name.startswith("vsearch.models"), (path, name)
