"""`vsearch serve` options: loopback by default, other addresses only when asked, the token."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn", reason="the serve extra is not installed")
from typer.testing import CliRunner  # noqa: E402

from vsearch.cli import app  # noqa: E402


@pytest.fixture()
def started(monkeypatch):
    """Runs `serve` up to the point where uvicorn would start; records what it was given."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append((application, kw)))
    return calls


def serve(settings, *args, env=None):
    return CliRunner().invoke(app, ["--library", str(settings.library), "serve", *args], env=env)


def test_loopback_by_default_and_the_token_from_the_environment(served_library, started):
    settings, _videos, _ = served_library
    r = serve(settings, env={"VSEARCH_TOKEN": "t0k"})
    assert r.exit_code == 0, r.output
    (application, kw) = started[0]
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8000
    assert "token required" in r.stderr and "warning" not in r.stderr
    from starlette.testclient import TestClient

    with TestClient(application, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/health").status_code == 401
        ok = c.get("/api/health", headers={"Authorization": "Bearer t0k"})
        assert ok.status_code == 200
        assert c.get("/api/health", headers={"Host": "example.com"}).status_code == 421


def test_other_addresses_need_allow_remote_and_warn(served_library, started):
    settings, _videos, _ = served_library
    r = serve(settings, "--host", "0.0.0.0")
    assert r.exit_code == 2 and "--allow-remote" in r.stderr and not started
    r = serve(settings, "--host", "0.0.0.0", "--allow-remote", "--port", "9123")
    assert r.exit_code == 0, r.output
    assert "warning" in r.stderr and "WITHOUT a token" in r.stderr
    assert started[0][1]["host"] == "0.0.0.0" and started[0][1]["port"] == 9123
    r = serve(settings, "--host", "::1")  # loopback in IPv6: no flag needed
    assert r.exit_code == 0 and "warning" not in r.stderr
    r = serve(settings, "--max-image-mb", "0")
    assert r.exit_code == 2
