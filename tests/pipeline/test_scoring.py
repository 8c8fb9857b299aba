"""Score scales: which libraries get calibrated scores, and help texts that quote the code."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.pipeline.dups import match_frames
from vsearch.pipeline.scoring import CALIBRATED, RAW, scoring_for
from vsearch.types import ModelInfo

runner = CliRunner()


def _flat(text: str) -> str:
    """Help text without rich's box drawing and line wrapping."""
    return re.sub(r"[\s│]+", " ", text)


@pytest.mark.parametrize(("command", "kind"), [("dups", "dups"), ("search", "clip_search")])
def test_help_quotes_the_default_thresholds_of_the_code(command, kind):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = _flat(result.output)
    for scale in (CALIBRATED, RAW):
        point = getattr(scale, kind)
        assert _flat(point.describe()) in text, (scale.name, point)


def test_models_without_a_background_set_keep_raw_scores():
    info = ModelInfo("colorgrid", "colorgrid", "v1", "none", 64, 64, "grid")
    scoring = scoring_for(info)
    assert scoring.scale is RAW and scoring.background is None
    assert not scoring.offsets(np.ones((3, 64), np.float32) / 8).any()


def test_the_default_model_ships_a_background_set_and_gets_calibrated_scores():
    from vsearch.models.base import file_sha256
    from vsearch.models.descriptor import read_descriptor, shipped_descriptors
    from vsearch.models.effnet import package_weights

    path, package = package_weights("lite0")
    weights = f"{package} sha256:{file_sha256(path)}"
    found = [read_descriptor(p) for p in shipped_descriptors()]
    descriptor, meta = next((d, m) for d, m in found if m["weights"] == weights)
    assert descriptor.dim <= 256 and len(descriptor.background) >= 100
    info = ModelInfo(
        "effnet:lite0@imagenet", "effnet", "lite0", weights, descriptor.dim, 224,
        f"resize+{descriptor.describe()}",
    )  # fmt: skip
    scoring = scoring_for(info)
    assert scoring.scale is CALIBRATED
    assert scoring.background.shape == (len(descriptor.background), descriptor.dim)


def test_dups_thresholds_calibrated_scores_when_offsets_are_given():
    """Two frame pairs with the same raw similarity: the one whose frames look like
    everything (high offsets) falls under the threshold, the distinctive one stays."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(4, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    # videos 1 and 2 share frames a0,a1 (sim 0.95); videos 3 and 4 share b0,b1 (sim 0.95)
    noise = rng.normal(size=(8, 32)).astype(np.float32) * 0.05
    vectors = np.concatenate([base[:2], base[:2], base[2:], base[2:]]) + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    video_ids = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    times = np.array([0.0, 1.0] * 4)
    informative = np.ones(8, bool)
    offsets = np.array([0.0] * 4 + [0.5] * 4, np.float32)
    kw = dict(step=1.0, threshold=0.6, min_duration=0.5)
    raw = match_frames(video_ids, times, informative, vectors, **kw)
    assert {(m.a, m.b) for m in raw} == {(1, 2), (3, 4)}
    cal = match_frames(video_ids, times, informative, vectors, offsets=offsets, **kw)
    assert {(m.a, m.b) for m in cal} == {(1, 2)}
    assert cal[0].segment.score == pytest.approx(raw[0].segment.score, abs=1e-6)


def test_an_existing_library_keeps_its_model_when_the_default_changes(tmp_path, monkeypatch):
    from vsearch.config import DEFAULT_MODEL, Settings
    from vsearch.pipeline.library import Library

    monkeypatch.delenv("VSEARCH_MODEL", raising=False)
    Library.open(settings=Settings.load(library=tmp_path, model="colorgrid"), create=True).close()
    settings = Settings.load(library=tmp_path)
    assert settings.model == DEFAULT_MODEL != "colorgrid"
    with Library.open(settings=settings, create=True) as lib:
        assert lib.model_info.family == "colorgrid"
        assert scoring_for(lib.model_info).scale is RAW


def _answer(video_id: int, score: float):
    from vsearch.types import SegmentMatch

    return SegmentMatch(f"/lib/{video_id}.mp4", score, 0.0, 3.0, 0.0, 3.0, video_id=video_id)


def test_a_copy_that_stands_out_from_its_kind_outscores_footage_matching_its_kind_alike():
    """Query A matches its source at 0.62 and three videos of its kind at 0.45; query B,
    footage of that kind but no copy, matches four of them at 0.6 to 0.64. As aligned, B's
    best answer is the higher; against their backgrounds, A's is."""
    from vsearch.pipeline.clip_search import against_background

    a = against_background([_answer(1, 0.62)] + [_answer(i, 0.45) for i in (2, 3, 4)], CALIBRATED)
    b = against_background([_answer(i, 0.6 + 0.01 * i) for i in (1, 2, 3, 4)], CALIBRATED)
    best_a, best_b = max(a, key=lambda m: m.score), max(b, key=lambda m: m.score)
    assert best_a.video_id == 1 and best_a.background == pytest.approx(0.45)
    assert best_a.score == pytest.approx(0.62 - CALIBRATED.others_weight * 0.45)
    assert best_a.score > best_b.score


def test_the_background_counts_missing_answers_at_the_evidence_floor():
    scale = CALIBRATED
    assert scale.background_of(0.5, []) == pytest.approx(scale.hit_similarity)
    many = [0.5, 0.4, 0.3, 0.2, 0.1]
    assert scale.background_of(0.5, many) == pytest.approx(np.mean(many[: scale.others_count]))


def test_copies_of_the_same_footage_do_not_mark_each_other_down():
    """The library holds three copies of the query's footage (0.8 each) and one look-alike
    (0.5): each copy's background leaves the other copies out; the look-alike's counts
    them, so it falls further under the copies."""
    from vsearch.pipeline.clip_search import against_background

    scale = CALIBRATED
    answers = [_answer(i, 0.8) for i in (1, 2, 3)] + [_answer(4, 0.5)]
    scored = {m.video_id: m for m in against_background(answers, scale)}
    floor = scale.hit_similarity
    copy_background = (0.5 + (scale.others_count - 1) * floor) / scale.others_count
    assert scored[1].background == pytest.approx(copy_background)
    assert scored[1].score == pytest.approx(0.8 - scale.others_weight * copy_background)
    assert scored[4].background == pytest.approx(0.8)
    assert scored[4].score == pytest.approx(0.5 - scale.others_weight * 0.8)


def test_raw_scores_keep_the_scores_as_aligned():
    from vsearch.pipeline.clip_search import against_background

    answers = [_answer(1, 0.9), _answer(2, 0.8)]
    assert against_background(answers, RAW) == answers
    assert RAW.others_weight == 0
