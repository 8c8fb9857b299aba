"""Placing a picture inside a frame by its pixels (vsearch.match.pixels)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vsearch.match.pixels import PIXEL_SCALES, PIXEL_SIDE, grey, placement_score, templates


def _frame(seed: int) -> np.ndarray:
    """A 224 px RGB frame of smooth random blobs (like footage, unlike white noise)."""
    rng = np.random.default_rng(seed)
    small = (rng.random((14, 14, 3)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((224, 224), Image.Resampling.BICUBIC))


def _squeezed(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((224, 224), Image.Resampling.BICUBIC))


def test_grey_and_templates_shapes():
    g = grey(_frame(0))
    assert g.shape == (PIXEL_SIDE, PIXEL_SIDE) and g.dtype == np.float32
    assert grey(np.stack([_frame(0), _frame(1)])).shape == (2, PIXEL_SIDE, PIXEL_SIDE)
    tmpls = templates(g)
    assert [t.shape[0] for t in tmpls] == [round(PIXEL_SIDE * s) for s in PIXEL_SCALES]
    for t in tmpls:
        assert abs(float(t.mean())) < 1e-4 and float(np.sqrt((t * t).sum())) == pytest.approx(1)


def test_a_frame_and_a_crop_of_it_are_placed_others_are_not():
    frame = grey(_frame(0))
    assert placement_score(frame, templates(frame)) == pytest.approx(1.0, abs=1e-3)
    # an 80% crop off centre, blown up to the square as a query image is
    crop = grey(_squeezed(_frame(0)[10:190, 30:210]))
    assert placement_score(frame, templates(crop)) > 0.8
    assert placement_score(grey(_frame(1)), templates(crop)) < 0.5


def test_brightness_and_contrast_do_not_matter_and_flat_gives_nothing():
    frame = grey(_frame(2))
    altered = np.clip(_frame(2).astype(np.float32) * 0.6 + 60, 0, 255).astype(np.uint8)
    assert placement_score(frame, templates(grey(altered))) > 0.98
    flat = np.full((224, 224, 3), 128, np.uint8)
    assert placement_score(frame, templates(grey(flat))) == -1.0  # no template to place
