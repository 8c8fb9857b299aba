"""The `serve` command: the library over HTTP (JSON API and web page), loaded once."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Any

import typer

from vsearch.cli._app import app, err, handle_errors, one_line, open_library
from vsearch.errors import UsageError, VsearchError
from vsearch.serve.limits import MB, Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


LIMITS = Limits()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


SERVE_HELP = f"""Answer queries over HTTP with a web page: the library, model and indexes load once.

The JSON API answers what the commands answer with --json (search by image, clip or text,
dups, classify, videos, stats, labels) at /api/...; open http://HOST:PORT/ for the page.
Videos indexed meanwhile by `vsearch index` in another process are picked up without a
restart. Defaults: images up to {LIMITS.max_image_bytes / MB:g} MiB, clips up to
{LIMITS.max_clip_bytes / MB:g} MiB, {LIMITS.timeout:g} s per query, {LIMITS.workers} queries
worked on at once.
"""


@app.command(help=SERVE_HELP)
@handle_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless --allow-remote).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = DEFAULT_PORT,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a --host other machines can reach (use with --token).",
        ),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            help="Access token required on every request [env: VSEARCH_TOKEN].",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds one query may take before a 504.", show_default=False),
    ] = None,
    max_image_mb: Annotated[
        float | None, typer.Option(help="Largest image upload, MiB.", show_default=False)
    ] = None,
    max_clip_mb: Annotated[
        float | None, typer.Option(help="Largest clip upload, MiB.", show_default=False)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Queries worked on at once (threads).", show_default=False),
    ] = None,
) -> None:
    try:
        import uvicorn

        from vsearch.serve import create_app
    except ImportError as exc:
        raise VsearchError(
            f"vsearch serve needs the serve extra ({exc.name} is missing): "
            "pip install 'vsearch-video[serve]'"
        ) from None
    from vsearch.serve.security import LOOPBACK_NAMES

    changes: dict[str, Any] = {
        "timeout": timeout,
        "workers": workers,
        "max_image_bytes": None if max_image_mb is None else int(max_image_mb * MB),
        "max_clip_bytes": None if max_clip_mb is None else int(max_clip_mb * MB),
    }
    for name, value in changes.items():
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    from dataclasses import replace

    limits = replace(LIMITS, **{k: v for k, v in changes.items() if v is not None})
    token = token or os.environ.get("VSEARCH_TOKEN") or None
    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise UsageError(
            f"--host {host} lets other machines reach the library: add --allow-remote "
            "(and a --token) to do so"
        )
    lib = open_library()
    try:
        application = create_app(
            lib,
            token=token,
            limits=limits,
            allowed_hosts=LOOPBACK_NAMES if loopback else None,
        )
    except BaseException:
        lib.close()
        raise
    if not loopback:
        err.print(
            f"vsearch: warning: serving {one_line(str(lib.root))} to the network on {host}:{port}"
            + ("" if token else " WITHOUT a token: anyone who reaches it can search and play"),
            markup=False,
            highlight=False,
        )
    shown = f"[{host}]" if ":" in host else host
    err.print(
        f"vsearch: serving {one_line(str(lib.root))} at http://{shown}:{port}/"
        + (" (token required)" if token else "")
        + " - Ctrl+C stops",
        markup=False,
        highlight=False,
    )
    uvicorn.run(
        application,
        host=host.strip("[]"),
        port=port,
        log_level="warning",
        timeout_keep_alive=30,
        server_header=False,
    )
