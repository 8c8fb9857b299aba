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


RAW = ScoreScale(
    name="raw",
    clip_search=OperatingPoint(0.85, 0.88, 0.70, "colorgrid, scripts/bench_copy.py"),
    dups=OperatingPoint(0.90, 1.00, 0.70, "colorgrid at 4 frames/s, scripts/bench_dups.py"),
    hit_similarity=0.5,
    chain_bias=0.6,
)
CALIBRATED = ScoreScale(
    name="calibrated",
    # scripts/bench_copy.py (1 frame/s, 60 copy and 14 negative queries): footage of the same
    # kind (other seeds of one generator) scores up to ~0.6 against a copy's source, so
    # lower thresholds mostly add those; 0.70 gave precision 1.00 at recall 0.30
    clip_search=OperatingPoint(0.65, 0.93, 0.43, "effnet:lite0, scripts/bench_copy.py"),
    # 1 frame/s, 14 sample videos, 23 known copy pairs: 0.45 found all 23 with 1 false
    # match (precision 0.96); 0.6 is the first threshold without a false match
    dups=OperatingPoint(0.6, 1.00, 0.83, "effnet:lite0 at 1 frame/s, scripts/bench_dups.py"),
    # On still images never fitted on (scripts/fit_descriptor.py), calibrated frame scores of
    # unrelated pairs were -0.27 at the median and 0.17 at the 99th percentile; of altered
    # copies 0.51 at the median and 0.14 at the 10th percentile.
    hit_similarity=0.1,
    chain_bias=0.2,
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
