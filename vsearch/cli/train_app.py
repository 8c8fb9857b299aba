"""The `vsearch train` command group; each area adds its own command to ``train_app``."""

from __future__ import annotations

import typer

from vsearch.cli._app import app

train_app = typer.Typer(
    help="Train models on the library's stored vectors: temporal clip models, classifiers.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")
