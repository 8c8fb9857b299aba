"""Replacing a trained clip model is atomic: an interrupted training leaves the previous model
in use and on disk, and `doctor` notices a model file that no longer matches its record."""

from __future__ import annotations

import json

import pytest
from helpers import make_video
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.store.clips import pooler_record
from vsearch.store.library_store import LibraryStore

runner = CliRunner()


@pytest.mark.slow
def test_interrupted_training_keeps_the_previous_model(library, clips, monkeypatch, tmp_path):
    sources = ["testsrc2", "mandelbrot", "life", "smptebars", "rgbtestsrc", "cellauto"]
    videos = [make_video(tmp_path / f"{s}.mp4", s, 12, size="64x48") for s in sources]
    library.index(videos)
    first = library.train_temporal("tcn", epochs=2, batch_size=4, force=True)
    store = library.store
    before = pooler_record(store.meta)
    assert before["checkpoint"] and (store.root / before["checkpoint"]).is_file()

    def interrupted(self, pooler, checkpoint):
        raise KeyboardInterrupt  # the process is stopped while switching models

    monkeypatch.setattr(LibraryStore, "use_pooler", interrupted)
    with pytest.raises(KeyboardInterrupt):
        library.train_temporal("tcn", epochs=2, batch_size=4, force=True)
    monkeypatch.undo()
    assert pooler_record(store.meta) == before
    assert sorted(p.name for p in store.root.glob("temporal-*.pt")) == [before["checkpoint"]]
    assert library.search_video(clips["mandel"], k=1)  # clip queries still work

    second = library.train_temporal("tcn", epochs=2, batch_size=4, force=True)
    assert second.checkpoint != first.checkpoint
    assert sorted(p.name for p in store.root.glob("temporal-*.pt")) == [
        pooler_record(store.meta)["checkpoint"]
    ]  # the old file went once the switch committed

    library.close()
    (store.root / pooler_record(store.meta)["checkpoint"]).write_bytes(b"not the model")
    r = runner.invoke(app, ["--library", str(store.root), "doctor", "--json"])
    report = json.loads(r.stdout)
    assert r.exit_code == 1 and not report["checks"]["models"]["ok"], report["checks"]


def test_killed_decoder_names_the_signal():
    from vsearch.errors import PartialDecodeError
    from vsearch.media.decode import _check_outcome
    from vsearch.types import VideoInfo

    class Lines:
        lines = ["[info] frame=10"]

    info = VideoInfo(
        "x.mp4", duration=10.0, fps=25.0, width=64, height=48, rotation=0, codec="h264"
    )
    with pytest.raises(PartialDecodeError, match="killed by signal SIGKILL"):
        _check_outcome("x.mp4", "x.mp4", info, -9, Lines(), 4, 3.0, 1.0, None, None)
