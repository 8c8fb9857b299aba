"""Every registered VectorIndex agrees with the numpy flat reference."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.errors import UnknownModelError
from vsearch.index import create_index, list_indexes, load_index


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=list_indexes())
def kind(request) -> str:
    return request.param


class TestIndexContract:
    def test_search_agrees_with_reference(self, kind):
        vecs, queries = unit(300, 16, 0), unit(7, 16, 1)
        ids = np.arange(1000, 1300, dtype=np.int64)
        ix, ref = create_index(kind, 16), create_index("numpy", 16)
        ix.add(ids, vecs)
        ref.add(ids, vecs)
        s1, i1 = ix.search(queries, 10)
        s2, i2 = ref.search(queries, 10)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(s1, s2, atol=1e-5)

    def test_remove_and_ids(self, kind):
        ix = create_index(kind, 8)
        ix.add(np.arange(10), unit(10, 8, 2))
        assert ix.remove(np.array([3, 4, 99])) == 2
        assert ix.ntotal == 8
        assert sorted(ix.ids().tolist()) == [0, 1, 2, 5, 6, 7, 8, 9]
        _, found = ix.search(unit(3, 8, 3), 8)
        assert not set(found.ravel().tolist()) & {3, 4}

    def test_k_larger_than_index_pads_with_minus_one(self, kind):
        ix = create_index(kind, 8)
        ix.add(np.arange(3), unit(3, 8, 4))
        scores, ids = ix.search(unit(1, 8, 5), 5)
        assert ids[0, 3:].tolist() == [-1, -1]
        assert np.isneginf(scores[0, 3:]).all()

    def test_empty_index(self, kind):
        scores, ids = create_index(kind, 4).search(unit(2, 4, 6), 3)
        assert ids.shape == (2, 3) and (ids == -1).all()

    def test_save_load_roundtrip_is_atomic(self, kind, tmp_path):
        ix = create_index(kind, 8)
        ix.add(np.arange(5), unit(5, 8, 7))
        path = tmp_path / "x.index"
        ix.save(path)
        assert [p.name for p in tmp_path.iterdir()] == ["x.index"]  # no temp file left
        back = load_index(kind, path)
        assert sorted(back.ids().tolist()) == [0, 1, 2, 3, 4]
        q = unit(2, 8, 8)
        np.testing.assert_array_equal(back.search(q, 3)[1], ix.search(q, 3)[1])

    def test_wrong_dimension_is_refused(self, kind):
        ix = create_index(kind, 8)
        with pytest.raises(Exception, match="dimension"):
            ix.add(np.arange(2), unit(2, 4, 9))


def test_unknown_kind_lists_known():
    with pytest.raises(UnknownModelError, match="faiss"):
        create_index("annoy", 8)


def test_corrupt_file_raises_index_file_error(tmp_path):
    from vsearch.index import IndexFileError

    bad = tmp_path / "bad.faiss"
    bad.write_bytes(b"not an index")
    for kind in list_indexes():
        with pytest.raises(IndexFileError):
            load_index(kind, bad)
