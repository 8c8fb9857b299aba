"""Training data for the temporal poolers: the library's clips and their validation split."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.pipeline.training import library_clips, split_clips


def keyed_clips(counts: dict[str, int]) -> list[tuple[str, np.ndarray]]:
    """Distinct clips (the value encodes the key and the clip) of videos named by key."""
    out = []
    for key, n in counts.items():
        for i in range(n):
            out.append((key, np.full((3, 4), 100 * sum(map(ord, key)) + i, dtype=np.float32)))
    return out


def as_set(keyed: list[tuple[str, np.ndarray]]) -> set[bytes]:
    return {a.tobytes() for _, a in keyed}


COUNTS = {"bunny": 2, "bikes": 4, "carphone": 1, "mandel": 2, "photos": 4, "testsrc": 2, "x": 5}


def test_video_split_does_not_depend_on_the_order_videos_come_in():
    """The held-out videos once followed database ids, i.e. the order parallel decoders
    finished in: the same command validated on a different video (val loss 0.7 or 0.005)."""
    clips = keyed_clips(COUNTS)
    train, val = split_clips(clips, 0.2, seed=0)
    reordered = keyed_clips(dict(reversed(list(COUNTS.items()))))
    train2, val2 = split_clips(reordered, 0.2, seed=0)
    assert as_set(val) == as_set(val2) and as_set(train) == as_set(train2)
    assert len(train) + len(val) == len(clips)


def test_video_split_holds_whole_videos_and_about_the_fraction_asked():
    clips = keyed_clips(COUNTS)
    for seed in range(8):
        train, val = split_clips(clips, 0.2, seed=seed)
        assert not {key for key, _ in val} & {key for key, _ in train}
        assert len(val) >= round(0.2 * len(clips)) and train
    # Different seeds hold out different videos.
    vals = {frozenset(as_set(split_clips(clips, 0.2, seed=s)[1])) for s in range(8)}
    assert len(vals) > 1


def test_few_videos_split_by_clip():
    clips = keyed_clips({"a": 6, "b": 6})
    train, val = split_clips(clips, 0.25, seed=3)
    assert len(val) == 3 and len(train) == 9
    assert as_set(val) == as_set(split_clips(clips, 0.25, seed=3)[1])


def test_library_clips_are_keyed_by_content(library, clips):
    library.index([clips["testsrc"], clips["mandel"]])
    got = library_clips(library.store)
    with library.store.sessions() as session:
        from vsearch.db import queries

        hashes = {v.content_hash for v in queries.list_videos(session=session)}
    assert got and {key for key, _ in got} == hashes
    assert all(seq.ndim == 2 and len(seq) >= 2 for _, seq in got)


@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_split_never_empties_the_training_set(fraction):
    clips = keyed_clips({k: 1 for k in "abcdef"})
    train, val = split_clips(clips, fraction, seed=0)
    assert train and len(val) >= 2
