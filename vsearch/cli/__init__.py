"""The `vsearch` command line: a thin layer over the library.

Each command parses its options, builds Settings, calls one pipeline function and renders the
result as a table or, with --json, as JSON. Commands live in one module per area.
"""

from vsearch.cli import (  # noqa: F401  (each module registers its commands on `app`)
    classify_cmds,
    dups_cmds,
    library_cmds,
    search_cmds,
    train_cmds,
)
from vsearch.cli._app import app

__all__ = ["app"]
