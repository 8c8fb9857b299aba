"""The FrameEncoder protocol and what every encoder shares (numpy only at import time)."""

from __future__ import annotations

import abc
import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vsearch.errors import ModelError, NoTextTowerError, WeightsNotFoundError
from vsearch.types import ModelInfo

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".npz")
CPU_BATCH_SIZE = 32
GPU_BATCH_SIZE = 64


@runtime_checkable
class FrameEncoder(Protocol):
    """Turns frames (and, for some models, texts) into L2-normalised float32 vectors."""

    info: ModelInfo
    device: str
    batch_size: int

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (N, S, S, 3), S == info.input_size -> float32 (N, info.dim)."""
        ...

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 (N, info.dim), or NoTextTowerError."""
        ...

    def close(self) -> None: ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def check_images(images: np.ndarray, size: int, name: str) -> np.ndarray:
    """Validate a frame batch: uint8 RGB (N, size, size, 3)."""
    images = np.asarray(images)
    if images.ndim == 3 and images.shape[-1] == 3:
        images = images[None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ModelError(
            f"{name} expects uint8 RGB frames of shape (N, {size}, {size}, 3), "
            f"got {images.dtype} {images.shape}"
        )
    return images


def no_text_tower(info: ModelInfo) -> NoTextTowerError:
    return NoTextTowerError(
        f"encoder '{info.spec}' has no text tower: text queries need a CLIP model, "
        f"e.g. open_clip:ViT-B-32@laion2b_s34b_b79k"
    )


def is_weights_path(weights: str) -> bool:
    """Whether a spec's weights field names a file rather than a tag."""
    return (
        "/" in weights
        or os.sep in weights
        or weights.startswith("~")
        or weights.lower().endswith(CHECKPOINT_SUFFIXES)
    )


def resolve_checkpoint(weights: str) -> Path:
    path = Path(weights).expanduser().resolve()
    if not path.is_file():
        raise WeightsNotFoundError(f"checkpoint file not found: {path}")
    return path


def file_sha256(path: str | os.PathLike[str], chars: int = 16) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:chars]


def checkpoint_provenance(path: Path) -> str:
    """The ModelInfo.weights of a local checkpoint: its content, not its name."""
    return f"sha256:{file_sha256(path)}"


def warn_random(spec: str) -> None:
    log.warning("encoder %s uses RANDOM weights: vectors are meaningless (tests only)", spec)


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; checks an explicit device is usable."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device '{device}' asked for but CUDA is not available; use 'cpu'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ModelError("device 'mps' asked for but MPS is not available; use 'cpu'")
    try:
        torch.device(device)
    except RuntimeError as e:
        raise ModelError(f"bad device '{device}': {e}") from None
    return device


@contextlib.contextmanager
def seeded_init(seed: int = 0) -> Iterator[None]:
    """Reproducible random init ("@random" weights) that leaves the caller's RNG alone."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class TorchImageEncoder(abc.ABC):
    """Shared batching, device placement, normalisation and autocast of torch encoders.

    Subclasses set ``model`` and implement ``_forward_images`` (a normalised NCHW float batch
    on the device -> features).
    """

    def __init__(
        self,
        info: ModelInfo,
        model: Any,
        device: str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        channels_last: bool = False,
    ) -> None:
        import torch

        self.info = info
        self.device = device
        self.batch_size = GPU_BATCH_SIZE if device.startswith("cuda") else CPU_BATCH_SIZE
        self._channels_last = channels_last and device.startswith("cuda")
        model = model.eval().to(device)
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, device=device).view(1, 3, 1, 1)

    # -- overridden by subclasses -------------------------------------------------------
    @abc.abstractmethod
    def _forward_images(self, x: Any) -> Any:
        """Features of a normalised NCHW float batch on the device."""

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        raise no_text_tower(self.info)

    # -- shared -------------------------------------------------------------------------
    def _autocast(self) -> Any:
        import torch

        if not self.device.startswith("cuda"):
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def _to_input(self, batch: np.ndarray) -> Any:
        return self._prepare(self._upload(batch))

    def _upload(self, batch: np.ndarray) -> Any:
        """uint8 (N, S, S, 3) frames as they are, on the encoder's device."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)

    def _prepare(self, raw: Any) -> Any:
        """Uploaded uint8 frames -> the network's normalised float input (N, 3, S, S)."""
        import torch

        x = raw.permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self._mean) / self._std
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        import torch

        images = check_images(images, self.info.input_size, self.info.spec)
        out = np.empty((images.shape[0], self.info.dim), dtype=np.float32)
        if self.model is None:
            raise ModelError(f"encoder '{self.info.spec}' was closed")
        with torch.inference_mode(), self._autocast():
            for start in range(0, images.shape[0], self.batch_size):
                x = self._to_input(images[start : start + self.batch_size])
                feats = self._forward_images(x).float()
                feats = torch.nn.functional.normalize(feats.flatten(1), dim=-1)
                out[start : start + feats.shape[0]] = feats.cpu().numpy()
        return out

    def close(self) -> None:
        import torch

        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def __enter__(self) -> TorchImageEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.spec!r}, device={self.device!r})"


def cpu_encoder_threads() -> int:
    """Torch threads of a CNN encoding frames on the CPU while ffmpeg decoders run beside it.

    Half the cores (at least one): decoding and encoding share the machine, and more threads
    than that only make torch's OpenMP workers and the decoders preempt each other.
    ``VSEARCH_TORCH_THREADS`` overrides it.
    """
    env = os.environ.get("VSEARCH_TORCH_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) // 2)


@contextlib.contextmanager
def cpu_threads(device: str, n: int = 1) -> Iterator[None]:
    """Run torch on ``n`` CPU threads inside the block (on the CPU; a no-op on a GPU).

    These models are small: a thread is enough. More is harmful where faiss is loaded in
    the same process: its OpenMP runtime and torch's spin against each other, and a training
    step measured 5.5 s on 2 threads against 0.03 s on one (2-core machine).
    """
    import torch

    if not str(device).startswith("cpu"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
