"""Checkpoints written by earlier versions of vsearch still load and give the same outputs.

``data/`` holds pooler (``vsearch-temporal-v1``) and head (``vsearch-head/1``) checkpoints
written by vsearch 3520ade with every parameter set to seeded random values, and
``legacy-outputs.npz`` the four input sequences and what that version output for them. Never
regenerate these files with the current code: they stand for the files users already have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vsearch.models import create_pooler

DATA = Path(__file__).parent / "data"
DIM = 8


@pytest.fixture(scope="module")
def legacy():
    with np.load(DATA / "legacy-outputs.npz") as f:
        out = dict(f)
    out["inputs"] = [out.pop(f"input_{i}") for i in range(4)]
    return out


@pytest.mark.parametrize("arch", ["lstm", "tcn"])
def test_pooler_checkpoints_of_before_load_and_pool_alike(legacy, arch):
    pooler = create_pooler(arch, DIM, DATA / f"pooler-{arch}.pt", device="cpu")
    assert pooler.provenance["encoder"] == "legacy"
    np.testing.assert_allclose(pooler.pool(legacy["inputs"]), legacy[f"pooler_{arch}"], atol=1e-6)


@pytest.mark.parametrize("arch", ["linear", "lstm", "tcn"])
def test_head_checkpoints_of_before_load_and_classify_alike(legacy, arch):
    from vsearch.models.heads import load_head, predict_proba
    from vsearch.models.sequence import pad_sequences

    ckpt = load_head(DATA / f"head-{arch}.pt", encoder_key="legacy:key")
    assert ckpt.arch == arch and ckpt.labels == ["a", "b", "c"]
    x, lengths = pad_sequences(legacy["inputs"])
    np.testing.assert_allclose(
        predict_proba(ckpt.head, x, lengths), legacy[f"head_{arch}"], atol=1e-6
    )
