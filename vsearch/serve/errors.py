"""One translation of errors into HTTP answers: a JSON body, never a traceback.

The HTTP status follows the meaning of the CLI's exit code (2 bad input, 4 locked, ...); the
body carries that exit code too, so a script can treat the CLI and the server alike::

    {"error": {"status": 400, "exit_code": 2, "type": "UsageError", "message": "..."}}
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import Response

from vsearch import errors as e

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of gives its status.
STATUS_OF_ERROR: list[tuple[type[e.VsearchError], int]] = [
    (e.NotInLibraryError, 404),
    (e.NoTextTowerError, 400),
    (e.MediaError, 422),  # an upload ffmpeg or PIL cannot read (exit code 2)
    (e.QueryFileError, 422),
    (e.UsageError, 400),  # exit code 2
    (e.LibraryLockedError, 423),  # exit code 4
    (e.EmptyLibraryError, 409),
    (e.CheckpointError, 409),  # e.g. classify with no trained head
    (e.InterruptedRun, 503),  # exit code 130
    (e.VsearchError, 500),  # exit code 1
]


class JSONResponse(Response):
    """JSON with non-ASCII escaped: file names that are not valid UTF-8 (kept by Python as
    lone surrogates) still make a valid UTF-8 body."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


class HTTPError(Exception):
    """An error of the HTTP layer itself (size, type, token, timeout, route)."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int,
    message: str,
    *,
    kind: str = "HTTPError",
    exit_code: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"status": status, "exit_code": exit_code, "type": kind, "message": message}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def vsearch_error_response(exc: e.VsearchError) -> JSONResponse:
    status = next(code for cls, code in STATUS_OF_ERROR if isinstance(exc, cls))
    message = getattr(exc, "public_message", None) or str(exc)
    message = message.replace("\r", " ").replace("\n", " ")
    if status >= 500:
        log.warning("%s: %s", type(exc).__name__, message)
    return error_response(status, message, kind=type(exc).__name__, exit_code=exc.exit_code)


def http_error_response(exc: HTTPError) -> JSONResponse:
    return error_response(exc.status, exc.message, headers=exc.headers)


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    log.error("unexpected error while answering a request", exc_info=exc)
    return error_response(
        500, "internal error: the server log has the details", kind="InternalError", exit_code=1
    )
