"""``open_clip``: CLIP image + text towers from open_clip (pretrained tag, local file, random).

Weights are never fetched slowly: a pretrained tag must be in the local caches (Hugging Face
hub cache, or open_clip's ~/.cache/clip) or the network must answer within 2 seconds;
otherwise WeightsNotFoundError says how to supply the file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from vsearch.errors import (
    CheckpointError,
    ModelError,
    UnknownModelError,
    WeightsNotFoundError,
)
from vsearch.types import ModelInfo

from .base import (
    RANDOM_WEIGHTS,
    TorchImageEncoder,
    checkpoint_provenance,
    is_weights_path,
    l2_normalize,
    resolve_checkpoint,
    resolve_device,
    seeded_init,
    warn_random,
)
from .registry import register_encoder, unknown_arch

log = logging.getLogger(__name__)

DEFAULT_ARCH = "ViT-B-32"
DEFAULT_TAGS = {"ViT-B-32": "laion2b_s34b_b79k"}
OFFLINE_ENV = ("HF_HUB_OFFLINE", "VSEARCH_OFFLINE")
HF_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TEXT_BATCH_SIZE = 256

# Tiny CLIP configs for tests and demos (random weights, 64 px input, dim 64).
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "vsearch-tiny": {
        "embed_dim": 64,
        "vision_cfg": {
            "image_size": 64,
            "layers": 2,
            "width": 64,
            "patch_size": 16,
            "head_width": 32,
        },
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 64,
            "heads": 2,
            "layers": 2,
        },
    }
}
_tiny_dir: str | None = None


def register_tiny_test_configs() -> list[str]:
    """Make open_clip know the ``TINY_CONFIGS`` archs (idempotent); returns their names."""
    global _tiny_dir
    import open_clip

    if _tiny_dir is None or not all(n in open_clip.list_models() for n in TINY_CONFIGS):
        _tiny_dir = tempfile.mkdtemp(prefix="vsearch-open_clip-configs-")
        for name, cfg in TINY_CONFIGS.items():
            Path(_tiny_dir, f"{name}.json").write_text(json.dumps(cfg))
        open_clip.add_model_config(_tiny_dir)
    return list(TINY_CONFIGS)


def _env_offline() -> bool:
    return any(
        os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on") for k in OFFLINE_ENV
    )


def _network_up(host: str, timeout: float = 2.0) -> bool:
    """Whether ``host:443`` accepts a connection within ``timeout`` seconds, DNS included
    (the probe runs in a daemon thread so that a hanging resolver cannot hold us)."""
    answered: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, name="vsearch-network-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered)


def _find_in_hf_cache(hf_hub: str) -> str | None:
    """'org/repo/file' or 'org/repo/' (open_clip's default file names) in the HF hub cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo_id, filename = os.path.split(hf_hub)
    names = [filename] if filename else list(HF_WEIGHT_FILES)
    if filename.endswith(".bin"):
        names.insert(0, filename.removesuffix(".bin") + ".safetensors")
    for name in names:
        found = try_to_load_from_cache(repo_id, name)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def find_cached_weights(pretrained_cfg: dict[str, Any]) -> str | None:
    """Path of a pretrained tag's weights in the local caches, or None."""
    if pretrained_cfg.get("file") and os.path.isfile(pretrained_cfg["file"]):
        return str(pretrained_cfg["file"])
    hf_hub = pretrained_cfg.get("hf_hub", "")
    if hf_hub:
        found = _find_in_hf_cache(hf_hub)
        if found:
            return found
    url = pretrained_cfg.get("url", "")
    if url:
        path = Path("~/.cache/clip").expanduser() / os.path.basename(urlparse(url).path)
        if path.is_file():
            return str(path)
    return None


def _weights_missing(arch: str, tag: str, cfg: dict[str, Any], why: str) -> WeightsNotFoundError:
    where = cfg.get("hf_hub") or cfg.get("url") or "?"
    return WeightsNotFoundError(
        f"open_clip weights '{tag}' for {arch} are not cached locally ({where}) and {why}. "
        f"Download them once with network access (HF_HUB_OFFLINE/VSEARCH_OFFLINE unset), "
        f"or pass a local checkpoint as open_clip:{arch}@/path/file.pt, "
        f"or use the offline 'colorgrid' encoder."
    )


def _locate_tag(arch: str, tag: str) -> tuple[str | None, dict[str, Any]]:
    """(cached file or None meaning 'let open_clip download', the tag's pretrained cfg)."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise UnknownModelError(
            f"unknown open_clip weights '{tag}' for {arch}; known tags: "
            f"{', '.join(tags) or '(none: use @/path/file.pt or @random)'}"
        )
    cached = find_cached_weights(cfg)
    if cached:
        return cached, cfg
    if _env_offline():
        raise _weights_missing(
            arch, tag, cfg, "offline mode is on (HF_HUB_OFFLINE/VSEARCH_OFFLINE)"
        )
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname
    if cfg.get("url") and not cfg.get("hf_hub"):
        host = urlparse(cfg["url"]).hostname
    if not _network_up(host or "huggingface.co"):
        raise _weights_missing(arch, tag, cfg, f"{host} cannot be reached")
    return None, cfg


def _create(arch: str, pretrained: str | None, cfg: dict[str, Any]) -> tuple[Any, Any]:
    import open_clip

    kwargs: dict[str, Any] = {}
    for key, arg in (
        ("mean", "image_mean"),
        ("std", "image_std"),
        ("interpolation", "image_interpolation"),
        ("resize_mode", "image_resize_mode"),
    ):
        if cfg.get(key):
            kwargs[arg] = cfg[key]
    if cfg.get("quick_gelu"):
        kwargs["force_quick_gelu"] = True
    model, _, _ = open_clip.create_model_and_transforms(arch, pretrained=pretrained, **kwargs)
    return model, open_clip.get_tokenizer(arch)


def _load_model(arch: str, weights: str) -> tuple[Any, Any, str, str]:
    """-> (model, tokenizer, provenance, normalised weights field of the spec)."""
    if weights == RANDOM_WEIGHTS:
        with seeded_init():
            model, tokenizer = _create(arch, None, {})
        return model, tokenizer, RANDOM_WEIGHTS, RANDOM_WEIGHTS
    if is_weights_path(weights):
        path = resolve_checkpoint(weights)
        import open_clip

        with seeded_init():
            model, tokenizer = _create(arch, None, {})
        try:
            open_clip.load_checkpoint(model, str(path))
        except Exception as e:  # torch raises RuntimeError/KeyError/pickle errors here
            raise CheckpointError(f"{path}: not an open_clip {arch} checkpoint ({e})") from e
        return model, tokenizer, checkpoint_provenance(path), str(path)
    cached, cfg = _locate_tag(arch, weights)
    try:
        model, tokenizer = _create(arch, cached or weights, cfg)
    except Exception as e:
        if cached:
            raise CheckpointError(
                f"{cached}: cannot load open_clip weights '{weights}' ({e})"
            ) from e
        raise _weights_missing(arch, weights, cfg, f"the download failed ({e})") from e
    return model, tokenizer, weights, weights


class OpenClipEncoder(TorchImageEncoder):
    """An open_clip CLIP model: image tower for frames, text tower for text queries."""

    def __init__(
        self,
        info: ModelInfo,
        model: Any,
        tokenizer: Any,
        device: str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> None:
        super().__init__(info, model, device, mean, std)
        self.tokenizer = tokenizer

    def _forward_images(self, x: Any) -> Any:
        return self.model.encode_image(x)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        if isinstance(texts, str):
            texts = [texts]
        if self.model is None:
            raise ModelError(f"encoder '{self.info.spec}' was closed")
        chunks = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(texts), TEXT_BATCH_SIZE):
                tokens = self.tokenizer(list(texts[start : start + TEXT_BATCH_SIZE]))
                feats = self.model.encode_text(tokens.to(self.device)).float()
                chunks.append(feats.cpu().numpy())
        if not chunks:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        return l2_normalize(np.concatenate(chunks))


def _image_size(model: Any, arch: str) -> int:
    size = model.visual.image_size
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ModelError(f"open_clip {arch}: non-square input {size} is not supported")
        size = size[0]
    return int(size)


def _fmt(values: Any) -> str:
    return ",".join(f"{float(v):.4f}" for v in values)


@register_encoder("open_clip", default_arch=DEFAULT_ARCH)
def build_open_clip(arch: str, weights: str | None, device: str) -> OpenClipEncoder:
    import open_clip

    if arch in TINY_CONFIGS:
        register_tiny_test_configs()
    if arch not in open_clip.list_models():
        raise unknown_arch("open_clip", arch, open_clip.list_models())
    if weights is None:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        weights = DEFAULT_TAGS.get(arch) or (tags[0] if tags else None)
        if weights is None:
            raise WeightsNotFoundError(
                f"open_clip {arch} has no pretrained tag: pass open_clip:{arch}@/path/file.pt "
                f"(or @random for tests)"
            )
    device = resolve_device(device)
    model, tokenizer, provenance, spec_weights = _load_model(arch, weights)
    spec = f"open_clip:{arch}@{spec_weights}"
    if provenance == RANDOM_WEIGHTS:
        warn_random(spec)
    pp = getattr(model.visual, "preprocess_cfg", None) or {}
    mean = tuple(pp.get("mean") or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(pp.get("std") or open_clip.OPENAI_DATASET_STD)
    size = _image_size(model, arch)
    interpolation = pp.get("interpolation") or "bicubic"
    info = ModelInfo(
        spec=spec,
        family="open_clip",
        arch=arch,
        weights=provenance,
        dim=int(open_clip.get_model_config(arch)["embed_dim"]),
        input_size=size,
        preprocess=f"resize-short-{size}-{interpolation}+center-crop-{size}"
        f"+norm(mean={_fmt(mean)};std={_fmt(std)})",
        has_text=True,
    )
    return OpenClipEncoder(info, model, tokenizer, device, mean, std)
