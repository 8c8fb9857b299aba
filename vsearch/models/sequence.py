"""Sequence backbones over a clip's frame vectors, shared by temporal poolers and classifier heads.

One owner for what both need: padding variable-length numpy sequences into a batch with their
lengths, the length mask and the masked mean, a bidirectional LSTM over packed sequences
(``BiLstm``) and a temporal convolutional network of dilated residual 1-D convolutions
(``DilatedTcn``). A pooler or a head subclasses a backbone and adds its own read-out, so the
backbone's parameters keep their names (``lstm.*``, ``inp.*``, ``blocks.*``) in every
checkpoint.

This module imports torch: import it inside the functions that build or run a model, never at
the top of a module that ``import vsearch`` loads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


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


class BiLstm(nn.Module):
    """A one-layer bidirectional LSTM over packed padded sequences of ``dim``-vectors."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.width = 2 * hidden

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, dim) and (B,) -> the outputs of every step (B, T, width), zero after each
        sequence's end, and the last states of both directions (B, width)."""
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, (h, _) = self.lstm(packed)
        steps, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return steps, torch.cat([h[-2], h[-1]], dim=-1)


class DilatedTcn(nn.Module):
    """A temporal convolutional network: a 1x1 input convolution to ``channels``, then one
    residual block ``h + relu(conv(h))`` per dilation, each a ``kernel``-wide convolution that
    keeps the length; steps past a sequence's end are zeroed after every layer so they never
    leak into its real steps."""

    def __init__(
        self, dim: int, channels: int, kernel: int = 3, dilations: Sequence[int] = (1, 2)
    ) -> None:
        super().__init__()
        self.inp = nn.Conv1d(dim, channels, 1)
        self.blocks = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=d * (kernel - 1) // 2, dilation=d)
            for d in dilations
        )
        self.width = channels

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) and (B,) -> the features of every step (B, T, channels), zero after each
        sequence's end."""
        m = length_mask(lengths, x.shape[1]).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        h = self.inp(x.transpose(1, 2)) * m
        for conv in self.blocks:
            h = (h + torch.relu(conv(h))) * m
        return h.transpose(1, 2)
