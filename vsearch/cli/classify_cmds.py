"""Commands that label and classify videos: label, labels, classify, train classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsearch.cli._app import (
    FormatOpt,
    JsonOpt,
    OutputOpt,
    RichProgress,
    app,
    chosen_format,
    emit_json,
    emit_listing,
    err,
    handle_errors,
    one_line,
    open_library,
    out,
    render_table,
)
from vsearch.cli.train_app import train_app
from vsearch.errors import UsageError
from vsearch.pipeline.classify import DEFAULT_K, DEFAULT_PROMPT
from vsearch.pipeline.train_heads import (
    DEFAULT_HEAD,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_PATIENCE,
    DEFAULT_VAL_FRACTION,
)
from vsearch.types import timecode


@app.command()
@handle_errors
def label(
    path: Annotated[Path | None, typer.Argument(help="A video of the library.")] = None,
    label: Annotated[str | None, typer.Argument(help="The label, e.g. 'cat'.")] = None,
    start: Annotated[
        float | None, typer.Option(help="Segment start (seconds); default whole video.")
    ] = None,
    end: Annotated[float | None, typer.Option(help="Segment end (seconds).")] = None,
    import_csv: Annotated[
        Path | None,
        typer.Option(
            "--import", help="CSV file of path,label[,start,end] lines (optional header)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Label a library video, or a segment of it (--start/--end), or import labels from a CSV."""
    if import_csv is not None and (path is not None or label is not None):
        raise UsageError("give either PATH LABEL or --import FILE.csv, not both")
    if import_csv is None and (path is None or label is None):
        raise UsageError("give PATH LABEL (or --import FILE.csv)")
    with open_library() as lib:
        if import_csv is not None:
            records = lib.import_labels(import_csv)
        else:
            records = [lib.label(path, label, start=start, end=end)]
    if json_out:
        emit_json([r.to_dict() for r in records])
        return
    if len(records) > 10:  # an import: one line, `vsearch labels` lists them
        found = len({r.label for r in records})
        out.print(f"labelled {len(records)} videos/segments with {found} labels", markup=False)
        return
    for r in records:
        span = (
            ""
            if r.start is None
            else f" [{r.start:g}s-{'end' if r.end is None else f'{r.end:g}s'}]"
        )
        out.print(one_line(f"labelled {r.path}{span}: {r.label}"), markup=False)


@app.command()
@handle_errors
def labels(json_out: JsonOpt = False, fmt: FormatOpt = None, output: OutputOpt = None) -> None:
    """List the library's labels with counts (labels and labelled videos per label)."""
    from vsearch.pipeline.labels import label_counts

    with open_library() as lib:
        records = lib.labels()
    counts = label_counts(records)
    if chosen_format(fmt, json_out) == "json":
        emit_listing(
            {"counts": counts, "labels": [r.to_dict() for r in records]},
            fmt=fmt,
            json_out=json_out,
            output=output,
            table=lambda console: None,
        )
        return

    def table(console) -> None:
        render_table(
            f"{len(counts)} labels, {len(records)} labelled videos/segments",
            ["label", "labels", "videos"],
            [[name, c["labels"], c["videos"]] for name, c in counts.items()],
            console,
        )
        render_table(
            "labels",
            ["label", "start", "end", "path"],
            [
                [
                    r.label,
                    "" if r.start is None else timecode(r.start),
                    "" if r.end is None else timecode(r.end),
                    r.path,
                ]
                for r in records
            ],
            console,
        )

    emit_listing(
        [r.to_dict() for r in records], fmt=fmt, json_out=json_out, output=output, table=table
    )


@app.command()
@handle_errors
def unlabel(
    path: Annotated[Path, typer.Argument(help="A video of the library.")],
    label: Annotated[
        str | None, typer.Argument(help="The label to remove (default: all of its labels).")
    ] = None,
    start: Annotated[
        float | None, typer.Option(help="Only the label of the segment starting here.")
    ] = None,
    end: Annotated[float | None, typer.Option(help="... and ending here (seconds).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove labels of a video (one label, or all; one segment's with --start/--end)."""
    with open_library() as lib:
        removed = lib.unlabel(path, label, start=start, end=end)
    if json_out:
        emit_json({"removed": removed})
    else:
        out.print(one_line(f"removed {removed} label(s) of {path}"), markup=False)


@app.command()
@handle_errors
def predictions(
    path: Annotated[
        Path | None, typer.Argument(help="A video of the library (default: all).")
    ] = None,
    json_out: JsonOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """The predictions stored by `classify --all`: whole video and per clip window."""
    with open_library() as lib:
        rows = [r.to_dict() for r in lib.predictions(path)]
    emit_listing(
        rows,
        fmt=fmt,
        json_out=json_out,
        output=output,
        table=lambda console: render_table(
            f"{len(rows)} predictions",
            ["label", "score", "segment", "classifier", "path"],
            [
                [
                    r["label"],
                    f"{r['score']:.3f}",
                    "whole"
                    if r["start"] is None
                    else f"{timecode(r['start'])}-{timecode(r['end'] or r['start'])}",
                    r["classifier"],
                    r["path"],
                ]
                for r in rows
            ],
            console,
        ),
    )


@app.command()
@handle_errors
def classify(
    path: Annotated[
        Path | None,
        typer.Argument(help="A video (in the library or not).", metavar="FILE", show_default=False),
    ] = None,
    library: Annotated[
        bool,
        typer.Option("--all", help="Classify every library video and store the predictions."),
    ] = False,
    unlabelled: Annotated[
        bool, typer.Option(help="With --all: only videos that have no label.")
    ] = False,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Zero-shot: comma-separated labels, scored with the text tower (CLIP) or, "
            "with ImageNet CNNs (effnet), as words naming ImageNet classes (their probability).",
        ),
    ] = None,
    prompt: Annotated[
        str, typer.Option(help="Zero-shot prompt; {} is replaced by each label.")
    ] = DEFAULT_PROMPT,
    by_examples: Annotated[
        bool,
        typer.Option(
            "--by-examples",
            help="Vote over the k most similar labelled clips (softmax of similarity, its "
            "temperature calibrated on the library's labels: each labelled video classified "
            "by the others).",
        ),
    ] = False,
    k: Annotated[
        int, typer.Option("-k", help="Labelled clips voting with --by-examples.")
    ] = DEFAULT_K,
    head: Annotated[
        str | None,
        typer.Option(help="Trained head: a checkpoint path or an arch (default: latest)."),
    ] = None,
    json_out: JsonOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Say what a video is, as a whole and per 4 s clip window (scores are probabilities).

    Zero-shot with --labels, by labelled examples with --by-examples, else with the latest head
    made by `vsearch train classifier`.
    """
    labels_arg = labels.split(",") if labels is not None else None
    with open_library() as lib:
        for label in labels_arg or ():
            matched = lib.words_for(label) if label.strip() else None
            if matched and chosen_format(fmt, json_out) == "table":
                err.print(f"matched {matched}", markup=False)
        results = lib.classify(
            path,
            labels=labels_arg,
            prompt=prompt,
            by_examples=by_examples,
            k=k,
            head=head,
            library=library,
            unlabelled=unlabelled,
            progress=RichProgress(),
        )

    def table(console) -> None:
        for r in results:
            line = f"{r.path}: {r.label} ({r.score:.3f})  [{r.classifier}]"
            console.print(one_line(line), markup=False)
            if path is not None:
                render_table(
                    "segments",
                    ["start", "end", "label", "score"],
                    [
                        [timecode(s.start), timecode(s.end), s.label, f"{s.score:.3f}"]
                        for s in r.segments
                    ],
                    console,
                )

    emit_listing(
        [r.to_dict() for r in results], fmt=fmt, json_out=json_out, output=output, table=table
    )


@train_app.command("classifier")
@handle_errors
def train_classifier(
    arch: Annotated[str, typer.Option(help="Head: linear, lstm or tcn.")] = DEFAULT_HEAD,
    max_epochs: Annotated[
        int, typer.Option("--epochs", help="Most epochs (early stopping ends sooner).")
    ] = DEFAULT_MAX_EPOCHS,
    patience: Annotated[
        int, typer.Option(help="Epochs without held-out gain before stopping.")
    ] = DEFAULT_PATIENCE,
    val_fraction: Annotated[
        float, typer.Option(help="Share of each label's videos held out for validation.")
    ] = DEFAULT_VAL_FRACTION,
    seed: Annotated[int, typer.Option(help="Seed of the split and the initial weights.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Train a classifier head on the labelled clips' stored frame vectors (split by video)."""
    with open_library() as lib:
        report = lib.train_classifier(
            arch=arch,
            max_epochs=max_epochs,
            patience=patience,
            val_fraction=val_fraction,
            seed=seed,
            progress=RichProgress(),
        )
    if json_out:
        emit_json(report.to_dict())
        return
    out.print(
        f"{report.arch} head: held-out accuracy {report.accuracy:.3f} on {report.val_windows} "
        f"windows of {report.val_videos} videos (trained on {report.train_windows} windows of "
        f"{report.train_videos} videos; best epoch {report.best_epoch}/{report.epochs})",
        markup=False,
    )
    render_table(
        "confusion (rows: true label, columns: predicted)",
        ["", *report.labels],
        [[name, *row] for name, row in zip(report.labels, report.confusion, strict=True)],
    )
    out.print(one_line(f"saved {report.checkpoint}"), markup=False)
