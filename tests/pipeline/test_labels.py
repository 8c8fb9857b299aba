"""Labels on both metadata backends: added, imported, listed, and gone with their video."""

from __future__ import annotations

import shutil

import pytest

from vsearch.errors import UsageError

pytestmark = pytest.mark.usefixtures("db_backend")  # SQLite and PostgreSQL metadata


@pytest.fixture()
def indexed(library, clips, tmp_path):
    root = tmp_path / "videos"
    shutil.copytree(clips["testsrc"].parent, root)
    library.index([root])
    return library, root


def test_labels_added_imported_listed_and_removed_with_their_video(indexed, tmp_path):
    lib, root = indexed
    whole = lib.label(root / "testsrc.mp4", "bars")
    part = lib.label(root / "mandel.mp4", "fractal", start=1.0, end=3.0)
    assert (whole.start, whole.end) == (None, None) and (part.start, part.end) == (1.0, 3.0)
    csv = tmp_path / "labels.csv"
    csv.write_text(f"{root / 'sub dir' / 'life.mp4'},cells\n{root / 'testsrc.mp4'},test card,0,2\n")
    imported = lib.import_labels(csv)
    assert [r.label for r in imported] == ["cells", "test card"]
    listed = {(r.path.rsplit("/", 1)[-1], r.label, r.start) for r in lib.labels()}
    assert listed == {
        ("testsrc.mp4", "bars", None),
        ("mandel.mp4", "fractal", 1.0),
        ("life.mp4", "cells", None),
        ("testsrc.mp4", "test card", 0.0),
    }
    lib.remove(root / "testsrc.mp4")  # its labels go with it (foreign key, ON DELETE CASCADE)
    assert {r.label for r in lib.labels()} == {"fractal", "cells"}


def test_label_errors_are_usage_errors(indexed, tmp_path):
    lib, root = indexed
    with pytest.raises(UsageError, match="not in library"):
        lib.label(tmp_path / "nowhere.mp4", "x")
    with pytest.raises(UsageError, match="bad segment"):
        lib.label(root / "testsrc.mp4", "x", start=3.0, end=1.0)
    assert lib.labels() == []
