"""The `vsearch` command line: a thin layer over the library.

Each command parses its options, builds Settings, calls one pipeline function and renders the
result as a table or, with --json, as JSON. Commands live in one module per area.
"""

import vsearch.cli.train_cmds  # noqa: F401  (registers `train`)
from vsearch.cli import dups_cmds, library_cmds, search_cmds  # noqa: F401  (register commands)
from vsearch.cli._app import app

__all__ = ["app"]
