"""The `vsearch` command line: a thin layer over the library.

Each command parses its options, builds Settings, calls one pipeline function and renders the
result as a table or, with --json, as JSON. Commands live in one module per area.
"""

# Each module registers its commands on `app`; the import order is the order of `--help`.
# isort: off
from vsearch.cli import library_cmds, search_cmds, dups_cmds, classify_cmds, train_cmds, serve_cmds  # noqa: F401, E501

# isort: on
from vsearch.cli._app import app

__all__ = ["app"]
