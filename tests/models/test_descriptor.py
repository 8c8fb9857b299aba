"""Descriptors: PCA-whitening, the layout part, and the shipped file format (numpy only)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vsearch.errors import CheckpointError
from vsearch.models.base import l2_normalize
from vsearch.models.descriptor import (
    LAYOUT_DIM,
    Descriptor,
    fit_pca_whitening,
    read_descriptor,
    save_descriptor,
)


def _fitted(layout_weight: float = 0.0, pooling: str = "gem") -> tuple[Descriptor, np.ndarray]:
    rng = np.random.default_rng(0)
    parts = 4 if pooling == "gem-bands" else 1
    pooled = np.abs(rng.normal(size=(400, 32 * parts)) * np.linspace(3, 0.1, 32 * parts))
    base = Descriptor(in_dim=32, pooling=pooling)
    mean, projection, values = fit_pca_whitening(base.normalise_parts(pooled), 16)
    assert np.all(np.diff(values) <= 1e-9)  # strongest directions first
    d = Descriptor(32, pooling, mean=mean, projection=projection, layout_weight=layout_weight)
    return d, pooled


def test_whitening_gives_unit_variance_on_the_fitting_set():
    d, pooled = _fitted()
    z = (d.normalise_parts(pooled) - d.mean) @ d.projection
    np.testing.assert_allclose(np.cov(z.T), np.eye(16), atol=1e-3)
    out = d.project(pooled)
    assert out.shape == (400, 16) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_the_layout_part_weighs_its_share_of_the_similarity():
    d, pooled = _fitted(layout_weight=0.3, pooling="gem-bands")
    assert d.dim == 16 + LAYOUT_DIM and "colorgrid0.3" in d.describe()
    rng = np.random.default_rng(1)
    layout = l2_normalize(rng.normal(size=(2, LAYOUT_DIM)))
    v = d.project(pooled[:2], layout)
    cnn = Descriptor(32, "gem-bands", mean=d.mean, projection=d.projection).project(pooled[:2])
    expected = 0.7 * (cnn[0] @ cnn[1]) + 0.3 * (layout[0] @ layout[1])
    assert v[0] @ v[1] == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="layout"):
        d.project(pooled[:2])


def test_save_and_read_round_trip(tmp_path):
    d, pooled = _fitted(layout_weight=0.3, pooling="gem-bands")
    d = Descriptor(**{**d.__dict__, "background": l2_normalize(np.ones((5, d.dim)))})
    path = tmp_path / "effnet-test.npz"
    save_descriptor(path, d, weights="pkg==1 sha256:ab", arch="lite0")
    back, meta = read_descriptor(path)
    assert meta["weights"] == "pkg==1 sha256:ab" and meta["arch"] == "lite0"
    assert back.pooling == "gem-bands" and back.layout_weight == pytest.approx(0.3)
    assert back.source.startswith("sha256:") and back.source in back.describe()
    layout = l2_normalize(np.ones((3, LAYOUT_DIM)))
    np.testing.assert_allclose(
        back.project(pooled[:3], layout), d.project(pooled[:3], layout), atol=1e-5
    )
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="bad.npz"):
        read_descriptor(tmp_path / "bad.npz")


def test_a_descriptor_file_is_read_once_per_version(tmp_path):
    d, _pooled = _fitted(layout_weight=0.3, pooling="gem-bands")
    path = tmp_path / "effnet-test.npz"
    save_descriptor(path, d, weights="pkg==1 sha256:ab", arch="lite0")
    first, meta = read_descriptor(path)
    again, _ = read_descriptor(path)
    assert again is first  # the same file: not read or hashed again
    meta["weights"] = "changed by a caller"
    assert read_descriptor(path)[1]["weights"] == "pkg==1 sha256:ab"
    with pytest.raises(ValueError):
        first.projection[0, 0] = 1.0  # shared between callers: read-only
    os.utime(path, ns=(1, 1))  # another version of the file is read anew
    assert read_descriptor(path)[0] is not first
