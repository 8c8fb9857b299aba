"""Temporal poolers: a clip's frame vectors (T, dim) -> one clip vector (dim,).

Registry of poolers with one factory, ``create_pooler(name, dim, checkpoint=None)``:

* ``mean``: the L2-normalised mean of the frame vectors. Parameter-free; the default.
* ``lstm``: a bidirectional LSTM over the frames, its masked-mean output projected back to
  ``dim`` and added to the mean (a residual on the mean pooling).
* ``tcn``: two dilated 1-D convolution blocks (a temporal convolutional network), same
  residual head.

The learned heads start at zero, so an untrained ``lstm``/``tcn`` equals ``mean``; they learn
from the library's own frame vectors without labels (``train_pooler``: two augmented views of
a clip must agree, InfoNCE with the clips of other videos as negatives; the other clips of the
same video overlap it or repeat its shot, so they are no reliable negatives and are left out).
torch is imported lazily.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vsearch.atomic import atomic_write
from vsearch.errors import CheckpointError, UnknownModelError, UsageError
from vsearch.registry import Registry

from .base import cpu_threads, file_sha256, l2_normalize, resolve_device

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "vsearch-temporal-v1"


class TemporalPooler(Protocol):
    """Pools variable-length sequences of frame vectors into L2-normalised clip vectors."""

    name: str
    dim: int

    def pool(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """List of float32 (T_i, dim) arrays (T_i >= 1) -> float32 (n, dim), unit rows."""
        ...


PoolerBuilder = Callable[[int, "str | None", str], TemporalPooler]
POOLERS: Registry[PoolerBuilder] = Registry("temporal pooler")


def register_pooler(
    name: str, *, replace: bool = False
) -> Callable[[PoolerBuilder], PoolerBuilder]:
    """Register ``builder(dim, checkpoint or None, device) -> TemporalPooler`` under ``name``."""
    return POOLERS.register(name, replace=replace)


def list_poolers() -> list[str]:
    return POOLERS.names()


def create_pooler(
    name: str, dim: int, checkpoint: str | Path | None = None, *, device: str = "auto"
) -> TemporalPooler:
    """The pooler ``name`` for vectors of ``dim``; learned ones load ``checkpoint`` if given."""
    builder = POOLERS.get((name or "").strip().lower())
    if dim <= 0:
        raise UsageError(f"pooler dimension must be positive, got {dim}")
    return builder(dim, str(checkpoint) if checkpoint is not None else None, device)


def _check_sequences(sequences: Sequence[np.ndarray], dim: int) -> list[np.ndarray]:
    out = []
    for seq in sequences:
        arr = np.asarray(seq, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] == 0:
            raise UsageError(f"pooler expects non-empty (T, {dim}) sequences, got {arr.shape}")
        out.append(arr)
    return out


class MeanPooler:
    """The normalised mean of a clip's frame vectors."""

    name = "mean"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def pool(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        seqs = _check_sequences(sequences, self.dim)
        if not seqs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.stack([s.mean(axis=0) for s in seqs]))


@register_pooler("mean")
def _build_mean(dim: int, checkpoint: str | None, device: str) -> TemporalPooler:
    if checkpoint is not None:
        raise CheckpointError("the 'mean' pooler has no weights: it takes no checkpoint")
    return MeanPooler(dim)


# --- learned poolers -------------------------------------------------------------------------


DEFAULT_HPARAMS: dict[str, dict[str, Any]] = {
    "lstm": {"hidden": 128},
    "tcn": {"hidden": 128, "kernel": 3},
}


def _build_module(arch: str, dim: int, hparams: dict[str, Any]) -> Any:
    """The pooler network: a sequence backbone whose features read out as a residual on the
    mean, normalize(mean(x) + proj(masked mean of the features)); ``proj`` starts at zero."""
    import torch
    from torch import nn

    from .sequence import BiLstm, DilatedTcn, masked_mean

    class _Head(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.proj = nn.Linear(width, dim)
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

        def forward(self, x, feats, lengths):  # x (B,T,D), feats (B,T,H), lengths (B,)
            extra = self.proj(masked_mean(feats, lengths))
            return nn.functional.normalize(masked_mean(x, lengths) + extra, dim=-1)

    class LstmModule(BiLstm):
        def __init__(self) -> None:
            super().__init__(dim, int(hparams["hidden"]))
            self.head = _Head(self.width)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            steps, _ = self.encode(x, lengths)
            return self.head(x, steps, lengths)

    class TcnModule(DilatedTcn):
        def __init__(self) -> None:
            super().__init__(dim, int(hparams["hidden"]), int(hparams["kernel"]))
            self.head = _Head(self.width)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.head(x, self.encode(x, lengths), lengths)

    return {"lstm": LstmModule, "tcn": TcnModule}[arch]()


class TorchPooler:
    """An LSTM or TCN pooler (``LstmPooler``/``TcnPooler``); runs on the GPU when present."""

    batch_size = 256

    def __init__(
        self,
        arch: str,
        dim: int,
        device: str = "auto",
        hparams: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        import torch

        self.name = arch
        self.dim = dim
        self.hparams = {**DEFAULT_HPARAMS[arch], **(hparams or {})}
        self.provenance = provenance or {}
        self.device = resolve_device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.module = _build_module(arch, dim, self.hparams)
        if state is not None:
            try:
                self.module.load_state_dict(state)
            except (RuntimeError, KeyError) as exc:
                raise CheckpointError(f"{arch} checkpoint does not fit the model: {exc}") from exc
        self.module.to(self.device).eval()

    def forward(self, sequences: Sequence[np.ndarray]) -> Any:
        """Differentiable pooling (for training): a torch tensor (n, dim)."""
        import torch

        from .sequence import pad_sequences

        x, lengths = pad_sequences(sequences)
        return self.module(
            torch.from_numpy(x).to(self.device), torch.from_numpy(lengths).to(self.device)
        )

    def pool(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        seqs = _check_sequences(sequences, self.dim)
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        self.module.eval()
        with torch.inference_mode(), cpu_threads(self.device):
            for lo in range(0, len(seqs), self.batch_size):
                part = seqs[lo : lo + self.batch_size]
                out[lo : lo + len(part)] = self.forward(part).float().cpu().numpy()
        return l2_normalize(out)

    def save(self, path: str | Path, **provenance: Any) -> str:
        """Write a checkpoint with its provenance (atomically); return its sha256."""
        import torch

        path = Path(path)
        record: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "arch": self.name,
            "dim": self.dim,
            "hparams": self.hparams,
            "provenance": {"date": dt.date.today().isoformat(), **provenance},
            "state": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
        }
        atomic_write(path, lambda tmp: torch.save(record, tmp))
        self.provenance = record["provenance"]
        return file_sha256(path)

    def __repr__(self) -> str:
        return f"TorchPooler({self.name!r}, dim={self.dim}, device={self.device!r})"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The record of a temporal checkpoint (arch, dim, hparams, provenance, state)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"temporal checkpoint not found: {path}")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"{path}: unreadable temporal checkpoint ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a vsearch temporal checkpoint")
    return record


def _learned_builder(arch: str) -> PoolerBuilder:
    def build(dim: int, checkpoint: str | None, device: str) -> TemporalPooler:
        if checkpoint is None:
            return TorchPooler(arch, dim, device)
        record = read_checkpoint(checkpoint)
        if record["arch"] != arch:
            raise CheckpointError(f"{checkpoint}: a {record['arch']} checkpoint, not {arch}")
        if int(record["dim"]) != dim:
            raise CheckpointError(
                f"{checkpoint}: trained for vectors of dim {record['dim']}, not {dim}"
            )
        return TorchPooler(
            arch, dim, device, record["hparams"], record["provenance"], record["state"]
        )

    return build


register_pooler("lstm")(_learned_builder("lstm"))
register_pooler("tcn")(_learned_builder("tcn"))


# --- self-supervised training -----------------------------------------------------------------


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    temperature: float = 0.1
    noise: float = 0.3  # norm of the gaussian noise added to each unit frame vector
    shift: float = 0.3  # norm of one gaussian offset added to every frame of a view
    dropout: float = 0.2  # probability of dropping a frame
    seed: int = 0
    hparams: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "temperature": self.temperature,
            "noise": self.noise,
            "shift": self.shift,
            "dropout": self.dropout,
            "seed": self.seed,
            **self.hparams,
        }


@dataclass
class TrainResult:
    pooler: TorchPooler
    train_loss: list[float]
    val_loss: list[float]
    best_epoch: int

    @property
    def best_val_loss(self) -> float:
        return self.val_loss[self.best_epoch]


def augment_clip(seq: np.ndarray, rng: np.random.Generator, cfg: TrainConfig) -> np.ndarray:
    """One random view of a clip: temporal crop, speed change, frame dropout, feature noise
    and an appearance shift common to all its frames.

    Per-frame noise averages out in a mean, so on its own it leaves two views of a clip almost
    equal under mean pooling and the task nothing to learn; the common shift stands for a
    global change of the copy (colour, crop, overlay) that pooling cannot average away.
    """
    n = len(seq)
    keep = max(1, int(math.ceil(n * rng.uniform(0.6, 1.0))))
    lo = int(rng.integers(0, n - keep + 1))
    view = seq[lo : lo + keep]
    speed = rng.random()
    if speed < 0.25 and len(view) >= 3:
        view = view[:: 2 if rng.random() < 0.7 else 3]  # faster: fewer frames
    elif speed < 0.45:
        view = np.repeat(view, 2, axis=0)[: max(2 * len(view) - 1, 1)]  # slower
    drop = rng.random(len(view)) < cfg.dropout
    if drop.all():
        drop[int(rng.integers(len(view)))] = False
    view = view[~drop]
    noise = rng.normal(size=view.shape).astype(np.float32)
    noise *= cfg.noise / math.sqrt(view.shape[1])
    view = view + noise
    if cfg.shift > 0:
        shift = rng.normal(size=(1, view.shape[1])).astype(np.float32)
        view = view + shift * (cfg.shift / math.sqrt(view.shape[1]))
    return l2_normalize(view)


def train_pooler(
    arch: str,
    dim: int,
    train_clips: Sequence[np.ndarray],
    val_clips: Sequence[np.ndarray],
    cfg: TrainConfig | None = None,
    *,
    device: str = "auto",
    on_step: Callable[[float], None] | None = None,
    train_groups: Sequence[int] | None = None,
    val_groups: Sequence[int] | None = None,
) -> TrainResult:
    """Train an ``arch`` pooler on unlabelled clips (InfoNCE on two views of each clip).

    Each batch holds B clips; the two views of a clip are positives and the views of the
    other clips negatives (symmetric NT-Xent), except clips of the same group (video) given
    by ``train_groups``/``val_groups``, which are left out of each other's negatives. The
    weights with the lowest validation loss are kept. ``on_step(loss)`` is called after every
    batch.
    """
    import torch

    cfg = cfg or TrainConfig()
    if arch not in DEFAULT_HPARAMS:
        raise UnknownModelError(
            f"unknown trainable pooler '{arch}'; known: {', '.join(DEFAULT_HPARAMS)}"
        )
    if len(train_clips) < 4 or len(val_clips) < 2:
        raise UsageError(
            f"too few clips to train on ({len(train_clips)} train, {len(val_clips)} validation):"
            " index more video first"
        )
    train_clips = _check_sequences(train_clips, dim)
    val_clips = _check_sequences(val_clips, dim)
    train_g = _groups(train_groups, len(train_clips))
    val_g = _groups(val_groups, len(val_clips))
    rng = np.random.default_rng(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        pooler = TorchPooler(arch, dim, device, cfg.hparams)
        with cpu_threads(pooler.device):
            result = _train(pooler, train_clips, val_clips, train_g, val_g, rng, cfg, on_step)
    log.info(
        "%s pooler: val loss %.4f at epoch %d of %d",
        arch,
        result.best_val_loss,
        result.best_epoch + 1,
        cfg.epochs,
    )
    return result


def _train(pooler, train_clips, val_clips, train_g, val_g, rng, cfg, on_step) -> TrainResult:
    """The epochs of ``train_pooler``."""
    import torch

    opt = torch.optim.AdamW(pooler.module.parameters(), lr=cfg.lr, weight_decay=1e-4)
    train_hist: list[float] = []
    val_hist: list[float] = []
    best_state, best_epoch = None, 0
    for _epoch in range(cfg.epochs):
        pooler.module.train()
        order = rng.permutation(len(train_clips))
        losses = []
        for lo in range(0, len(order), cfg.batch_size):
            idx = order[lo : lo + cfg.batch_size]
            if len(idx) < 2:
                continue
            loss = _batch_loss(pooler, [train_clips[i] for i in idx], rng, cfg, train_g[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(losses[-1])
        train_hist.append(float(np.mean(losses)) if losses else float("nan"))
        val_hist.append(evaluate_loss(pooler, val_clips, cfg, val_g))
        if val_hist[-1] <= val_hist[best_epoch] or best_state is None:
            best_epoch = len(val_hist) - 1
            best_state = {k: v.detach().clone() for k, v in pooler.module.state_dict().items()}
    if best_state is not None:
        pooler.module.load_state_dict(best_state)
    pooler.module.eval()
    return TrainResult(pooler, train_hist, val_hist, best_epoch)


def _groups(groups: Sequence[int] | None, n: int) -> np.ndarray:
    """Group of each clip (its own when none given)."""
    if groups is None:
        return np.arange(n)
    out = np.asarray(groups, dtype=np.int64)
    if out.shape != (n,):
        raise UsageError(f"need one group per clip: {out.shape[0]} groups for {n} clips")
    return out


def _batch_loss(
    pooler: TorchPooler,
    clips: Sequence[np.ndarray],
    rng: np.random.Generator,
    cfg: TrainConfig,
    groups: np.ndarray,
) -> Any:
    import torch

    views_a = [augment_clip(c, rng, cfg) for c in clips]
    views_b = [augment_clip(c, rng, cfg) for c in clips]
    z = pooler.forward(views_a + views_b)
    n = len(clips)
    sim = z @ z.T / cfg.temperature
    g = torch.from_numpy(np.concatenate([groups, groups])).to(sim.device)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(sim.device)
    excluded = g[:, None] == g[None, :]  # itself and the clips of its own video...
    excluded[torch.arange(2 * n), target] = False  # ...but not its positive
    sim = sim.masked_fill(excluded, float("-inf"))
    return torch.nn.functional.cross_entropy(sim, target)


def evaluate_loss(
    pooler: TorchPooler,
    clips: Sequence[np.ndarray],
    cfg: TrainConfig | None = None,
    groups: Sequence[int] | None = None,
) -> float:
    """InfoNCE loss on fixed (seeded) views of ``clips``, in batches of ``cfg.batch_size``.

    Its value depends on the clips (how many share a batch, how alike they are), so compare
    it only with the loss of another pooler on the same clips (e.g. the untrained one).
    """
    import torch

    cfg = cfg or TrainConfig()
    clips = _check_sequences(clips, pooler.dim)
    g = _groups(groups, len(clips))
    rng = np.random.default_rng(12345)
    pooler.module.eval()
    losses, weights = [], []
    with torch.inference_mode():
        for lo in range(0, len(clips), cfg.batch_size):
            part = clips[lo : lo + cfg.batch_size]
            if len(part) < 2:
                continue
            losses.append(float(_batch_loss(pooler, part, rng, cfg, g[lo : lo + len(part)])))
            weights.append(len(part))
    return float(np.average(losses, weights=weights)) if losses else float("nan")
