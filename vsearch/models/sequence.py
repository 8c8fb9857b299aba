"""Batches of variable-length sequences of frame vectors: padding, length masks, masked means.

This module imports torch: import it inside the functions that build or run a model, never at
the top of a module that ``import vsearch`` loads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pad_sequences(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Variable-length (T_i, D) sequences -> zero-padded float32 (N, T, D), int64 lengths (N,)."""
    if not seqs:
        return np.zeros((0, 1, 0), np.float32), np.zeros(0, np.int64)
    t = max(len(s) for s in seqs)
    out = np.zeros((len(seqs), t, seqs[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, np.array([len(s) for s in seqs], dtype=np.int64)


def length_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B,) lengths -> (B, t) bool mask, True on the real steps of each sequence."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over time of (B, T, D) steps, counting only the first ``lengths[b]`` of each row."""
    m = length_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)
