"""Training commands: `vsearch train temporal`."""

from __future__ import annotations

from typing import Annotated

import typer

from vsearch.cli._app import (
    JsonOpt,
    RichProgress,
    emit_json,
    handle_errors,
    one_line,
    open_library,
    out,
)
from vsearch.cli.train_app import train_app
from vsearch.pipeline.training import (
    DEFAULT_ARCH,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_VAL_FRACTION,
)


@train_app.command("temporal")
@handle_errors
def temporal(
    arch: Annotated[
        str,
        typer.Option("--arch", help="lstm or tcn (or mean: back to the parameter-free pooler)."),
    ] = DEFAULT_ARCH,
    epochs: Annotated[
        int, typer.Option("--epochs", help="Passes over the clips.")
    ] = DEFAULT_EPOCHS,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Clips per batch.")
    ] = DEFAULT_BATCH_SIZE,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate (AdamW).")] = DEFAULT_LR,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Share of videos held out for validation.")
    ] = DEFAULT_VAL_FRACTION,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Use the new model even when it validates no better than the old."
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train a temporal clip model without labels and re-pool the clip index with it.

    Two views of the same clip (frame dropout, speed change, temporal crop, feature noise)
    must agree (InfoNCE); the checkpoint is saved in the library directory.
    """
    with open_library() as lib:
        report = lib.train_temporal(
            arch,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            val_fraction=val_fraction,
            seed=seed,
            force=force,
            progress=RichProgress(),
        )
    if json_out:
        emit_json(report.to_dict())
        return
    if report.kept_previous:
        out.print(
            one_line(
                f"{report.arch}: val loss {report.val_loss} is no better than the model "
                f"in use ({report.val_loss_previous}): kept {report.kept_previous} "
                "(--force to switch anyway)"
            ),
            markup=False,
        )
        return
    if report.checkpoint is None:
        out.print(f"clips re-pooled with mean ({report.clips_repooled} clips)", markup=False)
        return
    out.print(
        one_line(
            f"{report.arch}: val loss {report.val_loss} (untrained "
            f"{report.val_loss_untrained}), best epoch {report.best_epoch}; "
            f"{report.clips_repooled} clips re-pooled; checkpoint {report.checkpoint}"
        ),
        markup=False,
    )
