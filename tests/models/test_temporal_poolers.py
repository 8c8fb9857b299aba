"""Contract of every registered temporal pooler, and its training and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import unit_sequences

from vsearch.errors import CheckpointError, UnknownModelError
from vsearch.models import TrainConfig, create_pooler, list_poolers, train_pooler

DIM = 16


def sequences(seed=0, lengths=(1, 2, 5, 9)):
    return unit_sequences(DIM, lengths, seed)


def test_registry_lists_the_three_poolers():
    assert {"mean", "lstm", "tcn"} <= set(list_poolers())
    with pytest.raises(UnknownModelError, match="known: .*mean"):
        create_pooler("gru", DIM)


@pytest.mark.parametrize("name", list_poolers())
class TestPoolerContract:
    def test_float32_unit_rows_for_variable_lengths(self, name):
        out = create_pooler(name, DIM).pool(sequences())
        assert out.dtype == np.float32 and out.shape == (4, DIM)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)

    def test_deterministic_and_independent_of_batch_mates(self, name):
        seqs = sequences()
        a = create_pooler(name, DIM).pool(seqs)
        b = create_pooler(name, DIM).pool(seqs[::-1])[::-1]
        c = create_pooler(name, DIM).pool(seqs[2:3])
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a[2:3], c, atol=1e-5)

    def test_empty_list(self, name):
        assert create_pooler(name, DIM).pool([]).shape == (0, DIM)


def clustered_clips(n, seed):
    """Clips sharing one large common component (as frames of one library do), plus a clip's
    own centre and drift: mean pooling keeps the common part, a learned head can remove it."""
    rng = np.random.default_rng(seed)
    common = np.random.default_rng(99).normal(size=(1, DIM)) * 2.0
    out = []
    for _ in range(n):
        centre = rng.normal(size=(1, DIM))
        drift = rng.normal(size=(1, DIM))
        t = np.linspace(0, 1, 6)[:, None]
        x = (common + centre + t * drift + 0.6 * rng.normal(size=(6, DIM))).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["lstm", "tcn"])
def test_training_lowers_the_loss_and_round_trips_a_checkpoint(arch, tmp_path):
    from vsearch.models.temporal import evaluate_loss

    train, val = clustered_clips(96, 0), clustered_clips(32, 1)
    cfg = TrainConfig(epochs=6, batch_size=32, lr=3e-3, noise=1.0, shift=0.0)
    losses = []
    result = train_pooler(arch, DIM, train, val, cfg, device="cpu", on_step=losses.append)
    assert len(losses) == 6 * 3
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    untrained = evaluate_loss(create_pooler(arch, DIM, device="cpu"), val, cfg)
    assert result.best_val_loss <= untrained
    path = tmp_path / "p.pt"
    result.pooler.save(path, encoder="colorgrid-key")
    again = create_pooler(arch, DIM, path)
    assert again.provenance["encoder"] == "colorgrid-key"
    np.testing.assert_allclose(again.pool(val), result.pooler.pool(val), atol=1e-5)
    with pytest.raises(CheckpointError):
        create_pooler(arch, DIM + 1, path)
    with pytest.raises(CheckpointError):
        create_pooler("tcn" if arch == "lstm" else "lstm", DIM, path)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        create_pooler(arch, DIM, tmp_path / "bad.pt")


def test_clips_of_one_video_are_not_each_others_negatives():
    """Overlapping windows of a video share frames: as negatives they would teach the model to
    pull apart what copy search must bring together."""
    from vsearch.models.temporal import evaluate_loss

    clips = clustered_clips(6, 2)
    twins = clips[:3] + [c[::-1].copy() for c in clips[:3]] + clips[3:]  # 3 pairs of twins
    pooler = create_pooler("tcn", DIM, device="cpu")
    cfg = TrainConfig(batch_size=16)
    apart = evaluate_loss(pooler, twins, cfg)
    grouped = evaluate_loss(pooler, twins, cfg, groups=[0, 1, 2, 0, 1, 2, 3, 4, 5])
    assert grouped < apart - 0.2
    with pytest.raises(Exception, match="one group per clip"):
        evaluate_loss(pooler, twins, cfg, groups=[0, 1])


def test_cpu_work_runs_on_one_thread_and_restores_the_setting():
    """Two OpenMP runtimes (faiss and torch) in one process made a training step 200x slower
    on 2 threads; the poolers' CPU work runs on one."""
    import torch

    from vsearch.models.temporal import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads("cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads("cuda:0"):
        assert torch.get_num_threads() == before
