"""IVF indexes: exact when every cell is probed, recall measured and tuned, files round-trip;
the streamed build; the exact torch searcher agrees with the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.index import create_index, load_index
from vsearch.index.approx import (
    EXACT,
    IndexSetting,
    IvfIndex,
    choose_setting,
    default_nlist,
    recall_at_k,
)
from vsearch.index.build import build_index, load_card, needs_rebuild, save_card


def clustered(n: int, dim: int = 32, centres: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres, like the frames of many videos."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chunks(ids: np.ndarray, vecs: np.ndarray, size: int = 700):
    return lambda: ((ids[i : i + size], vecs[i : i + size]) for i in range(0, len(ids), size))


@pytest.mark.parametrize("codec", ["flat", "sq16", "sq8", "sq6", "sq4", "pq"])
def test_probing_every_cell_agrees_with_exact_search(codec):
    vecs = clustered(3000)
    ids = np.arange(5000, 8000, dtype=np.int64)
    setting = IndexSetting("ivf", codec, 16, pq_m=8 if codec == "pq" else 0)
    ivf = IvfIndex.train(32, setting, vecs)
    ivf.add(ids, vecs)
    ivf.nprobe = 16
    ref = create_index("numpy", 32)
    ref.add(ids, vecs)
    q = clustered(50, seed=1)
    found, truth = ivf.search(q, 10)[1], ref.search(q, 10)[1]
    floor = {"flat": 1.0, "sq16": 0.99, "sq8": 0.97, "sq6": 0.9, "sq4": 0.7, "pq": 0.5}[
        codec
    ]  # codes cost recall
    assert recall_at_k(found, truth) >= floor
    assert sorted(ivf.ids().tolist()) == ids.tolist()


def test_remove_save_load_roundtrip(tmp_path):
    vecs = clustered(2000)
    ivf = IvfIndex.train(32, IndexSetting("ivf", "sq8", 8), vecs)
    ivf.add(np.arange(2000), vecs)
    assert ivf.remove(np.array([3, 4, 99999])) == 2
    ivf.nprobe = 5
    path = tmp_path / "frames.faiss"
    ivf.save(path)
    back = load_index("faiss", path)  # the library's loader returns what the file holds
    assert isinstance(back, IvfIndex)
    assert back.setting == ivf.setting and back.nprobe == 5 and back.ntotal == 1998
    _, found = back.search(vecs[:20], 5)
    assert not set(found.ravel().tolist()) & {3, 4}
    assert found[5:, 0].tolist() == list(range(5, 20))  # each stored vector finds itself


def test_choose_setting_by_size(monkeypatch):
    monkeypatch.setattr("vsearch.index.approx.APPROX_MIN_VECTORS", 1000)
    assert choose_setting(999, 64) == EXACT
    big = choose_setting(100_000, 64)
    assert big.approximate and big.codec == "sq8" and big.nlist == default_nlist(100_000)
    assert big.bytes_per_vector(64) == 64 + 8 and EXACT.bytes_per_vector(64) == 4 * 64 + 8
    monkeypatch.setattr("vsearch.index.approx.COMPACT_MIN_BYTES", 10**6)
    assert choose_setting(100_000, 64).codec == "sq6"  # compact codes for a large library
    assert needs_rebuild(EXACT, 500, 999, 64) is None
    assert needs_rebuild(EXACT, 500, 5000, 64).approximate
    ivf = choose_setting(5000, 64)
    assert needs_rebuild(ivf, 5000, 7000, 64) is None  # grown, but not twice
    assert needs_rebuild(ivf, 5000, 12000, 64) is not None  # retrained when twice as large
    assert needs_rebuild(ivf, 5000, 400, 64) == EXACT  # shrunk below half the threshold


def test_streamed_build_measures_recall_and_tunes_nprobe(tmp_path, monkeypatch):
    monkeypatch.setattr("vsearch.index.approx.APPROX_MIN_VECTORS", 1000)
    vecs = clustered(6000, dim=48)
    ids = np.arange(1, 6001, dtype=np.int64)
    index, card = build_index(48, 6000, chunks(ids, vecs), recall_queries=200)
    assert isinstance(index, IvfIndex) and index.ntotal == 6000
    assert card.recall_at_10 >= 0.95 and card.nprobe == index.nprobe
    assert card.nprobe_recall[str(card.nprobe)] == card.recall_at_10
    assert card.bytes_per_vector == 48 + 8 and card.trained_on <= 6000
    # the recall on the card is the recall a fresh set of near-copy queries gets
    q = vecs[::60] + 0.02 * np.random.default_rng(5).normal(size=(100, 48)).astype(np.float32)
    ref = create_index("numpy", 48)
    ref.add(ids, vecs)
    assert recall_at_k(index.search(q, 10)[1], ref.search(q, 10)[1]) >= 0.9
    save_card(card, tmp_path / "frames.faiss")
    assert load_card(tmp_path / "frames.faiss") == card
    small, small_card = build_index(48, 600, chunks(ids[:600], vecs[:600]))
    assert not small_card.index_setting.approximate and small.ntotal == 600


def test_torch_exact_search_agrees_with_reference():
    pytest.importorskip("torch")
    from vsearch.index.devices import TorchExactSearch

    vecs = clustered(500)
    ids = np.arange(100, 600, dtype=np.int64)
    ref = create_index("numpy", 32)
    ref.add(ids, vecs)
    q = clustered(9, seed=3)
    s1, i1 = TorchExactSearch(ids, vecs, "cpu").search(q, 7)
    s2, i2 = ref.search(q, 7)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-5)
    _, padded = TorchExactSearch(ids[:3], vecs[:3], "cpu").search(q, 5)
    assert (padded[:, 3:] == -1).all()


def test_codes_that_bound_recall_are_stepped_up_and_kept(tmp_path, monkeypatch):
    # Tight clusters: each vector's ten nearest differ by less than an SQ8 step, so probing
    # more cells cannot reach the target; finer codes can.
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(60, 32))
    vecs = (centres[rng.integers(0, 60, 6000)] + 0.01 * rng.normal(size=(6000, 32))).astype(
        np.float32
    )
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(6000, dtype=np.int64)
    sq8 = IndexSetting("ivf", "sq8", 16)
    index, card = build_index(32, 6000, chunks(ids, vecs), setting=sq8, recall_queries=200)
    assert card.codes_bound and next(iter(card.codes_bound)) == "sq8"
    assert card.codes_bound["sq8"] < 0.95 <= card.recall_at_10
    assert index.setting.finer_than(sq8) and card.factory == index.setting.factory(32)
    assert "sq8 codes reached only" in card.summary()
    save_card(card, tmp_path / "frames.faiss")
    assert load_card(tmp_path / "frames.faiss") == card
    back = load_index("faiss", _saved(index, tmp_path))
    assert back.setting == index.setting  # the codec is read back from the file
    # the stepped-up codes stay while they fit; past the budget the policy's codes return
    monkeypatch.setattr("vsearch.index.approx.APPROX_MIN_VECTORS", 1000)
    assert needs_rebuild(index.setting, 6000, 7000, 32) is None
    monkeypatch.setattr("vsearch.index.build.COMPACT_MIN_BYTES", 1000)
    assert needs_rebuild(index.setting, 6000, 7000, 32) is not None
    # none is stepped up past the budget
    monkeypatch.setattr("vsearch.index.approx.COMPACT_MIN_BYTES", 1000)
    assert sq8.finer(6000, 32) is None


def _saved(index, tmp_path):
    path = tmp_path / "stepped.faiss"
    index.save(path)
    return path
