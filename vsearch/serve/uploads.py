"""Query files sent to the server: size and type limits, saved to a private temporary folder.

An upload is either the raw body (``Content-Type: image/png``, ``video/mp4``..., the name in
an ``X-Filename`` header or a ``filename`` parameter) or a ``multipart/form-data`` part named
``file`` (``curl -F file=@photo.jpg``). The type is checked by content type and file name
before anything is decoded; the decoders then decide (a bad file is a 422 naming the cause).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vsearch.media.files import VIDEO_EXTENSIONS
from vsearch.media.image import IMAGE_EXTENSIONS
from vsearch.serve.errors import HTTPError, error_response
from vsearch.serve.limits import MB

_TYPE_EXTENSION = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
    "video/ogg": ".ogv",
    "video/mp2t": ".ts",
}
_GENERIC_TYPES = {"", "application/octet-stream"}


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` (413), also when chunked."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"").decode("latin-1")
        if length.isdigit() and int(length) > self.max_bytes:
            response = error_response(413, _too_large(self.max_bytes))
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPError(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, limited, send)


def _too_large(limit: int) -> str:
    return f"upload too large: the limit is {limit / MB:g} MiB"


def _suffix(kind: str, filename: str | None, content_type: str | None) -> str:
    """The extension the saved query gets, or 415 when the upload is not an ``kind``."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    ext = os.path.splitext(filename or "")[1].lower()
    allowed = IMAGE_EXTENSIONS if kind == "image" else VIDEO_EXTENSIONS
    if ext in allowed and (ctype in _GENERIC_TYPES or ctype.startswith(f"{kind}/")):
        return ext
    if ctype.startswith(f"{kind}/"):
        guess = _TYPE_EXTENSION.get(ctype, "")
        return guess if guess in allowed else ""  # unknown subtype: let the decoder sniff
    what = "an image (JPEG, PNG, WebP, GIF, BMP, TIFF)" if kind == "image" else "a video file"
    got = ctype or "no content type"
    raise HTTPError(415, f"expected {what}; got {got}{f' named {filename!r}' if filename else ''}")


async def save_upload(
    request: Request, kind: str, limit: int, folder: Path
) -> tuple[Path, dict, str]:
    """Save the query file of ``request`` under ``folder``: (path, form fields, its name)."""
    fields: dict[str, str] = {}
    ctype = request.headers.get("content-type", "")
    fd, name = tempfile.mkstemp(dir=folder, prefix=f"{kind}-")
    os.close(fd)
    path = Path(name)
    try:
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=20)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPError(400, 'a multipart upload needs its file in a part named "file"')
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            name = upload.filename or f"the uploaded {kind}"
            suffix = _suffix(kind, upload.filename, upload.content_type)
            path = path.rename(path.with_suffix(suffix))
            size = 0
            with path.open("wb") as out:
                while chunk := await upload.read(MB):
                    size = _checked(size + len(chunk), limit)
                    out.write(chunk)
            await upload.close()
        else:
            filename = request.headers.get("x-filename") or request.query_params.get("filename")
            name = filename or f"the uploaded {kind}"
            path = path.rename(path.with_suffix(_suffix(kind, filename, ctype)))
            size = 0
            with path.open("wb") as out:
                async for chunk in request.stream():
                    size = _checked(size + len(chunk), limit)
                    out.write(chunk)
        if size == 0:
            raise HTTPError(400, f"the {kind} upload is empty")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, fields, name


def _checked(size: int, limit: int) -> int:
    if size > limit:
        raise HTTPError(413, _too_large(limit))
    return size


def safe_header_name(text: str) -> str:
    """A file name fit for a Content-Disposition header (ASCII, no quotes)."""
    return re.sub(r"[^A-Za-z0-9._ -]", "_", text)[:120] or "video"
