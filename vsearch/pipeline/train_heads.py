"""Training a classifier head on the library's labelled clips (stored vectors, no decoding).

Samples are the clip windows of labelled videos (``classify.window_labels`` says which label a
window gets). The held-out split is by video, stratified by each video's main label: about
``val_fraction`` of the videos of every label with at least two videos are held out, so the
windows of one video never sit on both sides. Training stops early on the held-out loss; the
report carries the held-out accuracy and confusion matrix. The checkpoint (``heads/ARCH-TIME.pt``
in the library) keeps the label set and the encoder's ``ModelInfo.key()``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import UsageError
from vsearch.pipeline.classify import HEADS_DIR, VideoWindows, labelled_windows
from vsearch.progress import NullProgress, Progress
from vsearch.types import TrainReport

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

DEFAULT_VAL_FRACTION = 0.25  # share of each label's videos held out for validation
DEFAULT_HEAD = "linear"
DEFAULT_MAX_EPOCHS = 200  # early stopping usually ends sooner
DEFAULT_PATIENCE = 15  # epochs without held-out gain before stopping


def split_by_video(
    videos: list[VideoWindows], labels: list[list[str | None]], val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of (train, held-out) videos, stratified by each video's most common label."""
    groups: dict[str, list[int]] = {}
    for i, labs in enumerate(labels):
        counts = Counter(lab for lab in labs if lab is not None)
        if counts:
            groups.setdefault(counts.most_common(1)[0][0], []).append(i)
    rng = random.Random(seed)
    train, val = [], []
    for _label, members in sorted(groups.items()):
        members = list(members)
        rng.shuffle(members)
        n_val = int(round(val_fraction * len(members))) if len(members) >= 2 else 0
        n_val = min(max(n_val, 1 if len(members) >= 2 else 0), len(members) - 1)
        val += members[:n_val]
        train += members[n_val:]
    return sorted(train), sorted(val)


def _samples(
    videos: list[VideoWindows], labels: list[list[str | None]], idx: list[int], names: list[str]
) -> tuple[list[np.ndarray], np.ndarray]:
    seqs, ys = [], []
    for i in idx:
        for seq, lab in zip(videos[i].sequences, labels[i], strict=True):
            if lab is not None and lab in names:
                seqs.append(seq)
                ys.append(names.index(lab))
    return seqs, np.array(ys, dtype=np.int64)


def train_classifier(
    store: LibraryStore,
    *,
    arch: str = DEFAULT_HEAD,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    patience: int = DEFAULT_PATIENCE,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainReport:
    """Train a head of ``arch`` (linear, lstm, tcn) and save it in the library's heads/."""
    from vsearch.models.heads import (
        HeadCheckpoint,
        create_head,
        fit_head,
        list_heads,
        predict_proba,
        save_head,
    )
    from vsearch.models.sequence import pad_sequences

    if arch not in list_heads():
        raise UsageError(f"unknown classifier `arch` '{arch}'; known: {', '.join(list_heads())}")
    if not 0 < val_fraction < 1:
        raise UsageError(f"`val_fraction` must be in (0, 1), got {val_fraction}")
    progress = progress or NullProgress()
    videos, labels = labelled_windows(store)
    train_idx, val_idx = split_by_video(videos, labels, val_fraction, seed)
    names = sorted({lab for i in train_idx for lab in labels[i] if lab is not None})
    if len(names) < 2:
        raise UsageError(
            f"training needs labelled videos of at least 2 labels, found {names or 'none'}: "
            "add labels with `vsearch label`"
        )
    if not val_idx:
        raise UsageError(
            "no video can be held out for validation: give at least one label 2 or more videos"
        )
    train_seqs, y_train = _samples(videos, labels, train_idx, names)
    val_seqs, y_val = _samples(videos, labels, val_idx, names)
    x_train, l_train = pad_sequences(train_seqs)
    x_val, l_val = pad_sequences(val_seqs)
    info = store.model_info
    head = create_head(arch, info.dim, len(names), seed=seed)
    progress.begin(max_epochs, "epochs", f"training {arch} head")
    try:
        fit = fit_head(
            head,
            (x_train, l_train, y_train),
            (x_val, l_val, y_val),
            max_epochs=max_epochs,
            patience=patience,
            seed=seed,
            on_epoch=lambda _e, _t, v: progress.advance(1, loss=v),
        )
    finally:
        progress.end()
    pred = predict_proba(head, x_val, l_val).argmax(axis=1) if len(y_val) else np.zeros(0, int)
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (y_val, pred), 1)
    accuracy = float((pred == y_val).mean()) if len(y_val) else 0.0
    created = dt.datetime.now(dt.timezone.utc)
    path = store.root / HEADS_DIR / f"{arch}-{created.strftime('%Y%m%dT%H%M%S%f')}.pt"
    meta = {
        "created_at": created.isoformat(timespec="seconds"),
        "encoder": info.to_dict(),
        "fps": store.fps,
        "accuracy": accuracy,
        "confusion": confusion.tolist(),
        "train_videos": [videos[i].path for i in train_idx],
        "val_videos": [videos[i].path for i in val_idx],
        "epochs": fit.epochs,
        "best_epoch": fit.best_epoch,
    }
    with store.writing():
        save_head(
            HeadCheckpoint(
                arch, head, names, info.key(), info.dim, {}, json.loads(json.dumps(meta))
            ),
            path,
        )
    log.info("%s head: held-out accuracy %.3f, saved %s", arch, accuracy, path)
    return TrainReport(
        arch=arch,
        checkpoint=str(path),
        labels=names,
        accuracy=accuracy,
        confusion=confusion.tolist(),
        train_videos=len(train_idx),
        val_videos=len(val_idx),
        train_windows=len(y_train),
        val_windows=len(y_val),
        epochs=fit.epochs,
        best_epoch=fit.best_epoch,
        encoder_key=info.key(),
    )
