"""What vsearch can build a library with: encoder families, temporal poolers and classifier
heads, those of installed plugins included (`vsearch models`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vsearch.types import JSONObject


@dataclass(frozen=True)
class Component:
    """One registered encoder family, pooler or head, or a plugin that failed to load."""

    kind: str  # "encoder", "pooler" or "head"
    name: str
    origin: str  # "built-in" or "plugin NAME"
    default_arch: str | None = None  # an encoder family's arch when a spec names none
    error: str | None = None  # why a plugin was skipped (it registered nothing)

    def to_dict(self) -> JSONObject:
        return asdict(self)


def list_components() -> list[Component]:
    """Every encoder family (plugins loaded), pooler and head; then the plugins skipped."""
    from vsearch.models.heads import HEADS
    from vsearch.models.registry import ENCODERS
    from vsearch.models.temporal import POOLERS

    found = [
        Component("encoder", name, ENCODERS.origin(name), ENCODERS.get(name).default_arch)
        for name in ENCODERS.names()
    ]
    for kind, registry in (("pooler", POOLERS), ("head", HEADS)):
        found += [Component(kind, name, registry.origin(name)) for name in registry.names()]
    found += [
        Component("encoder", plugin, f"plugin {plugin}", error=why)
        for plugin, why in ENCODERS.failed_plugins().items()
    ]
    return found
