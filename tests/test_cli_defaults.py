"""One source of truth: the CLI's defaults are the library's, and its errors name its flags."""

from __future__ import annotations

import inspect

import pytest
import typer.main
from typer.testing import CliRunner

from vsearch import Library
from vsearch.checks import time_range
from vsearch.cli import app
from vsearch.errors import UsageError
from vsearch.pipeline.clip_search import DEFAULT_THRESHOLD

runner = CliRunner()

# (command path, CLI parameter, Library method): the CLI parameter is named as the method's.
SHARED = [
    (["search"], "k", Library.search_image),
    (["search"], "refine", Library.search_image),
    (["dups"], "min_duration", Library.find_duplicates),
    (["classify"], "prompt", Library.classify),
    (["classify"], "k", Library.classify),
    (["train", "temporal"], "arch", Library.train_temporal),
    (["train", "temporal"], "epochs", Library.train_temporal),
    (["train", "temporal"], "batch_size", Library.train_temporal),
    (["train", "temporal"], "lr", Library.train_temporal),
    (["train", "temporal"], "val_fraction", Library.train_temporal),
    (["train", "temporal"], "seed", Library.train_temporal),
    (["train", "temporal"], "force", Library.train_temporal),
    (["train", "classifier"], "arch", Library.train_classifier),
    (["train", "classifier"], "max_epochs", Library.train_classifier),
    (["train", "classifier"], "patience", Library.train_classifier),
    (["train", "classifier"], "val_fraction", Library.train_classifier),
    (["train", "classifier"], "seed", Library.train_classifier),
    (["shards"], "shard_size", Library.refresh_shards),
    (["shards"], "factory", Library.refresh_shards),
    (["shards"], "workers", Library.refresh_shards),
    (["shards"], "nprobe", Library.refresh_shards),
]


def command(path: list[str]):
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize(
    ("path", "name", "method"), SHARED, ids=lambda x: getattr(x, "__name__", x)
)
def test_cli_default_is_the_library_default(path, name, method):
    (param,) = [p for p in command(path).params if p.name == name]
    assert param.default == inspect.signature(method).parameters[name].default


def test_library_methods_take_explicit_keywords():
    for name, method in inspect.getmembers(Library, inspect.isfunction):
        kinds = {p.kind for p in inspect.signature(method).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, f"Library.{name} takes **kwargs"
        if not name.startswith("_"):
            assert method.__doc__, f"Library.{name} has no docstring"


def test_clip_threshold_default_is_the_use_case_default():
    # None: the threshold calibrated for the library's model (pipeline/scoring.py)
    for method in (Library.search_video, Library.search_batch):
        default = inspect.signature(method).parameters["threshold"].default
        assert default == DEFAULT_THRESHOLD


def test_search_help_states_the_threshold_the_code_uses():
    """Each score scale's default (the library's model picks the scale) is in the help."""
    from vsearch.pipeline.scoring import CALIBRATED, RAW

    result = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "300"})
    text = " ".join(result.output.replace("│", " ").split())
    for scale in (CALIBRATED, RAW):
        assert f"{scale.clip_search.threshold:g} (precision" in text, scale.name


def test_library_errors_name_parameters_and_the_cli_names_flags(tmp_path, clips):
    with pytest.raises(UsageError, match="`end` .* must come after `start`"):
        time_range(3.0, 1.0)
    lib = tmp_path / "lib"
    assert (
        runner.invoke(app, ["--library", str(lib), "init", "--model", "colorgrid"]).exit_code == 0
    )
    assert (
        runner.invoke(app, ["--library", str(lib), "index", str(clips["testsrc"])]).exit_code == 0
    )
    args = ["--library", str(lib), "search", "--video", str(clips["testsrc"]), "-k", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--top must be a positive number" in result.stderr
    args = ["--library", str(lib), "search", "--video", str(clips["testsrc"])]
    result = runner.invoke(app, [*args, "--start", "3", "--end", "1"])
    assert result.exit_code == 2 and "--end (1) must come after --start (3)" in result.stderr
    result = runner.invoke(app, ["--library", str(lib), "dups", "--min-similarity", "2"])
    assert result.exit_code == 2 and "--min-similarity must be a similarity" in result.stderr
