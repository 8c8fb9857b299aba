"""Third-party encoder families through the `vsearch.encoders` entry-point group: a real
distribution (dist-info + module) on sys.path, found, loaded lazily, run through the encoder
contract and used to index a library; a broken one is skipped with a warning."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import test_encoder_contract as contract

from vsearch.errors import UnknownModelError
from vsearch.models import create_encoder, list_encoders
from vsearch.models.registry import ENCODERS, ENTRY_POINT_GROUP

# A plugin as its author would write it: numpy only, the mean colour of each cell of a grid.
TINYGRID = """
import numpy as np

from vsearch.models import register_encoder
from vsearch.models.base import check_images, l2_normalize, no_text_tower
from vsearch.models.registry import unknown_arch
from vsearch.types import ModelInfo

SIZE = 32


class TinyGridEncoder:
    def __init__(self, cells):
        self.cells = cells
        self.info = ModelInfo(
            spec=f"tinygrid:g{cells}", family="tinygrid", arch=f"g{cells}", weights="none",
            dim=3 * cells * cells, input_size=SIZE, preprocess=f"resize-{SIZE}+grid-{cells}",
        )
        self.device = "cpu"
        self.batch_size = 32

    def encode_images(self, images):
        images = check_images(images, SIZE, self.info.spec)
        n, c = len(images), self.cells
        cells = images.reshape(n, c, SIZE // c, c, SIZE // c, 3).astype(np.float32)
        means = cells.mean(axis=(2, 4)).reshape(n, self.info.dim)
        return l2_normalize(means - means.mean(axis=1, keepdims=True) + 1e-3)

    def encode_texts(self, texts):
        raise no_text_tower(self.info)

    def close(self):
        pass


def build(arch, weights, device):
    if arch not in ("g2", "g4") or weights not in (None, "none"):
        raise unknown_arch("tinygrid", arch, ["g2", "g4"])
    return TinyGridEncoder(int(arch[1:]))


def register():
    register_encoder("tinygrid", default_arch="g4")(build)
"""


@pytest.fixture()
def tinygrid(registries, install_plugin):
    """The plugin installed, vsearch's plugin state as if the process had just started."""
    ENCODERS._plugins_loaded = False  # undone by `registries` after the test
    install_plugin(
        "vsearch-tinygrid",
        {ENTRY_POINT_GROUP: {"tinygrid": "vsearch_tinygrid:register"}},
        {"vsearch_tinygrid": TINYGRID},
    )


def test_a_plugin_family_encodes_and_is_listed(tinygrid):
    import sys

    assert "vsearch_tinygrid" not in sys.modules
    enc = create_encoder("tinygrid:g2")
    assert enc.info.spec == "tinygrid:g2" and enc.info.dim == 12
    assert create_encoder("tinygrid").info.arch == "g4"
    assert "tinygrid" in list_encoders()
    assert ENCODERS.origin("tinygrid") == "plugin tinygrid"
    assert ENCODERS.origin("effnet") == "built-in"
    with pytest.raises(UnknownModelError, match="unknown tinygrid arch .g3.; close names: g4, g2"):
        create_encoder("tinygrid:g3")


class TestPluginEncoderContract(contract.TestEncoderContract):
    """The contract every built-in family keeps, kept by the plugin's family too."""

    @pytest.fixture()
    def encoder(self, tinygrid):
        enc = create_encoder("tinygrid:g4", device="cpu")
        yield enc
        enc.close()

    @pytest.fixture()
    def frames(self, encoder, make_frames):
        return make_frames(5, encoder.info.input_size, seed=1)


def test_a_library_indexes_and_searches_with_a_plugin_model(tinygrid, tmp_path, clips):
    from vsearch.config import Settings
    from vsearch.pipeline.library import Library

    settings = Settings.load(library=tmp_path / "lib", model="tinygrid:g4", decoders=2)
    with Library.open(settings=settings, create=True) as lib:
        report = lib.index([clips["testsrc"], clips["mandel"]])
        assert report.failed == [] and len(report.indexed) == 2
    # a new process: the library names its model, and opening it loads the plugin again
    ENCODERS._plugins_loaded = False
    ENCODERS._entries.pop("tinygrid")
    with Library.open(settings=Settings.load(library=tmp_path / "lib")) as lib:
        assert lib.model_info.spec == "tinygrid:g4"
        hits = lib.search_video(clips["mandel"], k=1)
        assert hits and hits[0].path.endswith("mandel.mp4")


def test_a_broken_plugin_warns_once_and_vsearch_works(registries, install_plugin, caplog):
    ENCODERS._plugins_loaded = False
    install_plugin(
        "vsearch-broken",
        {ENTRY_POINT_GROUP: {"broken": "vsearch_broken"}},
        {"vsearch_broken": "import torch_but_misspelled\n"},
    )
    with caplog.at_level(logging.WARNING):
        assert create_encoder("colorgrid").info.family == "colorgrid"  # no plugin loaded
        assert "broken" not in list_encoders()
        with pytest.raises(UnknownModelError, match="plugin 'broken' failed to load"):
            create_encoder("broken:x")
        list_encoders()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "'broken'" in warnings[0] and "vsearch-broken" in warnings[0]
    assert "torch_but_misspelled" in warnings[0]
    vecs = create_encoder("colorgrid").encode_images(np.zeros((1, 64, 64, 3), np.uint8))
    assert vecs.shape[0] == 1


def test_vsearch_models_lists_plugin_families_and_failed_plugins(tinygrid, install_plugin):
    import json

    from typer.testing import CliRunner

    from vsearch.cli import app

    install_plugin(
        "vsearch-broken",
        {ENTRY_POINT_GROUP: {"broken": "vsearch_broken"}},
        {"vsearch_broken": "raise RuntimeError('needs a GPU driver')\n"},
    )
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows["encoder", "tinygrid"]["origin"] == "plugin tinygrid"
    assert rows["encoder", "tinygrid"]["default_arch"] == "g4"
    assert rows["encoder", "effnet"] == {
        "kind": "encoder",
        "name": "effnet",
        "origin": "built-in",
        "default_arch": "lite0",
        "error": None,
    }
    assert {("pooler", "mean"), ("head", "tcn")} <= set(rows)
    assert "RuntimeError: needs a GPU driver" in rows["encoder", "broken"]["error"]
    table = CliRunner().invoke(app, ["models"])
    assert "tinygrid" in table.stdout and "FAILED" in table.stdout
