"""Decorator registry of frame-encoder families and the one factory, ``create_encoder``.

Spec grammar: ``family[:arch][@weights]``; e.g. ``colorgrid``, ``torchvision:resnet18``,
``open_clip:ViT-B-32@laion2b_s34b_b79k``, ``open_clip:ViT-B-32@/path/ckpt.pt``,
``torchvision:resnet18@random``. Families installed by other packages register through the
entry-point group ``vsearch.encoders`` (the README's "Encoder plugins" says how).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vsearch.errors import UnknownModelError, UsageError
from vsearch.registry import Registry
from vsearch.types import DEFAULT_MODEL

from .base import FrameEncoder

log = logging.getLogger(__name__)

DEFAULT_ENCODER = DEFAULT_MODEL  # vsearch.types holds it (config and models both read it)

EncoderBuilder = Callable[[str, "str | None", str], FrameEncoder]


ENTRY_POINT_GROUP = "vsearch.encoders"  # third-party families: README, "Encoder plugins"


@dataclass(frozen=True)
class _Family:
    name: str
    builder: EncoderBuilder
    default_arch: str | None


ENCODERS: Registry[_Family] = Registry(
    "encoder family",
    builtins=(
        "vsearch.models.colorgrid",
        "vsearch.models.effnet",
        "vsearch.models.open_clip_encoder",
        "vsearch.models.torchvision_encoder",
    ),
    entry_point_group=ENTRY_POINT_GROUP,
)


def register_encoder(
    name: str, *, default_arch: str | None = None, replace: bool = False
) -> Callable[[EncoderBuilder], EncoderBuilder]:
    """Register ``builder(arch, weights, device) -> FrameEncoder`` under a family name.

    ``arch`` is the part of the spec after ``:`` (``default_arch`` when the spec has none),
    ``weights`` the part after ``@`` or None, ``device`` "auto", "cpu", "cuda"...
    """

    def decorate(builder: EncoderBuilder) -> EncoderBuilder:
        ENCODERS.add(name, _Family(name, builder, default_arch), replace=replace)
        return builder

    return decorate


def list_encoders() -> list[str]:
    """Names of the registered encoder families (those of installed plugins too)."""
    return ENCODERS.names()


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``"family[:arch][@weights]"`` -> (family, arch or None, weights or None)."""
    text = (spec or "").strip()
    head, sep, weights = text.partition("@")
    family, colon, arch = head.partition(":")
    family = family.strip().lower()
    arch, weights = arch.strip(), weights.strip()
    if not family or (colon and not arch) or (sep and not weights):
        raise UnknownModelError(
            f"bad encoder spec '{spec}': expected family[:arch][@weights], "
            f"e.g. {DEFAULT_ENCODER} (families: {', '.join(list_encoders())})"
        )
    return family, arch or None, weights or None


def create_encoder(
    spec: str = DEFAULT_ENCODER, device: str = "auto", batch_size: int | None = None
) -> FrameEncoder:
    """Build the encoder a spec names, on ``device`` ("auto", "cpu", "cuda", "cuda:1"...)."""
    family_name, arch, weights = parse_spec(spec)
    family = ENCODERS.get(family_name)
    arch = arch or family.default_arch
    if arch is None:
        raise UnknownModelError(f"encoder family '{family_name}' needs an arch: {family_name}:ARCH")
    encoder = family.builder(arch, weights, device)
    if batch_size is not None:
        if batch_size <= 0:
            raise UsageError(f"batch_size must be positive, got {batch_size}")
        encoder.batch_size = batch_size
    log.info("encoder %s on %s (dim %d)", encoder.info.spec, encoder.device, encoder.info.dim)
    return encoder


def unknown_arch(family: str, arch: str, known: Iterable[str]) -> UnknownModelError:
    """An UnknownModelError naming the closest known archs of a family."""
    known = list(known)
    close = difflib.get_close_matches(arch, known, n=5, cutoff=0.5)
    close += [k for k in known if arch.lower() in k.lower() and k not in close]
    hint = ", ".join((close or known)[:8])
    return UnknownModelError(
        f"unknown {family} arch '{arch}'; close names: {hint} ({len(known)} known)"
    )
