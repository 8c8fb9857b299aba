"""Frame descriptors of CNN feature maps: pooling, a shipped PCA-whitening, a background set.

A ``Descriptor`` turns a CNN's last feature map into a unit-length vector:

1. *pool*: GeM (generalised mean, ``p`` = 3) or the plain mean over positions;
2. *project*: L2-normalise, centre, multiply by a PCA-whitening matrix fitted on still images
   (``scripts/fit_descriptor.py``; never on video), L2-normalise again: at most 256
   dimensions instead of the backbone's 1280;
3. *background*: descriptors of still images that are copies of nothing in any library; a
   score between two frames is calibrated by subtracting how similar each of them is to its
   nearest background images (``vsearch.match.calibrate``), as SSCD and the Video Similarity
   Challenge baselines do.

Fitted descriptors ship inside the package as ``descriptors/<name>.npz`` and are matched to
the backbone by its weights provenance: a backbone without one gets plain pooling at its full
width and no background.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.errors import CheckpointError
from vsearch.types import ModelInfo

from .base import file_sha256, l2_normalize

log = logging.getLogger(__name__)

DEFAULT_POOLING = "gem"
DEFAULT_GEM_P = 3.0
DESCRIPTOR_DIR = "descriptors"  # package data folder of vsearch.models


# Regions pooled by "gem-bands", as fractions (top, bottom, left, right) of the feature map:
# the whole frame, its top and bottom halves and its centre. Halves split horizontally keep
# a mirror image's regions in place; the centre survives letterboxes and moderate crops.
BANDS = ((0.0, 1.0, 0.0, 1.0), (0.0, 0.5, 0.0, 1.0), (0.5, 1.0, 0.0, 1.0), (0.25, 0.75, 0.25, 0.75))
POOLINGS = ("gem", "mean", "gem-bands")
LAYOUT_DIM = 128  # colorgrid


@dataclass(frozen=True)
class Descriptor:
    """Pooling, optional projection and background set of one backbone's features."""

    in_dim: int  # channels of the backbone's feature map
    pooling: str = DEFAULT_POOLING  # one of POOLINGS
    p: float = DEFAULT_GEM_P
    mean: np.ndarray | None = None  # (pooled_dim,) centre of the normalised pooled features
    projection: np.ndarray | None = None  # (pooled_dim, dim) PCA-whitening
    background: np.ndarray | None = None  # (B, dim) unit-length background descriptors
    source: str = ""  # "sha256:<hex>" of the file it came from, "" when built in code
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    # share of a pair's similarity that comes from the colour layout (colorgrid) of the two
    # frames rather than from the CNN: exact copies keep their layout, footage of the same
    # kind does not
    layout_weight: float = 0.0

    @property
    def parts(self) -> int:
        return len(BANDS) if self.pooling == "gem-bands" else 1

    @property
    def pooled_dim(self) -> int:
        return self.in_dim * self.parts

    @property
    def cnn_dim(self) -> int:
        return self.pooled_dim if self.projection is None else int(self.projection.shape[1])

    @property
    def dim(self) -> int:
        return self.cnn_dim + (LAYOUT_DIM if self.layout_weight > 0 else 0)

    def describe(self) -> str:
        """The preprocessing string part of a ModelInfo: changes whenever vectors would."""
        pool = "mean" if self.pooling == "mean" else f"{self.pooling}{self.p:g}"
        layout = f"+colorgrid{self.layout_weight:g}" if self.layout_weight > 0 else ""
        if self.projection is None:
            return pool + layout
        return f"{pool}+pcaw{self.cnn_dim}{layout}({self.source})"

    def pool_torch(self, fmap: Any) -> Any:
        """(N, C, h, w) feature map -> (N, parts * C) pooled features (torch)."""
        if self.pooling == "mean":
            return fmap.mean(dim=(2, 3))
        x = fmap.float().clamp(min=1e-6).pow(self.p)
        if self.pooling == "gem":
            return x.mean(dim=(2, 3)).pow(1.0 / self.p)
        import torch

        h, w = x.shape[2], x.shape[3]
        regions = []
        for top, bottom, left, right in BANDS:
            y0, y1 = int(round(top * h)), max(int(round(bottom * h)), int(round(top * h)) + 1)
            x0, x1 = int(round(left * w)), max(int(round(right * w)), int(round(left * w)) + 1)
            regions.append(x[:, :, y0:y1, x0:x1].mean(dim=(2, 3)).pow(1.0 / self.p))
        return torch.cat(regions, dim=1)

    def normalise_parts(self, pooled: np.ndarray) -> np.ndarray:
        """Each region's pooled vector to unit length, all of them to unit length together."""
        x = np.asarray(pooled, dtype=np.float32).reshape(len(pooled), self.parts, self.in_dim)
        x = x / np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-12)
        return l2_normalize(x.reshape(len(pooled), self.pooled_dim))

    def project(self, pooled: np.ndarray, layout: np.ndarray | None = None) -> np.ndarray:
        """Pooled features (N, pooled_dim) [and layout features (N, LAYOUT_DIM) when the
        descriptor has a layout part] -> unit-length float32 descriptors (N, dim)."""
        x = self.normalise_parts(pooled)
        if self.projection is not None:
            assert self.mean is not None
            x = l2_normalize((x - self.mean) @ self.projection)
        if self.layout_weight <= 0:
            return x
        if layout is None or len(layout) != len(x):
            raise ValueError("this descriptor needs the frames' layout features")
        w = float(self.layout_weight)
        return l2_normalize(np.hstack([np.sqrt(1.0 - w) * x, np.sqrt(w) * layout]))


def layout_features(images: np.ndarray) -> np.ndarray:
    """uint8 RGB (N, S, S, 3) frames -> colorgrid layout descriptors (N, LAYOUT_DIM)."""
    import torch

    return layout_of_tensor(torch.from_numpy(np.ascontiguousarray(images)))


def layout_of_tensor(frames: Any) -> np.ndarray:
    """``layout_features`` of uint8 (N, S, S, 3) frames already in a torch tensor: the
    reduction to colorgrid's size runs where the tensor is (the GPU in a CUDA encoder, which
    keeps the host free for the decoders); only the small pictures come back."""
    import torch

    from .colorgrid import INPUT_SIZE, colorgrid_features

    if len(frames) == 0:
        return np.zeros((0, LAYOUT_DIM), np.float32)
    x = frames.permute(0, 3, 1, 2).float()
    small = torch.nn.functional.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="area")
    pixels = small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return colorgrid_features(np.ascontiguousarray(pixels))


def fit_pca_whitening(
    normalised: np.ndarray, dim: int, *, shrink: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA-whitening of normalised pooled features -> (mean, projection, eigenvalues).

    ``shrink`` in [0, 1) blends each eigenvalue towards their mean before whitening
    (1 / sqrt((1 - shrink) * l + shrink * mean(l))): 0 is full whitening; more keeps the
    strongest directions stronger, which helps when the fitting set is small.
    """
    x = np.asarray(normalised, dtype=np.float64)
    if x.shape[0] <= dim:
        raise ValueError(f"need more than {dim} images to fit {dim} dimensions, got {len(x)}")
    mean = x.mean(axis=0)
    _u, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    values = singular[:dim] ** 2 / (len(x) - 1)
    vectors = vt[:dim].T
    scale = (1.0 - shrink) * values + shrink * values.mean()
    projection = vectors / np.sqrt(np.maximum(scale, 1e-12))
    return mean.astype(np.float32), projection.astype(np.float32), values.astype(np.float32)


def save_descriptor(path: Path, descriptor: Descriptor, *, weights: str, arch: str) -> None:
    """Write a fitted descriptor for the backbone whose provenance is ``weights``."""
    meta = dict(descriptor.meta, weights=weights, arch=arch)
    arrays: dict[str, Any] = {
        "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
        "pooling": np.array(descriptor.pooling),
        "p": np.array(descriptor.p, dtype=np.float32),
        "in_dim": np.array(descriptor.in_dim),
        "layout_weight": np.array(descriptor.layout_weight, dtype=np.float32),
    }
    if descriptor.projection is not None:
        assert descriptor.mean is not None  # fitted together with the projection
        arrays["mean"] = descriptor.mean.astype(np.float32)
        arrays["projection"] = descriptor.projection.astype(np.float32)
    if descriptor.background is not None:
        arrays["background"] = descriptor.background.astype(np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def read_descriptor(path: Path) -> tuple[Descriptor, dict[str, Any]]:
    """A descriptor file -> (descriptor, its metadata: weights, arch, fitting details).

    Each version of a file (path, size, modification time) is read and hashed once: a
    library looks up its background set for every query. The arrays are read-only."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"{path}: unreadable descriptor file ({e})") from e
    descriptor, meta = _read_descriptor(os.fspath(path), st.st_size, st.st_mtime_ns)
    return descriptor, dict(meta)


@lru_cache(maxsize=8)
def _read_descriptor(name: str, size: int, mtime_ns: int) -> tuple[Descriptor, dict[str, Any]]:
    path = Path(name)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            background = z.get("background")
            descriptor = Descriptor(
                in_dim=int(z["in_dim"]),
                pooling=str(z["pooling"]),
                p=float(z["p"]),
                mean=z.get("mean"),
                projection=z.get("projection"),
                background=None
                if background is None
                else l2_normalize(background.astype(np.float32)),
                source=f"sha256:{file_sha256(path)}",
                meta=meta,
                layout_weight=float(z["layout_weight"]) if "layout_weight" in z else 0.0,
            )
    except (OSError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable descriptor file ({e})") from e
    for array in (descriptor.mean, descriptor.projection, descriptor.background):
        if array is not None:
            array.flags.writeable = False
    return descriptor, meta


def shipped_descriptors() -> list[Path]:
    folder = resources.files("vsearch.models").joinpath(DESCRIPTOR_DIR)
    if not folder.is_dir():
        return []
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".npz"))


def load_descriptor(arch: str, weights: str, *, in_dim: int) -> Descriptor:
    """The shipped descriptor fitted on this backbone (same weights provenance), else pooling.

    ``VSEARCH_DESCRIPTOR=/path.npz`` uses another fitted file (for evaluating a new fit).
    """
    candidates = shipped_descriptors()
    if os.environ.get("VSEARCH_DESCRIPTOR"):  # first, for the backbone it was fitted on
        candidates = [Path(os.environ["VSEARCH_DESCRIPTOR"]).expanduser(), *candidates]
    for path in candidates:
        descriptor, meta = read_descriptor(path)
        if meta.get("weights") == weights and meta.get("arch") == arch:
            if descriptor.in_dim != in_dim:
                raise CheckpointError(f"{path}: fitted on {descriptor.in_dim}-channel features")
            log.debug("descriptor %s for %s", path.name, weights)
            return descriptor
    return Descriptor(in_dim=in_dim)


def background_for(info: ModelInfo) -> np.ndarray | None:
    """The background set of the descriptor a library's vectors were made with, or None.

    Read from the shipped file (no model is loaded): it must be the very file named in the
    library's preprocessing string (its SHA-256), for the same backbone weights.
    """
    if info.family != "effnet" or "pcaw" not in info.preprocess:
        return None
    candidates = shipped_descriptors()
    if os.environ.get("VSEARCH_DESCRIPTOR"):
        candidates = [Path(os.environ["VSEARCH_DESCRIPTOR"]).expanduser(), *candidates]
    for path in candidates:
        descriptor, meta = read_descriptor(path)
        if meta.get("weights") == info.weights and info.preprocess.endswith(descriptor.describe()):
            return descriptor.background
    log.warning("no background set found for %s: scores are not calibrated", info.spec)
    return None
