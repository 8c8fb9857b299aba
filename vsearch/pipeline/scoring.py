"""What a library's similarity scores mean, and the default thresholds that go with them.

Models that ship a background set (the default ``effnet`` descriptors) give *calibrated*
scores: a frame pair's cosine similarity minus the mean of the two frames' typical
similarity to unrelated footage (``vsearch.match.calibrate``), so 0 means "as similar as
unrelated footage" for every query and one threshold means the same thing everywhere. Other
models (colorgrid, open_clip, torchvision) give *raw* cosine similarities. Each scale has
its own operating points, measured on the benchmarks of docs/benchmarks.md; help texts and
docs read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vsearch.match.calibrate import DEFAULT_K, background_offsets

if TYPE_CHECKING:
    from vsearch.types import ModelInfo


@dataclass(frozen=True)
class OperatingPoint:
    """A default threshold and what it gave on its benchmark."""

    threshold: float
    precision: float
    recall: float
    measured_on: str  # model and benchmark

    def describe(self) -> str:
        return (
            f"{self.threshold:g} (precision {self.precision:.2f}, recall {self.recall:.2f} "
            f"with {self.measured_on})"
        )


@dataclass(frozen=True)
class ScoreScale:
    """Thresholds of one score scale."""

    name: str  # "calibrated" or "raw"
    clip_search: OperatingPoint  # segment score of `search --video`
    dups: OperatingPoint  # frame score of `dups`
    hit_similarity: float  # frame pairs below this are no evidence of a copy (clip search)
    chain_bias: float  # subtracted from each hit when chaining (clip search)
    # A clip answer's segment score before the query's background is taken off: reached by
    # copies alone on the copy benchmark. Regions are searched when no answer reaches it.
    copy_level: float
    # Clip answers: this share of the answer's background (background_of) is taken off its
    # score, so that footage matching every video of its kind alike scores under a copy that
    # stands out from its kind. 0: scores stay as aligned.
    others_weight: float = 0.0
    others_count: int = 3

    def background_of(self, score: float, others: list[float]) -> float:
        """The background of a clip answer scoring ``score`` (as aligned), from the query's
        best scores against the library's other videos (``others``): the mean of the
        ``others_count`` best, each missing one counted at ``hit_similarity``.

        An answer at the copy level leaves the others at the copy level out: they are other
        copies of the same footage, and a library holding several copies of a clip must not
        mark each down for the rest. An answer under it counts them all: a look-alike is
        less likely a copy when the query has a clear copy elsewhere."""
        if score >= self.copy_level:
            others = [s for s in others if s < self.copy_level]
        kept = sorted(others, reverse=True)[: self.others_count]
        kept += [self.hit_similarity] * (self.others_count - len(kept))
        return float(np.mean(kept)) if kept else 0.0


RAW = ScoreScale(
    name="raw",
    clip_search=OperatingPoint(0.85, 0.88, 0.70, "colorgrid, scripts/bench_copy.py"),
    dups=OperatingPoint(0.90, 1.00, 0.70, "colorgrid at 4 frames/s, scripts/bench_dups.py"),
    hit_similarity=0.5,
    chain_bias=0.6,
    copy_level=0.85,
)
CALIBRATED = ScoreScale(
    name="calibrated",
    # scripts/bench_copy.py (1 frame/s, 60 copy and 14 negative queries), scores against the
    # query's background: one false answer at 0.45 (a test card against the library's only
    # other test card: no footage of its kind to stand out from); 0.35 gave precision 0.96 at
    # recall 0.80, 0.5 precision 1.00 at recall 0.30
    clip_search=OperatingPoint(0.4, 0.97, 0.62, "effnet:lite0, scripts/bench_copy.py"),
    # 1 frame/s, 14 sample videos, 23 known copy pairs: 0.45-0.5 found all 23 with no false
    # match; 0.6 leaves a margin for footage that benchmark does not have
    dups=OperatingPoint(0.6, 1.00, 0.91, "effnet:lite0 at 1 frame/s, scripts/bench_dups.py"),
    # On still images never fitted on (scripts/fit_descriptor.py), calibrated frame scores of
    # unrelated pairs were -0.27 at the median and 0.17 at the 99th percentile; of altered
    # copies 0.51 at the median and 0.14 at the 10th percentile.
    hit_similarity=0.1,
    chain_bias=0.2,
    # scripts/bench_copy.py: no false answer reached 0.65 before the background was taken off
    copy_level=0.65,
    others_weight=0.5,
)


@dataclass(frozen=True)
class Scoring:
    """How to score frame pairs of one library."""

    scale: ScoreScale
    background: np.ndarray | None = None
    k: int = DEFAULT_K

    def offsets(self, vectors: np.ndarray) -> np.ndarray:
        """Per-frame calibration offsets (zeros on the raw scale)."""
        return background_offsets(vectors, self.background, self.k)


def scoring_for(info: ModelInfo) -> Scoring:
    """Calibrated scoring when the library's model ships a background set, else raw."""
    from vsearch.models.descriptor import background_for

    background = background_for(info)
    if background is None:
        return Scoring(RAW)
    return Scoring(CALIBRATED, background)


def help_thresholds(kind: str) -> str:
    """One sentence for --help: the default threshold of each scale and what it means."""
    cal, raw = getattr(CALIBRATED, kind), getattr(RAW, kind)
    return (
        f"Default {cal.describe()} for models with calibrated scores (effnet, the default "
        f"model), {raw.describe()} for the others (raw cosine); see docs/benchmarks.md."
    )
