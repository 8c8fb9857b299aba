"""``torchvision``: ImageNet CNN/ViT classifiers with the classifier head removed.

Weights: the official file from the torch hub cache (never downloaded here), a weights enum
name (``torchvision:resnet50@IMAGENET1K_V1``), a local state dict, or ``random``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from vsearch.errors import CheckpointError, UnknownModelError, WeightsNotFoundError
from vsearch.types import ModelInfo

from .base import (
    RANDOM_WEIGHTS,
    TorchImageEncoder,
    checkpoint_provenance,
    is_weights_path,
    resolve_checkpoint,
    resolve_device,
    seeded_init,
    warn_random,
)
from .registry import register_encoder, unknown_arch

log = logging.getLogger(__name__)

DEFAULT_ARCH = "resnet50"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HEAD_ATTRS = ("fc", "classifier", "heads", "head")
# no single linear head at the end, auxiliary outputs, or a fixed non-ImageNet input size
UNSUPPORTED = ("squeezenet", "googlenet", "inception")


def supported_archs() -> list[str]:
    from torchvision import models

    return [a for a in models.list_models(module=models) if not a.startswith(UNSUPPORTED)]


def _final_linear(model: Any) -> tuple[Any, str, Any, str]:
    """The classifier's last Linear: (its container, name or index there, it, state-dict prefix)."""
    from torch import nn

    for attr in HEAD_ATTRS:
        head = getattr(model, attr, None)
        if isinstance(head, nn.Linear):
            return model, attr, head, f"{attr}."
        if isinstance(head, nn.Sequential):
            for name, child in reversed(list(head.named_children())):
                if isinstance(child, nn.Linear):
                    return head, name, child, f"{attr}.{name}."
    raise UnknownModelError(f"torchvision {type(model).__name__}: no linear classifier head")


def _strip_head(model: Any) -> tuple[Any, int]:
    """Replace the classifier's last Linear by Identity; -> (model, feature dim)."""
    from torch import nn

    container, name, linear, _ = _final_linear(model)
    setattr(container, name, nn.Identity())
    return model, linear.in_features


def _read_state_dict(path: Path) -> dict[str, Any]:
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and format errors of all kinds
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from e
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_state(model: Any, path: Path, arch: str) -> None:
    """Load a full classifier state dict, or one without its head (what this encoder saves)."""
    state = _read_state_dict(path)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise CheckpointError(f"{path}: not a torchvision {arch} checkpoint ({e})") from e
    head = _final_linear(model)[3]
    missing = {k for k in missing if not k.startswith(head)}  # a headless state dict is fine
    if missing or unexpected:
        some = sorted(missing)[:3] + sorted(unexpected)[:3]
        raise CheckpointError(
            f"{path}: not a torchvision {arch} checkpoint "
            f"({len(missing)} missing, {len(unexpected)} unexpected keys, e.g. {some})"
        )


def _weights_enum(arch: str, name: str) -> Any:
    from torchvision import models

    enum = models.get_model_weights(arch)
    if name not in enum.__members__:
        raise UnknownModelError(
            f"unknown torchvision weights '{name}' for {arch}; known: "
            f"{', '.join(enum.__members__)}, random, or a local .pth path"
        )
    return enum[name]


def _hub_file(weights_enum: Any) -> Path:
    import torch

    return Path(torch.hub.get_dir(), "checkpoints", os.path.basename(weights_enum.url))


def _build_model(arch: str, weights: str) -> tuple[Any, str, str]:
    """-> (model with its head, provenance, normalised weights field of the spec)."""
    from torchvision import models

    kwargs: dict[str, Any] = {}
    default = models.get_model_weights(arch).DEFAULT
    if arch.startswith("vit_"):  # ViTs have a fixed input size
        kwargs["image_size"] = default.transforms().crop_size[0]
    with seeded_init():
        model = models.get_model(arch, weights=None, **kwargs)
    if weights == RANDOM_WEIGHTS:
        return model, RANDOM_WEIGHTS, RANDOM_WEIGHTS
    if is_weights_path(weights):
        path = resolve_checkpoint(weights)
        _load_state(model, path, arch)
        return model, checkpoint_provenance(path), str(path)
    enum = _weights_enum(arch, weights)
    path = _hub_file(enum)
    if not path.is_file():
        raise WeightsNotFoundError(
            f"torchvision {arch} weights {enum.name} not found at {path}; download "
            f"{enum.url} to that path (or run once with network: "
            f"torchvision.models.get_model('{arch}', weights='{enum.name}')), "
            f"or pass a local file as torchvision:{arch}@/path/file.pth"
        )
    _load_state(model, path, arch)
    return model, enum.name, enum.name


class TorchvisionEncoder(TorchImageEncoder):
    """Penultimate-layer features of a torchvision classifier."""

    def _forward_images(self, x: Any) -> Any:
        return self.model(x)


@register_encoder("torchvision", default_arch=DEFAULT_ARCH)
def build_torchvision(arch: str, weights: str | None, device: str) -> TorchvisionEncoder:
    from torchvision import models

    arch = arch.lower()
    known = supported_archs()
    if arch not in known:
        raise unknown_arch("torchvision", arch, known)
    default = models.get_model_weights(arch).DEFAULT
    if weights is None or weights == "DEFAULT":
        weights = default.name
    device = resolve_device(device)
    model, provenance, spec_weights = _build_model(arch, weights)
    spec = f"torchvision:{arch}@{spec_weights}"
    if provenance == RANDOM_WEIGHTS:
        warn_random(spec)
    model, dim = _strip_head(model)
    transforms = default.transforms()
    size = int(transforms.crop_size[0])
    interpolation = transforms.interpolation.value
    info = ModelInfo(
        spec=spec,
        family="torchvision",
        arch=arch,
        weights=provenance,
        dim=dim,
        input_size=size,
        preprocess=f"resize-short-{size}-{interpolation}+center-crop-{size}+norm(imagenet)",
        has_text=False,
    )
    return TorchvisionEncoder(
        info, model, device, IMAGENET_MEAN, IMAGENET_STD, channels_last=not arch.startswith("vit_")
    )
