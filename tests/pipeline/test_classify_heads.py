"""Classification end to end on a library of generated video families (colorgrid encoder).

Five visually distinct lavfi families, four videos each, varied in size, speed, colour and
noise; heads are trained on whole-video labels and judged on held-out videos.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import make_video, skip_without_ffmpeg

from vsearch.config import Settings
from vsearch.db import queries
from vsearch.errors import CheckpointError, NoTextTowerError, UsageError
from vsearch.pipeline.library import Library

LIFE = "life=s={size}:mold=10:r={rate}:ratio=0.5:seed={seed}:death_color=#C83232:life_color=#00ff00"
FAMILIES = {
    "testsrc": "testsrc=size={size}:rate={rate}",
    "mandelbrot": "mandelbrot=size={size}:rate={rate}",
    "life": LIFE,
    "smptebars": "smptebars=size={size}:rate={rate}",
    "cellauto": "cellauto=s={size}:rate={rate}:rule=110:seed={seed}",
}
VARIANTS = [  # (size, rate, extra filter)
    ("128x96", 10, None),
    ("96x96", 5, "eq=brightness=0.08:saturation=1.4"),
    ("160x90", 15, "noise=alls=12:allf=t"),
    ("112x84", 8, "hue=h=25,crop=iw*0.9:ih*0.9"),
]
SECONDS = 8


def family_video(root, family: str, i: int, seconds: float = SECONDS):
    size, rate, vf = VARIANTS[i % len(VARIANTS)]
    src = FAMILIES[family].format(size=size, rate=rate, seed=7 + i) + ",format=yuv420p"
    return make_video(root / family / f"{family}-{i}.mp4", src, seconds, vf=vf)


@pytest.fixture(scope="module")
def family_lib(tmp_path_factory):
    skip_without_ffmpeg()
    root = tmp_path_factory.mktemp("families")
    videos = {f: [family_video(root / "videos", f, i) for i in range(4)] for f in FAMILIES}
    settings = Settings.load(library=root / "lib", model="colorgrid", decoders=2)
    lib = Library.open(settings=settings, create=True)
    report = lib.index([str(root / "videos")])
    assert len(report.indexed) == 20 and not report.failed
    for family, paths in videos.items():
        for p in paths[:3]:  # the 4th video of each family stays unlabelled
            lib.label(p, family)
    yield lib, videos, root
    lib.close()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["linear", "lstm", "tcn"])
def test_each_head_beats_chance_on_held_out_videos(family_lib, arch):
    lib, _videos, _root = family_lib
    report = lib.train_classifier(arch=arch, val_fraction=0.34, seed=0)
    assert report.labels == sorted(FAMILIES)
    assert report.val_videos == 5 and report.train_videos == 10  # one per family held out
    confusion = np.array(report.confusion)
    assert confusion.sum() == report.val_windows > 0
    assert report.accuracy == pytest.approx(np.trace(confusion) / confusion.sum())
    assert report.accuracy >= 0.6, (arch, report.confusion)  # chance is 0.2
    assert 1 <= report.best_epoch <= report.epochs
    from vsearch.models.heads import load_head

    ckpt = load_head(__import__("pathlib").Path(report.checkpoint))
    assert ckpt.arch == arch and ckpt.labels == report.labels
    assert ckpt.encoder_key == lib.model_info.key()
    assert set(ckpt.meta["val_videos"]).isdisjoint(ckpt.meta["train_videos"])


@pytest.mark.slow
def test_head_classifies_new_files_and_the_unlabelled_library(family_lib):
    lib, videos, root = family_lib
    lib.train_classifier(arch="linear", val_fraction=0.34)
    # A file outside the library is decoded and encoded with the library's encoder.
    new = family_video(root / "new", "mandelbrot", 1, seconds=6)
    (result,) = lib.classify(new, head="linear")
    assert result.label == "mandelbrot"
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert len(result.segments) >= 2 and all(0 < s.score <= 1 for s in result.segments)
    assert result.segments[0].start == 0.0 and result.segments[-1].end <= 6.0 + 1e-6
    # --library --unlabelled: the five unlabelled videos, predictions stored with scores.
    results = lib.classify(library=True, unlabelled=True)
    assert sorted(r.path for r in results) == sorted(str(v[3]) for v in videos.values())
    correct = sum(r.label == r.path.split("/")[-2] for r in results)
    assert correct >= 4
    with lib.store.sessions() as session:
        rows = queries.list_predictions(session=session)
    assert {r.classifier for r in rows} == {results[0].classifier}
    whole = [r for r in rows if r.start is None]
    assert len(whole) == 5 and all(0 < r.score <= 1 for r in whole)
    # Classifying again replaces the stored predictions instead of adding more.
    lib.classify(library=True, unlabelled=True)
    with lib.store.sessions() as session:
        assert len(queries.list_predictions(session=session)) == len(rows)


@pytest.mark.slow
def test_by_examples_votes_over_other_videos(family_lib):
    lib, videos, _root = family_lib
    # The unlabelled 4th videos are classified only by the labelled clips of other videos.
    results = [lib.classify(v[3], by_examples=True, k=10)[0] for v in videos.values()]
    correct = sum(r.label == r.path.split("/")[-2] for r in results)
    assert correct >= 4, [(r.path, r.label) for r in results]
    for r in results:
        assert sum(r.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_head_refuses_another_encoder(family_lib, tmp_path):
    lib, _videos, _root = family_lib
    from vsearch.models.heads import HeadCheckpoint, create_head, load_head, save_head

    path = save_head(
        HeadCheckpoint(
            "tcn", create_head("tcn", 128, 2), ["a", "b"], "other:model/128/x", 128, {}, {}
        ),
        tmp_path / "foreign.pt",
    )
    with pytest.raises(CheckpointError, match="other:model"):
        load_head(path, encoder_key=lib.model_info.key())
    with pytest.raises(CheckpointError, match="trained on vectors of other:model"):
        lib.classify(_videos["life"][0], head=str(path))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_head(tmp_path / "junk.pt")


def test_zero_shot_needs_a_text_tower(family_lib):
    lib, videos, _root = family_lib
    with pytest.raises(NoTextTowerError, match="no text tower"):
        lib.classify(videos["life"][0], labels=["cat", "dog"])


def test_zero_shot_with_a_random_clip_model(tmp_path, clips):
    settings = Settings.load(
        library=tmp_path / "lib", model="open_clip:vsearch-tiny@random", decoders=2
    )
    with Library.open(settings=settings, create=True) as lib:
        lib.index([str(clips["testsrc"])])
        (result,) = lib.classify(clips["testsrc"], labels=["cat", " dog", "car", "cat"])
        assert set(result.scores) == {"cat", "dog", "car"}
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)
        assert result.label in result.scores and result.score == max(result.scores.values())
        assert result.segments and all(s.label in result.scores for s in result.segments)
        payload = json.loads(json.dumps(result.to_dict()))
        assert set(payload) == {"path", "label", "score", "scores", "classifier", "segments", "fps"}
        assert set(payload["segments"][0]) == {"start", "end", "label", "score", "scores",
                                                   "start_frame", "end_frame"}  # fmt: skip
        with pytest.raises(UsageError, match="at least 2 labels"):
            lib.classify(clips["testsrc"], labels=["cat"])
        with pytest.raises(UsageError, match="prompt"):
            lib.classify(clips["testsrc"], labels=["cat", "dog"], prompt="no slot")


def test_training_needs_two_labels_and_a_held_out_video(library, clips):
    library.index([str(clips["testsrc"]), str(clips["mandel"])])
    library.label(clips["testsrc"], "a")
    with pytest.raises(UsageError, match="at least 2 labels"):
        library.train_classifier(arch="linear")
    library.label(clips["mandel"], "b")
    with pytest.raises(UsageError, match="held out"):
        library.train_classifier(arch="linear")
    with pytest.raises(UsageError, match="unknown classifier `arch`"):
        library.train_classifier(arch="transformer")
    with pytest.raises(CheckpointError, match="train classifier"):
        library.classify(clips["testsrc"])
    # A labelled video never votes for itself: only the other video's clips are left.
    (result,) = library.classify(clips["testsrc"], by_examples=True)
    assert result.label == "b" and result.score == pytest.approx(1.0)
