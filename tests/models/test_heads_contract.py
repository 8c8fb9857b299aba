"""One contract, run against every registered classifier head (random weights, tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import unit_sequences

from vsearch.errors import UnknownModelError
from vsearch.models.heads import (
    HeadCheckpoint,
    create_head,
    list_heads,
    load_head,
    predict_proba,
    save_head,
)
from vsearch.models.sequence import pad_sequences

DIM, CLASSES = 12, 3


def sequences(seed=0, lengths=(1, 3, 7, 4)):
    return unit_sequences(DIM, lengths, seed)


def logits(head, seqs, pad_to=0):
    import torch

    x, lengths = pad_sequences(seqs)
    if pad_to > x.shape[1]:
        x = np.concatenate([x, np.full((len(x), pad_to - x.shape[1], DIM), 9.0, np.float32)], 1)
    head.eval()
    with torch.no_grad():
        return head(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()


def test_registry_lists_the_three_heads():
    assert {"linear", "lstm", "tcn"} <= set(list_heads())
    with pytest.raises(UnknownModelError, match="known: linear, lstm, tcn"):
        create_head("gru", DIM, CLASSES)


@pytest.mark.parametrize("arch", list_heads())
class TestHeadContract:
    def test_float32_logits_per_sequence_and_class(self, arch):
        head = create_head(arch, DIM, CLASSES, {"hidden": 8, "channels": 8})
        out = logits(head, sequences())
        assert out.dtype == np.float32 and out.shape == (4, CLASSES)
        assert np.all(np.isfinite(out))
        assert head.fc.out_features == CLASSES  # fit_head and predict_proba read it

    def test_padding_and_batch_mates_do_not_matter(self, arch):
        head = create_head(arch, DIM, CLASSES)
        seqs = sequences()
        together = logits(head, seqs)
        np.testing.assert_allclose(logits(head, seqs, pad_to=12), together, atol=1e-5)
        np.testing.assert_allclose(logits(head, seqs[2:3]), together[2:3], atol=1e-5)

    def test_seeded_initialisation(self, arch):
        import torch

        torch.manual_seed(123)
        before = torch.rand(1)
        torch.manual_seed(123)
        a, b = create_head(arch, DIM, CLASSES, seed=1), create_head(arch, DIM, CLASSES, seed=1)
        assert torch.rand(1) == before  # the caller's random state is left alone
        np.testing.assert_array_equal(logits(a, sequences()), logits(b, sequences()))
        other = create_head(arch, DIM, CLASSES, seed=2)
        assert not np.allclose(logits(other, sequences()), logits(a, sequences()))

    def test_probabilities_and_checkpoint_roundtrip(self, arch, tmp_path):
        head = create_head(arch, DIM, CLASSES)
        x, lengths = pad_sequences(sequences())
        probs = predict_proba(head, x, lengths)
        assert probs.dtype == np.float32 and probs.shape == (4, CLASSES)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        ckpt = HeadCheckpoint(arch, head, ["a", "b", "c"], "enc:key", DIM, {}, {})
        back = load_head(save_head(ckpt, tmp_path / "head.pt"), encoder_key="enc:key")
        assert back.arch == arch and back.labels == ["a", "b", "c"]
        np.testing.assert_allclose(predict_proba(back.head, x, lengths), probs, atol=1e-6)
