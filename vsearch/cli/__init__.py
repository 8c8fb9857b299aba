"""The `vsearch` command line: a thin layer over the library.

Each command parses its options, builds Settings, calls one pipeline function and renders the
result as a table or, with --json, as JSON. Commands live in one module per area.
"""

from vsearch.cli import library_cmds, search_cmds  # noqa: F401  (register commands)
from vsearch.cli._app import app

__all__ = ["app"]

import vsearch.cli.classify_cmds  # noqa: E402, F401  (label, labels, classify, train classifier)
