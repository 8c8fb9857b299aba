"""The sequence backbones that temporal poolers and classifier heads build on."""

from __future__ import annotations

import numpy as np
import pytest

DIM = 8


def test_padding_and_masked_mean_ignore_what_lies_past_each_end():
    import torch

    from vsearch.models.sequence import masked_mean, pad_sequences

    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(n, 3)).astype(np.float32) for n in (2, 5, 1)]
    x, lengths = pad_sequences(seqs)
    assert x.shape == (3, 5, 3) and x.dtype == np.float32 and lengths.tolist() == [2, 5, 1]
    assert not x[0, 2:].any() and not x[2, 1:].any()
    x[0, 2:] = 99.0  # whatever lies in the padding
    means = masked_mean(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    np.testing.assert_allclose(means, [s.mean(axis=0) for s in seqs], atol=1e-6)
    empty, no_lengths = pad_sequences([])
    assert empty.shape[0] == 0 and no_lengths.shape == (0,)


@pytest.mark.parametrize("backbone", ["lstm", "tcn"])
def test_a_sequence_encodes_alike_alone_and_padded_in_a_batch(backbone):
    """Padding never leaks into the real steps: what a backbone makes of a sequence does not
    depend on the longer sequences it is batched with."""
    import torch

    from vsearch.models.sequence import BiLstm, DilatedTcn, pad_sequences

    torch.manual_seed(0)
    net = BiLstm(DIM, 6) if backbone == "lstm" else DilatedTcn(DIM, 6, kernel=3)
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(n, DIM)).astype(np.float32) for n in (3, 7)]
    with torch.no_grad():
        x, lengths = (torch.from_numpy(a) for a in pad_sequences(seqs))
        batch = net.encode(x, lengths)
        alone = net.encode(x[:1, :3], lengths[:1])
    steps_b, steps_a = (batch[0], alone[0]) if backbone == "lstm" else (batch, alone)
    assert steps_b.shape == (2, 7, net.width)
    torch.testing.assert_close(steps_b[:1, :3], steps_a, atol=1e-5, rtol=0)
    assert not steps_b[0, 3:].any()
    if backbone == "lstm":  # last states: forward at the real end, backward at the start
        torch.testing.assert_close(batch[1][:1], alone[1], atol=1e-5, rtol=0)
        torch.testing.assert_close(batch[1][0, :6], steps_b[0, 2, :6])
        torch.testing.assert_close(batch[1][0, 6:], steps_b[0, 0, 6:])
