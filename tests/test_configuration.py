"""Config files (user and library), their precedence, their checks, and their documentation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.config import LIBRARY_CONFIG_NAME, Settings, settings_table
from vsearch.errors import UsageError

runner = CliRunner()
DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_precedence_user_file_library_file_environment_flag(tmp_path, monkeypatch):
    user = tmp_path / "user.toml"
    lib = tmp_path / "lib"
    lib.mkdir()
    user.write_text(f'library = "{lib}"\ndecoders = 3\nbatch_size = 16\nfps = 2\n')
    monkeypatch.setenv("VSEARCH_CONFIG", str(user))
    monkeypatch.delenv("VSEARCH_LIBRARY", raising=False)
    s = Settings.load()
    assert (s.library, s.decoders, s.batch_size, s.fps) == (lib, 3, 16, 2.0)
    (lib / LIBRARY_CONFIG_NAME).write_text("decoders = 5\n")
    assert Settings.load().decoders == 5  # the library's file beats the user's
    monkeypatch.setenv("VSEARCH_DECODERS", "6")
    assert Settings.load().decoders == 6  # the environment beats both files
    assert Settings.load(decoders=7).decoders == 7  # a flag beats everything


@pytest.mark.parametrize(
    "text",
    [
        "decoders = -1\n",
        "fps = nan\n",
        "fps = inf\n",
        'batch_size = "lots"\n',
        "decoders = 1.5\n",
        "colour = 3\n",
        "fps = \n",
        'library = "/elsewhere"\n',  # only the user's file names the library
    ],
)
def test_bad_library_config_file_is_one_line_exit_2(tmp_path, monkeypatch, text):
    monkeypatch.setenv("VSEARCH_CONFIG", str(tmp_path / "none.toml"))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / LIBRARY_CONFIG_NAME).write_text(text)
    with pytest.raises(UsageError, match=LIBRARY_CONFIG_NAME):
        Settings.load(library=lib)
    r = runner.invoke(app, ["--library", str(lib), "videos"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output


def test_documented_table_is_generated_from_the_settings():
    block = re.search(r"<!-- settings:begin -->\n(.*?)<!-- settings:end -->", DOC.read_text(), re.S)
    assert block is not None
    assert block.group(1) == settings_table(), "run scripts/settings_doc.py"


def test_shell_completion_is_offered():
    r = runner.invoke(app, ["--help"])
    assert "--install-completion" in r.stdout
