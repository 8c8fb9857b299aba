"""Frame encoders: a ``FrameEncoder`` protocol, a registry of families and one factory.

``import vsearch.models`` is cheap: torch, torchvision and open_clip are imported only when
an encoder that needs them is created.
"""

from __future__ import annotations

from . import colorgrid as _colorgrid  # noqa: F401  (registers "colorgrid")
from . import effnet as _effnet  # noqa: F401  (registers "effnet")
from . import open_clip_encoder as _open_clip  # noqa: F401  (registers "open_clip")
from . import torchvision_encoder as _torchvision  # noqa: F401  (registers "torchvision")
from .base import FrameEncoder, l2_normalize
from .colorgrid import ColorGridEncoder, colorgrid_features
from .descriptor import Descriptor
from .effnet import EffnetEncoder
from .open_clip_encoder import OpenClipEncoder
from .registry import (
    DEFAULT_ENCODER,
    create_encoder,
    list_encoders,
    parse_spec,
    register_encoder,
)
from .temporal import (
    TemporalPooler,
    TrainConfig,
    create_pooler,
    list_poolers,
    read_checkpoint,
    register_pooler,
    train_pooler,
)
from .torchvision_encoder import TorchvisionEncoder

__all__ = [
    "DEFAULT_ENCODER",
    "ColorGridEncoder",
    "Descriptor",
    "EffnetEncoder",
    "FrameEncoder",
    "OpenClipEncoder",
    "TorchvisionEncoder",
    "colorgrid_features",
    "create_encoder",
    "l2_normalize",
    "list_encoders",
    "parse_spec",
    "register_encoder",
    "TemporalPooler",
    "TrainConfig",
    "create_pooler",
    "list_poolers",
    "read_checkpoint",
    "register_pooler",
    "train_pooler",
]
