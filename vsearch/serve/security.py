"""Who may talk to a server: an optional token on every request, and Host/Origin checks.

The token is given as ``Authorization: Bearer TOKEN``, an ``X-Vsearch-Token`` header, or the
``vsearch_token`` cookie that ``GET /?token=TOKEN`` sets for a browser (HttpOnly,
SameSite=Strict, so that video and image URLs work without the token in them). It is compared
in constant time. A server bound to loopback answers only requests addressed to a loopback
name (no DNS-rebinding), and refuses state-changing requests from pages of other origins.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vsearch.serve.errors import error_response

COOKIE = "vsearch_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>vsearch: token needed</title><style>body{font:15px system-ui,sans-serif;
background:#111418;color:#e8eaed;display:grid;place-items:center;height:100vh;margin:0}
form{background:#1b1f24;padding:28px;border-radius:10px;max-width:360px}
input,button{font:inherit;padding:8px;border-radius:6px;border:1px solid #3a4048}
button{background:#3d7eff;color:#fff;border:0;margin-left:6px}</style></head>
<body><form method="get" action="/"><h1>vsearch</h1>
<p>This server needs its access token (<code>vsearch serve --token</code> or
<code>VSEARCH_TOKEN</code>).</p><input type="password" name="token" autofocus
placeholder="token" aria-label="token"><button type="submit">Open</button></form></body></html>
"""


def host_of(value: str) -> str:
    """The host name of a Host header value (``[::1]:8000`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class AccessGuard:
    """ASGI middleware applying the token and the Host/Origin rules to every HTTP request."""

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: frozenset[str] | None):
        self.app = app
        self.token = token.encode() if token else None
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        response: Response
        if self.allowed_hosts is not None and host_of(host) not in self.allowed_hosts:
            response = error_response(421, "this server answers only requests to localhost")
            await response(scope, receive, send)
            return
        origin = headers.get("origin")
        if scope["method"] not in _SAFE_METHODS and origin and urlsplit(origin).netloc != host:
            response = error_response(403, "requests from other web sites are refused")
            await response(scope, receive, send)
            return
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("token", [None])[0]
            if scope["path"] == "/" and given is not None and self._valid(given):
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
                await response(scope, receive, send)
                return
            if not self._valid(self._presented(headers)):
                if scope["path"] == "/":
                    response = HTMLResponse(_LOGIN_PAGE, status_code=401)
                else:
                    response = error_response(
                        401,
                        "missing or wrong token (Authorization: Bearer TOKEN)",
                        headers={"WWW-Authenticate": 'Bearer realm="vsearch"'},
                    )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _presented(headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        if "x-vsearch-token" in headers:
            return headers["x-vsearch-token"]
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no token
            return None
        return cookie[COOKIE].value if COOKIE in cookie else None

    def _valid(self, given: str | None) -> bool:
        assert self.token is not None
        return given is not None and hmac.compare_digest(given.encode(), self.token)
