"""The Typer app, its global options and the helpers every command shares.

Exit codes: 0 success, 1 error, 2 bad usage or input, 3 some files failed, 4 library locked
by another writer, 130 interrupted (Ctrl+C / SIGTERM).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import signal
import sys
import time
import traceback
import typing
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from vsearch.config import Settings, __version__
from vsearch.errors import StorageError, VsearchError
from vsearch.types import JSONObject, JSONValue, shown_name, timecode

EXIT_FILES_FAILED = 3
F = TypeVar("F", bound=Callable[..., Any])

GLOBAL_VALUE_OPTIONS = frozenset({"--library", "-l"})
GLOBAL_FLAGS = re.compile(r"^(--quiet|-q|--verbose|-v+)$")
# Options renamed for clarity, still understood: (command, old spelling) -> new spelling.
RENAMED_FLAGS = {("classify", "--library"): "--all"}


def hoist_global_options(args: list[str], commands: Iterable[str]) -> list[str]:
    """Global options (--library PATH, -v, -q) given after the subcommand move before it, so
    ``vsearch videos -l LIB`` means ``vsearch -l LIB videos``. Nothing after ``--`` moves.

    ``classify --library`` without a value is the old spelling of ``classify --all``.
    """
    names = set(commands)
    i = 0
    while i < len(args) and args[i] not in names:
        i += 2 if args[i] in GLOBAL_VALUE_OPTIONS else 1
    if i >= len(args):
        return list(args)
    command, front, rest = args[i], list(args[:i]), []
    j = i + 1
    while j < len(args):
        token = args[j]
        if token == "--":
            rest.extend(args[j:])
            break
        renamed = RENAMED_FLAGS.get((command, token))
        value = args[j + 1] if j + 1 < len(args) else None
        if renamed and (value is None or value.startswith("-")):
            err.print(f"vsearch: {command} {token} is now {renamed}", markup=False)
            rest.append(renamed)
            j += 1
        elif token in GLOBAL_VALUE_OPTIONS and value is not None:
            front += [token, value]
            j += 2
        elif token.startswith("--library=") or GLOBAL_FLAGS.match(token):
            front.append(token)
            j += 1
        else:
            rest.append(token)
            j += 1
    return [*front, command, *rest]


class _Group(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args, self.commands))


app = typer.Typer(
    name="vsearch",
    cls=_Group,
    help="Index video libraries and search them by image, clip or text.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
# Piped output is for reading in a file or pager, not an 80-column terminal: let paths breathe.
# Markup is off by default: file names, labels and arguments are never read as rich markup.
out = Console(
    soft_wrap=True, width=None if sys.stdout.isatty() else 200, markup=False, highlight=False
)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
_state: dict[str, Any] = {"library": None, "quiet": False, "db_url": None}

LibraryOpt = Annotated[
    Path | None,
    typer.Option(
        "--library", "-l", help="Library directory \\[env: VSEARCH_LIBRARY].", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    paths = "paths"


FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        help="table (default), json (same as --json), jsonl (one object a line), csv, or "
        "paths (one file a line, for xargs).",
        show_default=False,
        case_sensitive=False,
    ),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the listing to this file ('-': standard output).",
        show_default=False,
    ),
]


def one_line(text: str) -> str:
    """``text`` as one printable line: newlines shown as ``\\n``, and the bytes of a file name
    that are not UTF-8 (surrogate-escaped by Python) shown as ``\\xNN``."""
    return shown(text).replace("\r", "\\r").replace("\n", "\\n")


shown = shown_name


def handle_errors(fn: F) -> F:
    """Translate library errors once: one line on stderr and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = os.environ.get("VSEARCH_DEBUG") == "1"
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        try:
            return fn(*args, **kwargs)
        except VsearchError as exc:
            if debug:
                traceback.print_exc()
            message = one_line(with_flags(str(exc), fn))
            err.print(f"vsearch: error: {message}", markup=False, highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("vsearch: interrupted", markup=False)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: still one line, the traceback on request
            if debug:
                traceback.print_exc()
            err.print(
                f"vsearch: internal error: {type(exc).__name__}: {one_line(str(exc))} "
                "(VSEARCH_DEBUG=1 shows the traceback)",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


def with_flags(message: str, command: Callable[..., Any]) -> str:
    """A library message with each `parameter` of ``command`` (or of the global options)
    shown as its flag (``--end``) or argument (``FILE``); other backquoted words stay."""
    shown = {**_shown_names(main), **_shown_names(command)}
    return re.sub(r"`([a-z_][a-z0-9_]*)`", lambda m: shown.get(m[1], m[0]), message)


def _shown_names(command: Callable[..., Any]) -> dict[str, str]:
    """Python parameter name -> how the command line spells it, from the Typer annotations."""
    from typer.models import ArgumentInfo, OptionInfo

    try:
        hints = typing.get_type_hints(command, include_extras=True)
    except (NameError, TypeError):
        return {}
    shown: dict[str, str] = {}
    for name, hint in hints.items():
        for info in getattr(hint, "__metadata__", ()):
            if isinstance(info, OptionInfo):
                decls = [
                    d
                    for d in (info.default, *(info.param_decls or ()))
                    if isinstance(d, str) and d.startswith("-")
                ]
                longs = [d for d in decls if d.startswith("--")]
                shown[name] = (longs or decls or ["--" + name.replace("_", "-")])[0]
            elif isinstance(info, ArgumentInfo):
                shown[name] = info.metavar or name.upper()
    return shown


def _sigterm_as_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def settings(library: Path | None = None, **overrides: Any) -> Settings:
    overrides.setdefault("db_url", _state.get("db_url"))
    return Settings.load(library=library or _state["library"], **overrides)


def to_json(data: JSONValue, *, indent: int | None = 2) -> str:
    """Strict JSON text: NaN/inf become null (JSON has no such numbers), and a file name's
    undecodable bytes (surrogate-escaped) become ``\\udcXX`` escapes, which ``json.loads``
    turns back into the same name (``os.fsencode`` gives the original bytes)."""
    text = json.dumps(_finite(data), indent=indent, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def emit_json(data: JSONValue) -> None:
    sys.stdout.write(to_json(data) + "\n")


def chosen_format(fmt: OutputFormat | None, json_out: bool) -> str:
    return fmt.value if fmt is not None else ("json" if json_out else "table")


def emit_listing(
    rows: Sequence[JSONObject] | JSONObject,
    *,
    fmt: OutputFormat | None,
    json_out: bool,
    output: str | None,
    table: Callable[[Console], None],
    path_key: str = "path",
) -> None:
    """One listing in the format asked for, to stdout or ``output`` ('-' is stdout).

    Rows are flat dicts whose times are seconds (JSON, JSONL, CSV); ``table`` renders the
    human view. An empty listing is ``[]`` in JSON, nothing in the others; never an error.
    """
    kind = chosen_format(fmt, json_out)
    if kind == "table":
        if output in (None, "-"):
            table(out)
        else:
            with _open_output(output) as fh:
                table(Console(file=fh, width=200, markup=False, highlight=False, soft_wrap=True))
        return
    if kind == "json":
        text = to_json(rows) + "\n"
    elif kind == "jsonl":
        text = "".join(to_json(r, indent=None) + "\n" for r in rows)
    elif kind == "paths":
        listing = typing.cast(list[dict[str, Any]], rows)
        text = "".join(str(r[path_key]) + "\n" for r in listing if r.get(path_key) is not None)
    else:
        text = _csv_text(typing.cast(list[dict[str, Any]], rows))
    if output in (None, "-"):
        # names that are not UTF-8 go out as their own bytes (paths, csv) or \udcXX (json)
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
        sys.stdout.buffer.flush()
    else:
        with _open_output(output) as fh:
            fh.write(text)


def _csv_text(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: to_json(v, indent=None) if isinstance(v, dict | list) else v
                for k, v in row.items()
            }
        )
    return buffer.getvalue()


def _open_output(output: str):
    try:
        return open(output, "w", encoding="utf-8", errors="surrogateescape", newline="")
    except OSError as exc:
        raise StorageError(f"cannot write {output}: {exc.strerror or exc}") from None


def _print_version(value: bool) -> None:
    if value:
        out.print(f"vsearch {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    library: LibraryOpt = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db-url",
            help="Keep the metadata in a shared database server instead of the library "
            "folder's SQLite file, e.g. postgresql+psycopg://USER@HOST/DB (the folder then "
            "holds this host's index caches) \\[env: VSEARCH_DB_URL].",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="More logging (-vvv: of the libraries too)."
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """vsearch: index video libraries and search them by image, clip or text.

    Set VSEARCH_DEBUG=1 to see tracebacks.
    """
    _state["library"] = library
    _state["db_url"] = db_url
    _state["quiet"] = quiet
    _state["verbose"] = verbose
    level = max(logging.WARNING - 10 * verbose if not quiet else logging.ERROR, logging.DEBUG)
    # -v and -vv speak of vsearch only; -vvv lets the libraries underneath talk too
    logging.basicConfig(
        level=level if verbose >= 3 else max(level, logging.WARNING),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("vsearch").setLevel(level)


PLAIN_PROGRESS_INTERVAL = 15.0  # seconds between progress lines when stderr is not a terminal


class RichProgress:
    """A rich progress bar on stderr; when stderr is a file or a pipe (a log, a CI job), a
    plain line every PLAIN_PROGRESS_INTERVAL seconds instead. Nothing with -q."""

    def __init__(self, *, show_messages: bool | None = None):
        self.enabled = not _state["quiet"] and err.is_terminal
        self.plain = not _state["quiet"] and not err.is_terminal
        self._plain_state: dict[str, Any] = {}
        verbose = _state.get("verbose", 0) > 0
        self.show_messages = verbose if show_messages is None else show_messages
        self._bar: Any = None  # a rich Progress while shown
        self._task: Any = None
        self._frames = 0.0
        self._videos = 0
        self.reported: set[str] = set()  # failure lines already printed (each is printed once)

    def begin(self, total: float, unit: str, description: str) -> None:
        if self.plain:
            now = time.monotonic()
            self._plain_state = {
                "total": total, "unit": unit, "what": description, "done": 0.0,
                "start": now, "last": now,
            }  # fmt: skip
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        counter = MofNCompleteColumn() if unit != "s" else TextColumn("{task.fields[done]}")
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            counter,
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total or None, rate="", done="")
        self._unit = unit

    def advance(self, amount: float, **info: float) -> None:
        if self._plain_state:
            self._plain_line(amount, info)
        if self._bar is None:
            return
        self._frames += info.get("frames", 0)
        self._videos += int(info.get("videos", 0))
        task = self._bar.tasks[0]
        elapsed = max(task.elapsed or 0.0, 1e-6)
        fields: dict[str, str] = {}
        if self._unit == "s":
            done, total = task.completed + amount, task.total or 0
            fields["done"] = f"{self._videos} videos, {done:,.0f}/{total:,.0f} video-s"
            fields["rate"] = f"{self._frames / elapsed:.1f} frames/s"
        if "loss" in info:
            fields["rate"] = f"loss {info['loss']:.4f}"
        self._bar.update(self._task, advance=amount, **fields)

    def _plain_line(self, amount: float, info: dict[str, float]) -> None:
        state = self._plain_state
        state["done"] += amount
        state["frames"] = state.get("frames", 0.0) + info.get("frames", 0.0)
        now = time.monotonic()
        if now - state["last"] < PLAIN_PROGRESS_INTERVAL:
            return
        state["last"] = now
        elapsed = now - state["start"]
        done, total, unit = state["done"], state["total"], state["unit"]
        line = f"vsearch: {state['what']}: {done:,.0f}/{total:,.0f} {unit}"
        if total and done:
            line += f" ({100 * done / total:.0f}%, ETA {timecode(elapsed * (total - done) / done)})"
        if state["frames"]:
            line += f", {state['frames'] / elapsed:.1f} frames/s"
        if "loss" in info:
            line += f", loss {info['loss']:.4f}"
        err.print(line, markup=False, highlight=False)

    def message(self, text: str) -> None:
        failed = text.startswith(("failed", "partial"))
        if failed:
            self.reported.add(text.split(None, 1)[-1])
            err.print(f"vsearch: {one_line(text)}", markup=False, highlight=False)
        elif self._bar is not None and self.show_messages:
            self._bar.console.print(one_line(text), markup=False, highlight=False, style="dim")

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def open_library(
    create: bool = False,
    *,
    model: str | None = None,
    fps: float | None = None,
    framing: str | None = None,
    **overrides: Any,
):
    """Open (or create) the library of the global options; ``overrides`` are Settings fields."""
    from vsearch.pipeline.library import Library

    return Library.open(
        settings=settings(**overrides), create=create, model=model, fps=fps, framing=framing
    )


def render_table(
    title: str, columns: list[str], rows: list[list[Any]], console: Console | None = None
) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(one_line(title)), title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[Text(one_line(str(c))) for c in row])
    (console or out).print(table)
