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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.errors import CheckpointError

from .base import file_sha256, l2_normalize

log = logging.getLogger(__name__)

DEFAULT_POOLING = "gem"
DEFAULT_GEM_P = 3.0
DESCRIPTOR_DIR = "descriptors"  # package data folder of vsearch.models


@dataclass(frozen=True)
class Descriptor:
    """Pooling, optional projection and background set of one backbone's features."""

    in_dim: int
    pooling: str = DEFAULT_POOLING  # "gem" or "mean"
    p: float = DEFAULT_GEM_P
    mean: np.ndarray | None = None  # (in_dim,) centre of the normalised pooled features
    projection: np.ndarray | None = None  # (in_dim, dim) PCA-whitening
    background: np.ndarray | None = None  # (B, dim) unit-length background descriptors
    source: str = ""  # "sha256:<hex>" of the file it came from, "" when built in code
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def dim(self) -> int:
        return self.in_dim if self.projection is None else int(self.projection.shape[1])

    def describe(self) -> str:
        """The preprocessing string part of a ModelInfo: changes whenever vectors would."""
        pool = f"gem{self.p:g}" if self.pooling == "gem" else "mean"
        if self.projection is None:
            return pool
        return f"{pool}+pcaw{self.dim}({self.source})"

    def pool_torch(self, fmap: Any) -> Any:
        """(N, C, h, w) feature map -> (N, C) pooled features (torch)."""
        if self.pooling == "mean":
            return fmap.mean(dim=(2, 3))
        x = fmap.float().clamp(min=1e-6).pow(self.p)
        return x.mean(dim=(2, 3)).pow(1.0 / self.p)

    def project(self, pooled: np.ndarray) -> np.ndarray:
        """Pooled features (N, in_dim) -> unit-length float32 descriptors (N, dim)."""
        x = l2_normalize(pooled)
        if self.projection is None:
            return x
        assert self.mean is not None
        return l2_normalize((x - self.mean) @ self.projection)


def fit_pca_whitening(
    pooled: np.ndarray, dim: int, *, shrink: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA-whitening of L2-normalised pooled features -> (mean, projection, eigenvalues).

    ``shrink`` in [0, 1) blends each eigenvalue towards their mean before whitening
    (1 / sqrt((1 - shrink) * l + shrink * mean(l))): 0 is full whitening; more keeps the
    strongest directions stronger, which helps when the fitting set is small.
    """
    x = l2_normalize(pooled).astype(np.float64)
    if x.shape[0] <= dim:
        raise ValueError(f"need more than {dim} images to fit {dim} dimensions, got {len(x)}")
    mean = x.mean(axis=0)
    cov = np.cov((x - mean).T)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:dim]
    values, vectors = values[order], vectors[:, order]
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
    """A descriptor file -> (descriptor, its metadata: weights, arch, fitting details)."""
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
            )
    except (OSError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable descriptor file ({e})") from e
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
    import os

    candidates = shipped_descriptors()
    if os.environ.get("VSEARCH_DESCRIPTOR"):
        candidates = [Path(os.environ["VSEARCH_DESCRIPTOR"]).expanduser()]
    for path in candidates:
        descriptor, meta = read_descriptor(path)
        if meta.get("weights") == weights and meta.get("arch") == arch:
            if descriptor.in_dim != in_dim:
                raise CheckpointError(f"{path}: fitted on {descriptor.in_dim}-d features")
            log.debug("descriptor %s for %s", path.name, weights)
            return descriptor
    return Descriptor(in_dim=in_dim)
