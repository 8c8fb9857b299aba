"""Classifier heads over a clip's sequence of frame vectors: linear, LSTM and TCN.

A head maps a padded batch of frame-vector sequences (B, T, D) with their lengths (B,) to
class logits (B, C). Heads are registered by name (``create_head``), trained by ``fit_head``
(Adam, early stopping on the held-out loss, best weights kept) and saved with their label set
and the provenance of the frame encoder whose vectors they read (``save_head``/``load_head``):
a head never classifies vectors of another encoder.

torch is imported only inside the functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.atomic import atomic_write
from vsearch.errors import CheckpointError
from vsearch.models.base import cpu_threads
from vsearch.registry import Registry

log = logging.getLogger(__name__)

HEAD_FORMAT = "vsearch-head/1"
HeadBuilder = Callable[[int, int, dict[str, Any]], Any]
HEADS: Registry[HeadBuilder] = Registry("classifier head")


def register_head(name: str, *, replace: bool = False) -> Callable[[HeadBuilder], HeadBuilder]:
    """Register ``builder(dim, n_classes, config) -> torch.nn.Module`` under ``name``."""
    return HEADS.register(name, replace=replace)


def list_heads() -> list[str]:
    return HEADS.names()


def create_head(
    arch: str, dim: int, n_classes: int, config: dict[str, Any] | None = None, *, seed: int = 0
) -> Any:
    """A fresh head module (torch.nn.Module) of a registered ``arch``, initialised from ``seed``
    (the caller's random state is left untouched)."""
    builder = HEADS.get(arch)
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(dim, n_classes, dict(config or {}))


@register_head("linear")
def _build_linear(dim: int, n_classes: int, config: dict[str, Any]) -> Any:
    """Mean of the window's frame vectors -> dropout -> one linear layer."""
    import torch

    from .sequence import masked_mean

    class LinearHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = torch.nn.Dropout(config.get("dropout", 0.1))
            self.fc = torch.nn.Linear(dim, n_classes)

        def forward(self, x: Any, lengths: Any) -> Any:
            return self.fc(self.drop(masked_mean(x, lengths)))

    return LinearHead()


@register_head("lstm")
def _build_lstm(dim: int, n_classes: int, config: dict[str, Any]) -> Any:
    """The bidirectional LSTM backbone; its last states of both directions and the mean of the
    frame vectors -> dropout -> one linear layer."""
    import torch

    from .sequence import BiLstm, masked_mean

    class LstmHead(BiLstm):
        def __init__(self) -> None:
            super().__init__(dim, int(config.get("hidden", 128)))
            self.drop = torch.nn.Dropout(config.get("dropout", 0.2))
            self.fc = torch.nn.Linear(self.width + dim, n_classes)

        def forward(self, x: Any, lengths: Any) -> Any:
            _, last = self.encode(x, lengths)
            return self.fc(self.drop(torch.cat([last, masked_mean(x, lengths)], dim=-1)))

    return LstmHead()


@register_head("tcn")
def _build_tcn(dim: int, n_classes: int, config: dict[str, Any]) -> Any:
    """The TCN backbone (kernel 3, dilations 1, 2); masked mean of its features -> dropout ->
    one linear layer."""
    import torch

    from .sequence import DilatedTcn, masked_mean

    class TcnHead(DilatedTcn):
        def __init__(self) -> None:
            super().__init__(dim, int(config.get("channels", 128)), kernel=3)
            self.drop = torch.nn.Dropout(config.get("dropout", 0.2))
            self.fc = torch.nn.Linear(self.width, n_classes)

        def forward(self, x: Any, lengths: Any) -> Any:
            return self.fc(self.drop(masked_mean(self.encode(x, lengths), lengths)))

    return TcnHead()


# --- training ------------------------------------------------------------------------------


@dataclass
class FitResult:
    epochs: int
    best_epoch: int
    best_val_loss: float
    history: list[tuple[float, float]] = field(default_factory=list)  # (train, val) loss


def fit_head(
    head: Any,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    max_epochs: int = 200,
    patience: int = 15,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> FitResult:
    """Train ``head`` on (x, lengths, y) with class-balanced cross-entropy; keep the weights of
    the epoch with the lowest held-out loss and stop after ``patience`` epochs without a gain."""
    import torch

    with torch.random.fork_rng(devices=[]), cpu_threads("cpu"):
        torch.manual_seed(seed)
        xt, lt, yt = (torch.from_numpy(a) for a in train)
        xv, lv, yv = (torch.from_numpy(a) for a in val)
        n_classes = int(head.fc.out_features)
        counts = torch.bincount(yt, minlength=n_classes).float()
        weights = counts.sum() / (n_classes * counts.clamp_min(1.0))
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
        best = (math.inf, 0, {k: v.clone() for k, v in head.state_dict().items()})
        result = FitResult(0, 0, math.inf)
        for epoch in range(1, max_epochs + 1):
            head.train()
            order = torch.randperm(len(yt))
            total = 0.0
            for lo in range(0, len(order), batch_size):
                idx = order[lo : lo + batch_size]
                opt.zero_grad()
                loss = loss_fn(head(xt[idx], lt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            train_loss = total / max(1, len(yt))
            head.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(head(xv, lv), yv)) if len(yv) else train_loss
            result.history.append((train_loss, val_loss))
            result.epochs = epoch
            if on_epoch is not None:
                on_epoch(epoch, train_loss, val_loss)
            if val_loss < best[0] - 1e-4:
                best = (val_loss, epoch, {k: v.clone() for k, v in head.state_dict().items()})
            elif epoch - best[1] >= patience:
                break
        head.load_state_dict(best[2])
        head.eval()
        result.best_epoch, result.best_val_loss = best[1], best[0]
    log.info("head trained %d epochs, best %d (val loss %.4f)", result.epochs, best[1], best[0])
    return result


def predict_proba(head: Any, x: np.ndarray, lengths: np.ndarray, batch: int = 256) -> np.ndarray:
    """Softmax probabilities (N, C) of a head on padded sequences."""
    import torch

    head.eval()
    out = []
    with torch.no_grad(), cpu_threads("cpu"):
        for lo in range(0, len(x), batch):
            logits = head(
                torch.from_numpy(x[lo : lo + batch]), torch.from_numpy(lengths[lo : lo + batch])
            )
            out.append(torch.softmax(logits, dim=-1).numpy())
    if not out:
        return np.zeros((0, int(head.fc.out_features)), np.float32)
    return np.concatenate(out).astype(np.float32)


# --- checkpoints ---------------------------------------------------------------------------


@dataclass
class HeadCheckpoint:
    """A trained head with what it needs to be used safely."""

    arch: str
    head: Any
    labels: list[str]
    encoder_key: str
    dim: int
    config: dict[str, Any]
    meta: dict[str, Any]
    path: Path | None = None


def save_head(ckpt: HeadCheckpoint, path: Path) -> Path:
    import torch

    record = {
        "format": HEAD_FORMAT,
        "arch": ckpt.arch,
        "labels": list(ckpt.labels),
        "encoder_key": ckpt.encoder_key,
        "dim": ckpt.dim,
        "config": ckpt.config,
        "meta": ckpt.meta,
        "state_dict": ckpt.head.state_dict(),
    }
    atomic_write(path, lambda tmp: torch.save(record, tmp))
    return path


def load_head(path: Path, *, encoder_key: str | None = None) -> HeadCheckpoint:
    """Load a head; with ``encoder_key`` refuse one trained on another encoder's vectors."""
    import torch

    if not path.is_file():
        raise CheckpointError(f"classifier checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable classifier checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != HEAD_FORMAT:
        raise CheckpointError(f"{path}: not a vsearch classifier checkpoint")
    if encoder_key is not None and data["encoder_key"] != encoder_key:
        raise CheckpointError(
            f"{path} was trained on vectors of {data['encoder_key']}, but this library holds "
            f"{encoder_key}: train a classifier for this library"
        )
    head = create_head(data["arch"], int(data["dim"]), len(data["labels"]), data["config"])
    head.load_state_dict(data["state_dict"])
    head.eval()
    return HeadCheckpoint(
        arch=data["arch"],
        head=head,
        labels=list(data["labels"]),
        encoder_key=data["encoder_key"],
        dim=int(data["dim"]),
        config=dict(data["config"]),
        meta=dict(data["meta"]),
        path=path,
    )
