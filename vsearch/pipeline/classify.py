"""Classification use case: what a video (and each clip window of it) is.

Three classifiers, all over clip windows of a video's frame vectors (``match.windows``: 4 s
every 2 s, cut at shots): the windows of its stored clips and its stored vectors for library
videos; for other files, cut the same way from frames decoded and encoded with the library's
encoder and sampling rate:

* **zero-shot** (``labels=[...]``): each window's mean-pooled, L2-normalised vector against the
  text tower's vectors of ``prompt.format(label)``; softmax of ``ZERO_SHOT_LOGIT_SCALE`` x cosine
  (CLIP's trained logit scale, 100). Models without a text tower but with an ImageNet head
  (effnet) score each label by the probability of the ImageNet classes it names
  (``pipeline.words``); others raise NoTextTowerError.
* **by example** (``by_examples=True``): the ``k`` (default 10) most similar labelled windows of
  other library videos vote; vote weight = softmax(similarity / temperature) over those k,
  mixed with a uniform prior. Temperature and prior weight are calibrated on the library's own
  labels: the pair (from ``EXAMPLE_TEMPERATURES`` x ``EXAMPLE_PRIORS``) whose scores give the
  lowest log loss when each labelled video is classified by the others, so a score of 0.8
  means about 4 in 5 right on footage like the library's. The scores of a window sum to 1.
* **trained head** (default): a checkpoint from ``train_classifier`` (the latest one, or
  ``head=PATH`` or ``head=ARCH`` for the latest of that arch) on the windows' frame sequences.

A video's label is the argmax of its windows' probabilities averaged with window-length weights.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.errors import CheckpointError, EmptyLibraryError, UsageError
from vsearch.pipeline.video_windows import VideoWindows, stored_windows, windows_of
from vsearch.progress import NullProgress, Progress
from vsearch.types import (
    WITH_FRAMES,
    LabelRecord,
    ScoredLabel,
    SegmentLabel,
    VideoClassification,
)

if TYPE_CHECKING:
    from vsearch.store.library_store import LibraryStore

log = logging.getLogger(__name__)

ZERO_SHOT_LOGIT_SCALE = 100.0
DEFAULT_PROMPT = "a video of {}"
DEFAULT_K = 10
EXAMPLE_TEMPERATURE = 0.05  # by-example votes before calibration (too few labelled videos)
EXAMPLE_TEMPERATURES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
EXAMPLE_PRIORS = (0.0, 0.05, 0.1, 0.2, 0.4)  # weight of the uniform prior in a window's scores
EXAMPLE_FIT_WINDOWS = 2000  # labelled windows (at most) classified to calibrate
HEADS_DIR = "heads"
MIN_LABEL_OVERLAP = 0.5  # share of a window a segment label must cover to label the window


# --- windows of a video --------------------------------------------------------------------


def file_windows(store: LibraryStore, path: str | Path) -> VideoWindows:
    """Windows of a file: stored vectors when the library holds it, else decode + encode."""
    given = os.path.abspath(os.fspath(path))
    video = store.video_at(given)
    if video is not None and video.status in WITH_FRAMES and video.n_frames:
        return stored_windows(store, video.id, video.path, video.fps)
    from vsearch.pipeline.clip_search import encode_video

    encoded = encode_video(store, given)
    if encoded is None:
        raise UsageError(f"{given}: no frames could be sampled from this video")
    (vectors,) = encoded.views
    return windows_of(None, given, encoded.times, vectors, 1.0 / store.fps, encoded.fps)


def window_labels(vw: VideoWindows, labels: Sequence[LabelRecord]) -> list[str | None]:
    """The label of each window from a video's labels: a segment label covering at least
    MIN_LABEL_OVERLAP of the window wins over a whole-video label; None when unlabelled."""
    whole = [r.label for r in labels if r.start is None and r.end is None]
    out: list[str | None] = []
    for w in vw.windows:
        length = max(w.end - w.start, 1e-9)
        best, best_cover = None, 0.0
        for r in labels:
            if r.start is None and r.end is None:
                continue
            s = r.start or 0.0
            e = r.end if r.end is not None else float("inf")
            cover = max(0.0, min(w.end, e) - max(w.start, s)) / length
            if cover >= MIN_LABEL_OVERLAP and cover > best_cover:
                best, best_cover = r.label, cover
        out.append(best if best is not None else (whole[0] if whole else None))
    return out


def labelled_windows(store: LibraryStore) -> tuple[list[VideoWindows], list[list[str | None]]]:
    """Every labelled video's windows with the label of each window."""
    records = store.labels()
    by_video: dict[int, list[LabelRecord]] = {}
    for r in records:
        by_video.setdefault(r.video_id, []).append(r)
    out_w, out_l = [], []
    # By path, not by database id: ids follow the order in which parallel decoders finished,
    # and the held-out split must not change from one run to the next.
    for video_id, recs in sorted(by_video.items(), key=lambda item: item[1][0].path):
        whole = sorted({r.label for r in recs if r.start is None and r.end is None})
        if len(whole) > 1:
            kept = next(r.label for r in recs if r.start is None and r.end is None)
            log.warning(
                "%s has %d whole-video labels (%s); a window takes one label, so training "
                "uses %r and drops the others (label segments with --start/--end instead)",
                recs[0].path,
                len(whole),
                ", ".join(whole),
                kept,
            )
        vw = stored_windows(store, video_id, recs[0].path)
        if vw.windows:
            out_w.append(vw)
            out_l.append(window_labels(vw, recs))
    return out_w, out_l


# --- the three classifiers -----------------------------------------------------------------


class ZeroShotClassifier:
    def __init__(self, store: LibraryStore, labels: Sequence[str], prompt: str = DEFAULT_PROMPT):
        from vsearch.models import l2_normalize

        self.labels = _clean_labels(labels)
        if prompt.count("{}") != 1:
            raise UsageError(
                f"the prompt must contain {{}} exactly once, where the label goes; got {prompt!r}"
            )
        texts = [prompt.replace("{}", label) for label in self.labels]
        self.text = l2_normalize(store.encoder.encode_texts(texts))
        self.name = f"zero-shot:{prompt}:{','.join(self.labels)}"[:200]

    def proba(self, vw: VideoWindows) -> np.ndarray:
        return _softmax(ZERO_SHOT_LOGIT_SCALE * (vw.pooled @ self.text.T))


class ExampleClassifier:
    def __init__(self, store: LibraryStore, k: int = DEFAULT_K):
        if k <= 0:
            raise UsageError(f"`k` must be a positive number of examples, got {k}")
        vws, labels = labelled_windows(store)
        vecs, owners, names = [], [], []
        for vw, labs in zip(vws, labels, strict=True):
            for vec, lab in zip(vw.pooled, labs, strict=True):
                if lab is not None:
                    vecs.append(vec)
                    owners.append(vw.video_id)
                    names.append(lab)
        if not vecs:
            raise EmptyLibraryError("no labelled clips to vote: add labels with `vsearch label`")
        self.labels = sorted(set(names))
        self.vectors = np.stack(vecs).astype(np.float32)
        self.owner = np.array(owners, dtype=np.int64)
        self.target = np.array([self.labels.index(n) for n in names], dtype=np.int64)
        self.k = k
        self.temperature, self.prior = self._calibrate()
        self.name = f"examples:k={k}"
        log.info(
            "by-example votes calibrated: temperature %g, prior weight %g",
            self.temperature,
            self.prior,
        )

    def proba(self, vw: VideoWindows) -> np.ndarray:
        sims = vw.pooled @ self.vectors.T
        if vw.video_id is not None:  # a labelled video does not vote for itself
            sims[:, self.owner == vw.video_id] = -np.inf
        return self._mix(self._votes(sims, self.temperature), self.prior)

    def _votes(self, sims: np.ndarray, temperature: float) -> np.ndarray:
        """Softmax-weighted votes of each row's k most similar windows (-inf: may not vote)."""
        out = np.zeros((len(sims), len(self.labels)), np.float32)
        for i, row in enumerate(sims):
            k = min(self.k, int(np.isfinite(row).sum()))
            if k == 0:
                out[i] = 1.0 / len(self.labels)
                continue
            idx = np.argpartition(-row, k - 1)[:k]
            w = _softmax(row[idx][None] / temperature)[0]
            np.add.at(out[i], self.target[idx], w)
        return out

    def _mix(self, votes: np.ndarray, prior: float) -> np.ndarray:
        return ((1.0 - prior) * votes + prior / len(self.labels)).astype(np.float32)

    def _calibrate(self) -> tuple[float, float]:
        """(temperature, prior weight) with the lowest log loss of the labelled windows, each
        classified by the windows of the other labelled videos (leave one video out). Too
        few labelled videos (under 2 labels with 2 videos each) keep the default votes."""
        # Only labels of at least 2 videos can be told right when a video is left out.
        videos_per_label = np.array(
            [len(np.unique(self.owner[self.target == t])) for t in range(len(self.labels))]
        )
        fit = np.flatnonzero(videos_per_label[self.target] >= 2)
        if int((videos_per_label >= 2).sum()) < 2:
            return EXAMPLE_TEMPERATURE, 0.0
        pick = fit
        if len(fit) > EXAMPLE_FIT_WINDOWS:
            rng = np.random.default_rng(0)
            pick = np.sort(rng.choice(fit, EXAMPLE_FIT_WINDOWS, replace=False))
        sims = self.vectors[pick] @ self.vectors.T
        sims[self.owner[pick][:, None] == self.owner[None, :]] = -np.inf
        truth = self.target[pick]
        best = (np.inf, EXAMPLE_TEMPERATURE, 0.0)
        for temperature in EXAMPLE_TEMPERATURES:
            votes = self._votes(sims, temperature)
            for prior in EXAMPLE_PRIORS:
                p = self._mix(votes, prior)[np.arange(len(pick)), truth]
                loss = float(-np.log(np.maximum(p, 1e-6)).mean())
                if loss < best[0] - 1e-9:
                    best = (loss, temperature, prior)
        return best[1], best[2]


class HeadClassifier:
    def __init__(self, store: LibraryStore, head: str | Path | None = None):
        from vsearch.models.heads import load_head

        path = resolve_head(store, head)
        self.ckpt = load_head(path, encoder_key=store.model_info.key())
        self.labels = self.ckpt.labels
        self.name = f"head:{self.ckpt.arch}:{path.name}"

    def proba(self, vw: VideoWindows) -> np.ndarray:
        from vsearch.models.heads import predict_proba
        from vsearch.models.sequence import pad_sequences

        x, lengths = pad_sequences(vw.sequences)
        return predict_proba(self.ckpt.head, x, lengths)


def resolve_head(store: LibraryStore, head: str | Path | None) -> Path:
    """A checkpoint path, an arch name (its latest checkpoint) or None (the latest of all)."""
    if head is not None and (Path(head).suffix == ".pt" or os.sep in str(head)):
        return Path(head).expanduser().absolute()
    folder = store.root / HEADS_DIR
    found = sorted(folder.glob(f"{head}-*.pt" if head else "*.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        what = f"no '{head}' classifier" if head else "no trained classifier"
        raise CheckpointError(
            f"{what} in {folder}: run `vsearch train classifier`, or use `labels` / `by_examples`"
        )
    return found[-1]


# --- the use case --------------------------------------------------------------------------


def classify(
    store: LibraryStore,
    path: str | Path | None = None,
    *,
    labels: Sequence[str] | None = None,
    prompt: str = DEFAULT_PROMPT,
    by_examples: bool = False,
    k: int = DEFAULT_K,
    head: str | Path | None = None,
    library: bool = False,
    unlabelled: bool = False,
    progress: Progress | None = None,
) -> list[VideoClassification]:
    """Classify a file (``path``) or the whole library (``library=True``; predictions stored).

    ``labels`` selects zero-shot, ``by_examples`` voting by labelled clips, otherwise a trained
    head (``head``: a checkpoint path or an arch; default the latest trained).
    """
    if (path is None) == (not library):
        raise UsageError("classify a `path` or the whole `library` (one of them)")
    if labels is not None and by_examples:
        raise UsageError("`labels` (zero-shot) and `by_examples` are two different classifiers")
    progress = progress or NullProgress()
    if labels is not None:
        from vsearch.pipeline.words import WordClassifier, uses_words

        if uses_words(store):
            classifier: Any = WordClassifier(store, _clean_labels(labels))
        else:
            classifier = ZeroShotClassifier(store, labels, prompt)
    elif by_examples:
        classifier = ExampleClassifier(store, k)
    else:
        classifier = HeadClassifier(store, head)
    if not library:
        assert path is not None  # checked above: a path, or the whole library
        if hasattr(classifier, "file_windows"):
            return [_classify_windows(classifier, classifier.file_windows(path))]
        return [_classify_windows(classifier, file_windows(store, path))]
    videos = store.searchable_videos()
    skip = store.labelled_video_ids() if unlabelled else set()
    videos = [v for v in videos if v.id not in skip and v.n_frames]
    results = []
    with store.writing():
        progress.begin(len(videos), "videos", f"classifying {len(videos)} videos")
        try:
            for video in videos:
                windows = stored_windows(store, video.id, video.path, video.fps)
                result = _classify_windows(classifier, windows)
                _store(store, video.id, classifier.name, result)
                results.append(result)
                progress.advance(1)
        finally:
            progress.end()
    log.info("classified %d videos with %s", len(results), classifier.name)
    return results


def _classify_windows(classifier: Any, vw: VideoWindows) -> VideoClassification:
    labels = classifier.labels
    proba = classifier.proba(vw) if vw.windows else np.zeros((0, len(labels)), np.float32)
    segments = [
        SegmentLabel(
            w.start,
            w.end,
            labels[int(p.argmax())],
            float(p.max()),
            scores={label: float(s) for label, s in zip(labels, p, strict=True)},
            fps=vw.fps,
        )
        for w, p in zip(vw.windows, proba, strict=True)
    ]
    if len(proba):
        weights = np.array([w.end - w.start for w in vw.windows], dtype=np.float64)
        whole = (proba * weights[:, None]).sum(0) / max(weights.sum(), 1e-9)
    else:
        whole = np.full(len(labels), 1.0 / max(1, len(labels)))
    best = int(whole.argmax())
    return VideoClassification(
        path=vw.path,
        label=labels[best],
        score=float(whole[best]),
        segments=segments,
        classifier=classifier.name,
        scores={label: float(s) for label, s in zip(labels, whole, strict=True)},
        fps=vw.fps,
    )


def _store(store: LibraryStore, video_id: int, name: str, result: VideoClassification) -> None:
    rows = [ScoredLabel(result.label, result.score)]
    rows += [ScoredLabel(s.label, s.score, s.start, s.end) for s in result.segments]
    store.replace_predictions(video_id, name, rows)


def _clean_labels(labels: Sequence[str]) -> list[str]:
    out = []
    for label in labels:
        text = label.strip()
        if text and text not in out:
            out.append(text)
    if len(out) < 2:
        raise UsageError(f"zero-shot classification needs at least 2 labels, got {out}")
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
