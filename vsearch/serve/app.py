"""The HTTP API and web page of ``vsearch serve`` (Starlette).

Every answer is the JSON of the matching CLI command with ``--json`` (the same ``to_dict``
of the same library call), plus ``video_id`` where a result names a video, for the media
URLs. Errors are JSON (``serve.errors``). Routes::

    GET  /api/health                      GET  /api/stats
    GET  /api/videos[?errors=1]           GET  /api/videos/{id}
    GET  /api/videos/{id}/file  (Range)   GET  /api/videos/{id}/thumb?t=&w=
    GET  /api/file?path=        (Range, library videos only)
    POST /api/search/image?k=&frames=&refine=     (upload)
    POST /api/search/clip?k=&start=&end=&threshold=&regions=   (upload)
    GET  /api/search/text?q=&k=&frames=
    GET  /api/dups?threshold=&min_duration=&within=
    POST /api/classify?labels=&prompt=&by_examples=&k=&head=   (upload, or ?video_id=)
    GET  /api/labels                      POST /api/labels  {"video_id"|"path", "label", ...}
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import mimetypes
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vsearch.config import __version__
from vsearch.errors import VsearchError
from vsearch.pipeline.clip_search import DEFAULT_THRESHOLD, REGIONS
from vsearch.pipeline.library import Library
from vsearch.pipeline.search import REFINE_TOP
from vsearch.serve.errors import (
    HTTPError,
    JSONResponse,
    error_response,
    http_error_response,
    unexpected_error_response,
    vsearch_error_response,
)
from vsearch.serve.limits import Limits
from vsearch.serve.security import AccessGuard
from vsearch.serve.state import ServedLibrary
from vsearch.serve.uploads import BodyLimit, safe_header_name, save_upload

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MAX_K = 1000
T = TypeVar("T")


def create_app(
    lib: Library,
    *,
    token: str | None = None,
    limits: Limits | None = None,
    allowed_hosts: frozenset[str] | None = None,
    warm: bool = True,
) -> Starlette:
    """The ASGI app answering from ``lib`` (opened by the caller, closed at shutdown).

    ``allowed_hosts``: Host header names answered (None: any, for a server bound to a
    public address); ``token``: required on every request when set.
    """
    served = ServedLibrary(lib)
    api = _Api(served, limits or Limits())
    if warm:
        seconds = served.warm()
        log.info("library loaded in %.2f s", seconds)

    async def on_error(_request: Request, exc: Exception) -> Response:
        if isinstance(exc, VsearchError):
            return vsearch_error_response(exc)
        if isinstance(exc, HTTPError):
            return http_error_response(exc)
        if isinstance(exc, HTTPException):
            return error_response(exc.status_code, str(exc.detail))
        return unexpected_error_response(exc)

    routes = [
        Route("/", api.index_page),
        Route("/api/health", api.health),
        Route("/api/stats", api.stats),
        Route("/api/videos", api.videos),
        Route("/api/videos/{video_id:int}", api.video),
        Route("/api/videos/{video_id:int}/file", api.video_file),
        Route("/api/videos/{video_id:int}/thumb", api.thumbnail),
        Route("/api/file", api.file_by_path),
        Route("/api/search/image", api.search_image, methods=["POST"]),
        Route("/api/search/clip", api.search_clip, methods=["POST"]),
        Route("/api/search/text", api.search_text),
        Route("/api/dups", api.dups),
        Route("/api/classify", api.classify, methods=["POST"]),
        Route("/api/labels", api.labels, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        # VsearchError and HTTPError are answers, not failures: handled inside, not logged
        # as crashes; anything else is a 500 without its traceback (logged here instead).
        exception_handlers={
            VsearchError: on_error,
            HTTPError: on_error,
            HTTPException: on_error,
            Exception: on_error,
        },
        lifespan=api.lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=api.limits.max_body_bytes)
    app.add_middleware(AccessGuard, token=token, allowed_hosts=allowed_hosts)
    app.state.served = served
    return app


class _Api:
    def __init__(self, served: ServedLibrary, limits: Limits):
        self.served = served
        self.limits = limits
        self.limiter = anyio.CapacityLimiter(limits.workers)
        self.uploads = Path(tempfile.mkdtemp(prefix="vsearch-serve-"))

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            shutil.rmtree(self.uploads, ignore_errors=True)
            self.served.close()

    # --- running library calls off the event loop ------------------------------------------

    async def _run(
        self,
        fn: Callable[[Library], T],
        *,
        timeout: float | None = None,
        cache_key: tuple | None = None,
        cache_size: int = 8,
    ) -> T:
        """``fn(lib)`` in a worker thread with the library current; 504 past the timeout.

        With ``cache_key``, an answer is reused until the library changes."""
        limit = timeout or self.limits.timeout

        def call() -> T:
            if cache_key is None:
                return self.served.read(fn)
            return self.served.cached(cache_key, fn, cache_size)

        try:
            with anyio.fail_after(limit):
                return await anyio.to_thread.run_sync(
                    call, abandon_on_cancel=True, limiter=self.limiter
                )
        except TimeoutError:
            message = f"no answer within {limit:g} s (vsearch serve --timeout)"
            raise HTTPError(504, message) from None

    async def _with_upload(self, request: Request, kind: str, fn) -> tuple[Any, dict]:
        limit = self.limits.max_image_bytes if kind == "image" else self.limits.max_clip_bytes
        try:
            with anyio.fail_after(self.limits.upload_timeout):
                path, fields, name = await save_upload(request, kind, limit, self.uploads)
        except TimeoutError:
            message = f"the upload took longer than {self.limits.upload_timeout:g} s"
            raise HTTPError(408, message) from None
        try:
            params = {**fields, **request.query_params}
            return await self._run(lambda lib: fn(lib, path, params)), params
        except VsearchError as exc:  # name the client's file, not the server's temporary copy
            exc.public_message = str(exc).replace(str(path), name)  # type: ignore[attr-defined]
            raise
        finally:
            path.unlink(missing_ok=True)

    # --- pages and facts -------------------------------------------------------------------

    async def index_page(self, _request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def health(self, _request: Request) -> Response:
        def facts(lib: Library) -> dict[str, Any]:
            return {
                "status": "ok",
                "version": __version__,
                "library": str(lib.root),
                "model": lib.model_info.spec,
                "has_text": lib.model_info.has_text,
                "fps": lib.fps,
                "framing": lib.framing.value,
                **lib.sizes(),
                "readonly": lib.readonly,
                "refreshed_at": self.served.refreshed_at,
            }

        return JSONResponse(await self._run(facts))

    async def stats(self, _request: Request) -> Response:
        stats = await self._run(lambda lib: lib.stats())
        return JSONResponse(stats.to_dict())

    async def videos(self, request: Request) -> Response:
        errors_only = _bool(request.query_params, "errors")
        rows = await self._run(lambda lib: lib.videos(errors_only=errors_only))
        return JSONResponse([_with_id(v.to_dict(), v.id) for v in rows])

    async def video(self, request: Request) -> Response:
        vid = request.path_params["video_id"]
        v = await self._run(lambda lib: lib.video(video_id=vid))
        return JSONResponse(_with_id(v.to_dict(), v.id))

    # --- media -----------------------------------------------------------------------------

    async def video_file(self, request: Request) -> Response:
        vid = request.path_params["video_id"]
        return _video_response(await self._run(lambda lib: lib.video(video_id=vid)))

    async def file_by_path(self, request: Request) -> Response:
        path = request.query_params.get("path")
        if not path:
            raise HTTPError(400, "give the video's path: /api/file?path=...")
        return _video_response(await self._run(lambda lib: lib.video(path=path)))

    async def thumbnail(self, request: Request) -> Response:
        vid = request.path_params["video_id"]
        t = _float(request.query_params, "t", 0.0) or 0.0
        width = _int(request.query_params, "w", 320, hi=1920)
        jpeg = await self._run(
            lambda lib: lib.thumbnail(vid, t, width),
            cache_key=("thumb", vid, round(t, 2), width),
            cache_size=512,
        )
        return Response(
            jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
        )

    # --- queries ---------------------------------------------------------------------------

    async def search_image(self, request: Request) -> Response:
        def query(lib: Library, path: Path, params) -> list[dict]:
            k, frames = _int(params, "k", 10, hi=MAX_K), _bool(params, "frames")
            refine = _int(params, "refine", -1, lo=0, hi=MAX_K)  # absent: the library default
            hits = lib.search_image(
                path, k=k, frames=frames, refine=REFINE_TOP if refine < 0 else refine
            )
            return [_with_id(h.to_dict(), h.video_id) for h in hits]

        hits, _ = await self._with_upload(request, "image", query)
        return JSONResponse(hits)

    async def search_clip(self, request: Request) -> Response:
        def query(lib: Library, path: Path, params) -> list[dict]:
            matches = lib.search_video(
                path,
                start=_float(params, "start", None),
                end=_float(params, "end", None),
                k=_int(params, "k", 10, hi=MAX_K),
                threshold=_float(params, "threshold", DEFAULT_THRESHOLD) or 0.0,
                regions=_bool(params, "regions", REGIONS),
            )
            return [_with_id(m.to_dict(), m.video_id) for m in matches]

        matches, _ = await self._with_upload(request, "video", query)
        return JSONResponse(matches)

    async def search_text(self, request: Request) -> Response:
        params = request.query_params
        text = params.get("q") or params.get("text") or ""
        k, frames = _int(params, "k", 10, hi=MAX_K), _bool(params, "frames")
        hits = await self._run(lambda lib: lib.search_text(text, k=k, frames=frames))
        return JSONResponse([_with_id(h.to_dict(), h.video_id) for h in hits])

    async def dups(self, request: Request) -> Response:
        params = request.query_params
        options: dict[str, Any] = {"within": _bool(params, "within")}
        for name in ("threshold", "min_duration"):
            if params.get(name) not in (None, ""):
                options[name] = _float(params, name, None)
        key = ("dups", tuple(sorted(options.items())))

        def find(lib: Library) -> list[dict]:
            ids = {v.path: v.id for v in lib.videos()}
            out = []
            for m in lib.find_duplicates(**options).matches:
                d = m.to_dict()
                for side, path in (("a", m.a_path), ("b", m.b_path)):
                    segment = d[side]
                    assert isinstance(segment, dict)
                    d[side] = {**segment, "video_id": ids.get(path)}
                out.append(d)
            return out

        matches = await self._run(find, timeout=self.limits.dups_timeout, cache_key=key)
        return JSONResponse(matches)

    async def classify(self, request: Request) -> Response:
        params = request.query_params

        def options(p) -> dict[str, Any]:
            opts: dict[str, Any] = {"by_examples": _bool(p, "by_examples")}
            if p.get("labels"):
                opts["labels"] = [x for x in p["labels"].split(",") if x.strip()]
            if p.get("prompt"):
                opts["prompt"] = p["prompt"]
            if p.get("k"):
                opts["k"] = _int(p, "k", 10, hi=MAX_K)
            if p.get("head"):
                opts["head"] = p["head"]
            return opts

        if params.get("video_id"):
            vid = _int(params, "video_id", 0, lo=0, hi=2**62)

            def by_id(lib: Library) -> list[dict]:
                path = lib.video(video_id=vid).path
                return [r.to_dict() for r in lib.classify(path, **options(params))]

            return JSONResponse(await self._run(by_id))

        def upload(lib: Library, path: Path, p) -> list[dict]:
            return [r.to_dict() for r in lib.classify(path, **options(p))]

        results, _ = await self._with_upload(request, "video", upload)
        return JSONResponse(results)

    async def labels(self, request: Request) -> Response:
        if request.method == "GET":
            from vsearch.pipeline.labels import label_counts

            records = await self._run(lambda lib: lib.labels())
            return JSONResponse(
                {
                    "counts": label_counts(records),
                    "labels": [_with_id(r.to_dict(), r.video_id) for r in records],
                }
            )
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPError(415, "send the label as JSON (Content-Type: application/json)")
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPError(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, 'expected a JSON object {"video_id", "label", "start", "end"}')
        start, end = _float(body, "start", None), _float(body, "end", None)
        text = body.get("label")
        if not isinstance(text, str):
            raise HTTPError(400, 'give the label as a string: {"label": "cat", ...}')

        def add(lib: Library):
            if body.get("video_id") is not None:
                path = lib.video(video_id=_int(body, "video_id", 0, lo=0, hi=2**62)).path
            elif isinstance(body.get("path"), str):
                path = lib.video(path=body["path"]).path
            else:
                raise HTTPError(400, 'name the video: {"video_id": 3} or {"path": "..."}')
            return lib.label(path, text, start=start, end=end)

        record = await self._run(add)
        return JSONResponse(_with_id(record.to_dict(), record.video_id), 201)


# --- helpers ---------------------------------------------------------------------------------


def _with_id(d: dict, video_id: int) -> dict:
    d["video_id"] = video_id
    return d


def _video_response(video) -> Response:
    media_type = mimetypes.guess_type(video.path)[0] or "application/octet-stream"
    name = safe_header_name(Path(video.path).name)
    return FileResponse(
        video.path,
        media_type=media_type,
        headers={
            "Cache-Control": "private, max-age=60",
            "Content-Disposition": f'inline; filename="{name}"',
        },
    )


def _int(params, name: str, default: int, *, lo: int = 1, hi: int = 2**31) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise HTTPError(400, f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise HTTPError(400, f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(params, name: str, default: float | None) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise HTTPError(400, f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise HTTPError(400, f"{name} must be a finite number, got {raw!r}")
    return value


def _bool(params, name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw in ("", "0", "false", "no", False):
        return False
    if raw in ("1", "true", "yes", True):
        return True
    raise HTTPError(400, f"{name} must be true or false, got {raw!r}")
