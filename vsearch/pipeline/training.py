"""Training use case: a temporal pooler (LSTM/TCN) learnt from the library's own frames.

No labels: the clips of the library (the same windows as the clip index, informative frames
only) are the data; two augmented views of a clip must agree (InfoNCE, models/temporal.py).
A validation split picks the epoch: whole videos when there are at least 5 (chosen by a
seeded hash of their content hash, so the split does not depend on the order the videos were
indexed in, and copies of one video never straddle it), else clips.
The checkpoint goes into the library directory with its provenance and the clip index is
re-pooled with it; ``--arch mean`` goes back to the parameter-free pooler.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

from vsearch.errors import UsageError
from vsearch.progress import NullProgress, Progress
from vsearch.store.clips import pooler_record

if TYPE_CHECKING:
    from vsearch.models.temporal import TorchPooler
    from vsearch.store.library_store import LibraryStore
    from vsearch.types import JSONObject

log = logging.getLogger(__name__)

TRAINABLE = ("lstm", "tcn")
DEFAULT_ARCH = "tcn"
DEFAULT_EPOCHS = 30  # passes over the clips
DEFAULT_BATCH_SIZE = 128  # clips per batch
DEFAULT_LR = 2e-3  # AdamW learning rate
DEFAULT_VAL_FRACTION = 0.2  # share of videos held out for validation


@dataclass(frozen=True)
class TemporalReport:
    """What ``train_temporal`` did, one of three outcomes:

    * back to the parameter-free pooler (``arch`` "mean", no ``checkpoint``);
    * a model trained but not used: it validated no better than the one in use, which is
      kept (``kept_previous``: its checkpoint; ``checkpoint`` None);
    * a model trained and used (``checkpoint``: its file), the clips re-pooled with it.

    Losses are rounded to 4 decimals; ``val_loss_untrained`` is the same architecture before
    training, ``val_loss_previous`` the model in use before (None: none was trained).
    """

    arch: str
    checkpoint: str | None
    clips_repooled: int
    kept_previous: str | None = None
    sha256: str | None = None
    train_clips: int = 0
    val_clips: int = 0
    epochs: int = 0
    best_epoch: int = 0
    val_loss: float | None = None
    val_loss_previous: float | None = None
    val_loss_untrained: float | None = None
    train_loss: list[float] = field(default_factory=list)  # per epoch
    val_loss_history: list[float] = field(default_factory=list)  # per epoch

    def to_dict(self) -> JSONObject:
        """The JSON object of `train temporal --json` (its keys depend on the outcome)."""
        if self.kept_previous:
            return {
                "arch": self.arch,
                "checkpoint": self.checkpoint,
                "kept_previous": self.kept_previous,
                "val_loss": self.val_loss,
                "val_loss_previous": self.val_loss_previous,
                "val_loss_untrained": self.val_loss_untrained,
                "clips_repooled": self.clips_repooled,
            }
        if self.checkpoint is None:
            return {"arch": self.arch, "checkpoint": None, "clips": self.clips_repooled}
        return {
            "kept_previous": self.kept_previous,
            "val_loss_previous": self.val_loss_previous,
            "arch": self.arch,
            "checkpoint": self.checkpoint,
            "sha256": self.sha256,
            "train_clips": self.train_clips,
            "val_clips": self.val_clips,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "val_loss": self.val_loss,
            "val_loss_untrained": self.val_loss_untrained,
            "train_loss": self.train_loss,
            "val_loss_history": self.val_loss_history,
            "clips_repooled": self.clips_repooled,
        }


def _rounded(loss: float | None) -> float | None:
    return None if loss is None else round(loss, 4)


def checkpoint_name(arch: str) -> str:
    """A new name per training: the previous checkpoint stays in place, and in use, until the
    switch to the new one has committed (then it is deleted)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"temporal-{arch}-{stamp}.pt"


MIN_VIDEOS_FOR_VIDEO_SPLIT = 5


def library_clips(store: LibraryStore) -> list[tuple[str, np.ndarray]]:
    """(video key, informative frame vectors) of every stored clip of at least 2 such frames.

    The key is the video's content hash (its path when it has none): stable across runs,
    unlike the database id, which follows the order parallel decoders finished in.
    """
    out = []
    for video in store.searchable_videos():
        stored = store.clip_windows_of(video.id)
        key = video.content_hash or video.path
        vectors, informative = stored.frames.vectors, stored.frames.informative
        for w in stored.windows:
            seq = vectors[w.first : w.last][informative[w.first : w.last]]
            if len(seq) >= 2:
                out.append((key, np.ascontiguousarray(seq)))
    return out


Keyed = list[tuple[str, np.ndarray]]


def split_clips(clips: Keyed, val_fraction: float, seed: int) -> tuple[Keyed, Keyed]:
    """(train, validation) clips: held-out whole videos, else held-out clips.

    Videos are taken in the order of a seeded hash of their key until the validation set holds
    ``val_fraction`` of the clips (at least 2), so the split depends only on the keys, the
    clips and the seed. Clips are kept in the order given, with their keys.
    """
    keys = sorted({key for key, _ in clips})
    if len(keys) >= MIN_VIDEOS_FOR_VIDEO_SPLIT:
        per_key: dict[str, int] = {}
        for key, _ in clips:
            per_key[key] = per_key.get(key, 0) + 1
        want = max(2, int(round(val_fraction * len(clips))))
        held: set[str] = set()
        n_val = 0
        for key in sorted(keys, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).digest()):
            if n_val >= want or len(held) >= len(keys) - 1:
                break
            held.add(key)
            n_val += per_key[key]
        train = [kc for kc in clips if kc[0] not in held]
        val = [kc for kc in clips if kc[0] in held]
    else:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(clips))
        n_val = max(2, int(round(val_fraction * len(clips))))
        val = [clips[i] for i in sorted(order[:n_val])]
        train = [clips[i] for i in sorted(order[n_val:])]
    return train, val


def train_temporal(
    store: LibraryStore,
    arch: str = DEFAULT_ARCH,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    force: bool = False,
    progress: Progress | None = None,
) -> TemporalReport:
    """Train ``arch`` on the library's clips, save the checkpoint, re-pool the clip index.

    A model already trained stays in use when the new one's validation loss (on the same
    held-out clips) is not lower, unless ``force``. The new checkpoint gets a new file name
    and the old file is deleted only after the switch committed, so an interrupted training
    leaves the previous model working.
    """
    from vsearch.models import TrainConfig, create_pooler, train_pooler
    from vsearch.models.temporal import evaluate_loss

    arch = arch.strip().lower()
    if arch == "mean":
        with store.writing():
            n = store.use_pooler(create_pooler("mean", store.model_info.dim), None)
        return TemporalReport(arch="mean", checkpoint=None, clips_repooled=n)
    if arch not in TRAINABLE:
        raise UsageError(f"unknown temporal `arch` '{arch}'; known: mean, {', '.join(TRAINABLE)}")
    if epochs <= 0 or batch_size < 2 or not 0 < val_fraction < 1 or lr <= 0:
        raise UsageError(
            "need `epochs` > 0, `batch_size` >= 2, 0 < `val_fraction` < 1 and `lr` > 0"
        )
    progress = progress or NullProgress()
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    dim = store.model_info.dim
    with store.writing():
        keyed_train, keyed_val = split_clips(library_clips(store), val_fraction, seed)
        group_of: dict[str, int] = {}
        train_groups = [group_of.setdefault(k, len(group_of)) for k, _ in keyed_train]
        val_groups = [group_of.setdefault(k, len(group_of)) for k, _ in keyed_val]
        train = [c for _, c in keyed_train]
        val = [c for _, c in keyed_val]
        baseline = previous_loss = None
        previous = pooler_record(store.meta)
        if len(train) >= 4 and len(val) >= 2:
            untrained = create_pooler(arch, dim, device="cpu")
            baseline = evaluate_loss(cast("TorchPooler", untrained), val, cfg, val_groups)
            if previous.get("checkpoint"):  # the model in use, judged on the same clips
                previous_loss = evaluate_loss(
                    cast("TorchPooler", store.pooler), val, cfg, val_groups
                )
        batches = epochs * max(1, math.ceil(len(train) / batch_size))
        progress.begin(batches, "batches", f"training {arch} on {len(train)} clips")
        try:
            result = train_pooler(
                arch,
                dim,
                train,
                val,
                cfg,
                device=store.settings.device,
                on_step=lambda loss: progress.advance(1, loss=loss),
                train_groups=train_groups,
                val_groups=val_groups,
            )
        finally:
            progress.end()
        if not force and previous_loss is not None and result.best_val_loss >= previous_loss:
            log.warning(
                "the new %s model is not better than the one in use (validation loss %.4f vs "
                "%.4f): kept the previous model",
                arch,
                result.best_val_loss,
                previous_loss,
            )
            return TemporalReport(
                arch=arch,
                checkpoint=None,
                kept_previous=previous["checkpoint"],
                val_loss=round(result.best_val_loss, 4),
                val_loss_previous=round(previous_loss, 4),
                val_loss_untrained=_rounded(baseline),
                clips_repooled=0,
            )
        path = store.root / checkpoint_name(arch)
        sha = result.pooler.save(
            path,
            encoder=store.model_info.key(),
            encoder_spec=store.model_info.spec,
            fps=store.fps,
            arch=arch,
            hparams={**result.pooler.hparams, **cfg.to_dict()},
            val_loss=result.best_val_loss,
            val_loss_untrained=baseline,
            best_epoch=result.best_epoch + 1,
            train_clips=len(train),
            val_clips=len(val),
        )
        try:
            n = store.use_pooler(result.pooler, path)
        except BaseException:
            if pooler_record(store.meta).get("checkpoint") != path.name:
                path.unlink(missing_ok=True)  # the switch did not commit: the old model stays
            raise
        replaced = previous.get("checkpoint")
        if replaced and replaced != path.name:
            (store.root / replaced).unlink(missing_ok=True)
    return TemporalReport(
        kept_previous=None,
        val_loss_previous=_rounded(previous_loss),
        arch=arch,
        checkpoint=str(path),
        sha256=sha,
        train_clips=len(train),
        val_clips=len(val),
        epochs=epochs,
        best_epoch=result.best_epoch + 1,
        val_loss=round(result.best_val_loss, 4),
        val_loss_untrained=_rounded(baseline),
        train_loss=[round(x, 4) for x in result.train_loss],
        val_loss_history=[round(x, 4) for x in result.val_loss],
        clips_repooled=n,
    )
