"""Without a FAISS build (vsearch installed with neither the cpu nor the gpu extra), commands
say which extra to install instead of failing with an import traceback."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vsearch.errors import FaissNotFoundError
from vsearch.index._faiss import load_faiss


def test_missing_faiss_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now raises ImportError
    with pytest.raises(FaissNotFoundError, match=r"vsearch-video\[cpu\]"):
        load_faiss()


def test_index_creation_without_faiss_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsearch.index.faiss_index import FaissIndex

    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(FaissNotFoundError):
        index = FaissIndex(dim=8)
        index.add(np.zeros((1, 8), dtype=np.float32), np.array([1]))


def test_installed_faiss_loads() -> None:
    assert hasattr(load_faiss(), "IndexFlatIP")
