"""NeighborSearch agrees with brute-force numpy search: exactly in exact mode, with high recall
of planted near-duplicates in every approximate setting."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.index.neighbors import IvfParams, NeighborSearch, neighbors_above


def unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def planted(n: int = 8000, dim: int = 32, copies: int = 150, seed: int = 0):
    """Vectors around 50 cluster centres; rows n-copies.. are noisy copies of random rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim)) * 1.5
    x = centres[rng.integers(0, 50, n)] + rng.normal(size=(n, dim))
    src = rng.choice(n - copies, copies, replace=False)
    x[n - copies :] = x[src] + rng.normal(size=(copies, dim)) * 0.1
    return unit(x)


def brute_hits(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    hits = set()
    for lo in range(0, len(x), 4096):
        sim = x[lo : lo + 4096] @ x.T
        q, n = np.nonzero(sim >= threshold)
        hits |= {(int(a) + lo, int(b)) for a, b in zip(q, n, strict=True) if a + lo != b}
    return hits


def search_hits(search: NeighborSearch, x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    q, n, _ = neighbors_above(search, x, threshold, 8)
    return {(int(a), int(b)) for a, b in zip(q, n, strict=True) if a != b}


def test_exact_mode_returns_the_brute_force_neighbours():
    x = unit(np.random.default_rng(1).normal(size=(2000, 32)))
    search = NeighborSearch(x, approximate=False)
    assert not search.approximate and "exact" in search.describe()
    scores, rows = search.search(x[:300], 10)
    sim = x[:300] @ x.T
    want = np.argsort(-sim, axis=1)[:, :10]
    assert (rows == want).mean() == 1.0
    np.testing.assert_allclose(scores, np.take_along_axis(sim, want, 1), atol=1e-5)


@pytest.fixture(scope="module")
def planted_truth():
    x = planted()
    return x, brute_hits(x, 0.9)


@pytest.mark.parametrize(
    "params",
    [
        IvfParams(),
        IvfParams(cells=4.0, nprobe=16, train_per_cell=40),
        IvfParams(coarse="hnsw"),
        IvfParams(codec="sq8"),
    ],
    ids=["default", "previous", "hnsw", "sq8"],
)
def test_approximate_mode_recalls_planted_copies(params, planted_truth):
    x, exact = planted_truth
    assert len(exact) >= 300  # each planted copy and its source, both ways
    search = NeighborSearch(x, approximate=True, params=params)
    assert search.approximate and search.nlist > 1 and "IVF" in search.describe()
    found = search_hits(search, x, 0.9)
    assert found <= exact  # scores are exact: nothing below the threshold slips in
    assert len(found & exact) / len(exact) >= 0.98


def test_exact_mode_agrees_with_brute_force_hits_above_a_threshold():
    x = planted(n=3000, copies=100)
    assert search_hits(NeighborSearch(x, approximate=False), x, 0.9) == brute_hits(x, 0.9)


def test_unknown_settings_are_refused():
    x = planted(n=3000, copies=10)
    with pytest.raises(ValueError, match="flat, hnsw"):
        NeighborSearch(x, approximate=True, params=IvfParams(coarse="graph"))
