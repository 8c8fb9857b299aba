"""The HTTP API contract: every endpoint answers what the CLI answers, errors are JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed")
from helpers import make_video  # noqa: E402
from serve_helpers import NON_UTF8_NAME  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from vsearch.cli import app as cli_app  # noqa: E402
from vsearch.pipeline.library import Library  # noqa: E402
from vsearch.serve import Limits, create_app  # noqa: E402
from vsearch.serve.security import LOOPBACK_NAMES  # noqa: E402

SMALL = Limits(max_image_bytes=200_000, max_clip_bytes=2_000_000, timeout=60)


@pytest.fixture(scope="module")
def client(served_library):
    settings, _videos, _queries = served_library
    app = create_app(Library.open(settings=settings), limits=SMALL)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def cli_json(settings, *args):
    result = CliRunner().invoke(cli_app, ["--library", str(settings.library), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def without_ids(rows):
    return [{k: v for k, v in r.items() if k != "video_id"} for r in rows]


def upload(client, url, path, content_type, **params):
    return client.post(url, params=params, content=path.read_bytes(), headers={
        "Content-Type": content_type, "X-Filename": path.name})  # fmt: skip


def test_health_stats_videos_answer_like_the_cli(client, served_library):
    settings, videos, _ = served_library
    health = client.get("/api/health").json()
    assert (
        health["status"] == "ok"
        and health["model"].startswith("colorgrid")
        and health["frames"] > 0
    )
    stats = client.get("/api/stats").json()
    assert stats == cli_json(settings, "stats")
    rows = client.get("/api/videos").json()
    assert without_ids(rows) == cli_json(settings, "videos")
    assert os.fsdecode(os.fsencode(videos / NON_UTF8_NAME)) in {r["path"] for r in rows}
    one = client.get(f"/api/videos/{rows[0]['video_id']}").json()
    assert one == rows[0]
    assert client.get("/api/videos", params={"errors": "1"}).json() == []


def test_search_image_is_the_cli_answer_plus_video_ids(client, served_library):
    settings, videos, queries = served_library
    q = queries / "mandel3.png"
    r = upload(client, "/api/search/image", q, "image/png", k=3)
    assert r.status_code == 200, r.text
    hits = r.json()
    assert without_ids(hits) == cli_json(settings, "search", str(q), "-k", "3")
    assert hits[0]["path"] == str(videos / "mandel.mp4") and abs(hits[0]["time"] - 3) <= 0.5
    # multipart, as `curl -F file=@photo.png` sends it
    r = client.post("/api/search/image?k=3", files={"file": ("q.png", q.read_bytes(), "image/png")})
    assert r.status_code == 200 and r.json() == hits
    frames = upload(client, "/api/search/image", q, "image/png", k=5, frames="true").json()
    assert len(frames) == 5


def test_search_clip_with_start_and_end(client, served_library):
    settings, videos, queries = served_library
    q = queries / "life-1-3.mp4"
    params = {"k": 2, "start": 0.5, "end": 2, "threshold": 0.8}
    r = upload(client, "/api/search/clip", q, "video/mp4", **params)
    assert r.status_code == 200, r.text
    matches = r.json()
    assert matches[0]["path"] == str(videos / "life.mp4")
    assert abs(matches[0]["start"] - 1.5) <= 0.6  # query 0.5-2 s of a copy of life 1-3 s
    cli = cli_json(settings, "search", "--video", str(q), "-k", "2", "--start", "0.5",
                   "--end", "2", "--threshold", "0.8")  # fmt: skip
    assert without_ids(matches) == cli
    assert set(matches[0]) == {"path", "score", "start", "end", "query_start", "query_end",
                               "start_frame", "end_frame", "query_start_frame",
                               "query_end_frame", "video_id"}  # fmt: skip
    bad = upload(client, "/api/search/clip", q, "video/mp4", start=3, end=1).json()["error"]
    assert bad["status"] == 400 and bad["exit_code"] == 2 and "start" in bad["message"]
    plain = upload(client, "/api/search/clip", q, "video/mp4", regions="false", **params)
    assert without_ids(plain.json()) == cli  # a copy found whole: no region pass either way
    bad = upload(client, "/api/search/clip", q, "video/mp4", regions="maybe").json()["error"]
    assert bad["status"] == 400 and "regions" in bad["message"]


def test_text_search_on_a_model_without_text_is_a_400(client):
    r = client.get("/api/search/text", params={"q": "a dog"})
    err = r.json()["error"]
    assert r.status_code == 400 and err["type"] == "NoTextTowerError"


def test_dups_gives_both_segments_with_video_ids(client, served_library):
    settings, videos, _ = served_library
    r = client.get("/api/dups")
    assert r.status_code == 200, r.text
    found = r.json()
    assert [{**m, "a": without_ids([m["a"]])[0], "b": without_ids([m["b"]])[0]} for m in found] == (
        cli_json(settings, "dups")
    )
    pair = {found[0]["a"]["path"], found[0]["b"]["path"]}
    assert pair == {str(videos / "mandel.mp4"), str(videos / "mandel-flipped.mp4")}
    assert all(isinstance(m[s]["video_id"], int) for m in found for s in "ab")
    assert client.get("/api/dups", params={"threshold": "x"}).status_code == 400


def test_labels_and_classify(client, served_library):
    _settings, videos, queries = served_library
    rows = {r["path"]: r["video_id"] for r in client.get("/api/videos").json()}
    for name, label in (("mandel.mp4", "fractal"), ("testsrc.mp4", "pattern")):
        r = client.post("/api/labels", json={"video_id": rows[str(videos / name)], "label": label})
        assert r.status_code == 201, r.text
        assert r.json()["label"] == label
    r = client.post("/api/labels", json={"path": str(videos / "life.mp4"), "label": "life",
                                         "start": 0, "end": 2})  # fmt: skip
    assert r.status_code == 201 and r.json()["end"] == 2
    listed = client.get("/api/labels").json()
    assert listed["counts"]["fractal"]["videos"] == 1 and len(listed["labels"]) == 3
    assert client.post("/api/labels", json={"video_id": 99999, "label": "x"}).status_code == 404
    assert client.post("/api/labels", json={"path": "/etc/passwd", "label": "x"}).status_code == 404
    assert client.post("/api/labels", content=b"{", headers={
        "Content-Type": "application/json"}).status_code == 400  # fmt: skip
    assert client.post("/api/labels", data={"label": "x"}).status_code == 415
    r = client.post("/api/labels", json={"video_id": rows[str(videos / "life.mp4")], "label": " "})
    assert r.status_code == 400
    # by examples, on an upload and on a library video
    q = queries / "life-1-3.mp4"
    r = upload(client, "/api/classify", q, "video/mp4", by_examples="1", k=3)
    assert r.status_code == 200, r.text
    (result,) = r.json()
    assert set(result) == {"path", "label", "score", "scores", "classifier", "segments", "fps"}
    # a library video's own labels are not votes: its mirrored copy's are
    r = client.post("/api/classify", params={"video_id": rows[str(videos / "mandel-flipped.mp4")],
                                             "by_examples": "true"})  # fmt: skip
    assert r.status_code == 200 and r.json()[0]["label"] == "fractal"
    r = client.post("/api/classify", params={"video_id": rows[str(videos / "mandel.mp4")]})
    assert r.status_code == 409 and r.json()["error"]["type"] == "CheckpointError"


def test_bad_uploads_are_json_errors(client, served_library):
    _settings, _videos, queries = served_library
    garbage = upload(client, "/api/search/image", queries / "garbage.png", "image/png")
    assert garbage.status_code == 422 and garbage.json()["error"]["type"] == "ImageError"
    assert garbage.json()["error"]["message"].startswith("garbage.png: ")
    r = client.post("/api/search/image", content=b"hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "image" in r.json()["error"]["message"]
    r = client.post("/api/search/image", content=b"", headers={"Content-Type": "image/png"})
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]
    r = client.post("/api/search/clip", content=b"\0" * 100,
                    headers={"Content-Type": "video/mp4", "X-Filename": "mine.mp4"})  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith("mine.mp4: ") and "vsearch-serve" not in r.text
    r = client.post("/api/search/image", files={"other": ("q.png", b"x", "image/png")})
    assert r.status_code == 400 and '"file"' in r.json()["error"]["message"]
    r = upload(client, "/api/search/image", queries / "mandel3.png", "image/png", k="many")
    assert r.status_code == 400 and "k" in r.json()["error"]["message"]
    r = upload(client, "/api/search/image", queries / "mandel3.png", "image/png", k=0)
    assert r.status_code == 400


def test_oversize_uploads_are_413_with_or_without_a_length(client):
    big = b"\0" * (SMALL.max_image_bytes + 1)
    r = client.post("/api/search/image", content=big, headers={"Content-Type": "image/png"})
    assert r.status_code == 413 and "MiB" in r.json()["error"]["message"]
    huge = b"\0" * (SMALL.max_body_bytes + 1)
    r = client.post("/api/search/clip", content=huge, headers={"Content-Type": "video/mp4"})
    assert r.status_code == 413

    def chunks():  # no Content-Length: the stream itself is counted
        for _ in range(SMALL.max_clip_bytes // 65536 + 2):
            yield b"\0" * 65536

    r = client.post("/api/search/clip", content=chunks(), headers={"Content-Type": "video/mp4"})
    assert r.status_code == 413


def test_playback_serves_library_videos_with_ranges_only(client, served_library):
    _settings, videos, _ = served_library
    rows = {r["path"]: r["video_id"] for r in client.get("/api/videos").json()}
    vid = rows[str(videos / "mandel.mp4")]
    size = (videos / "mandel.mp4").stat().st_size
    full = client.get(f"/api/videos/{vid}/file")
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    assert full.content == (videos / "mandel.mp4").read_bytes()
    part = client.get(f"/api/videos/{vid}/file", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = client.get(f"/api/videos/{vid}/file", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == full.content[-50:]
    assert client.get(f"/api/videos/{vid}/file", headers={
        "Range": f"bytes={size + 10}-"}).status_code == 416  # fmt: skip
    by_path = client.get("/api/file", params={"path": str(videos / "mandel.mp4")})
    assert by_path.status_code == 200 and by_path.content == full.content
    for outside in ("/etc/passwd", str(videos / ".." / "lib" / "library.db"), str(videos)):
        r = client.get("/api/file", params={"path": outside})
        assert r.status_code == 404 and r.json()["error"]["type"] == "NotInLibraryError"
    assert client.get("/api/videos/99999/file").status_code == 404
    assert client.get("/api/file").status_code == 400
    weird = client.get(f"/api/videos/{rows[str(videos / NON_UTF8_NAME)]}/file")
    assert weird.status_code == 200 and weird.headers["content-type"] == "video/x-matroska"
    thumb = client.get(f"/api/videos/{vid}/thumb", params={"t": 2.0, "w": 160})
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert client.get(f"/api/videos/{vid}/thumb", params={"t": "nan"}).status_code == 400


def test_errors_are_json_never_tracebacks(client, served_library, monkeypatch):
    assert client.get("/api/nothing").json()["error"]["status"] == 404
    assert client.get("/api/search/image").status_code == 405
    served = client.app.state.served

    def boom(*_a, **_k):
        raise RuntimeError("secret internals /srv/x.py line 3")

    monkeypatch.setattr(served.lib, "stats", boom)
    r = client.get("/api/stats")
    assert r.status_code == 500 and r.json()["error"]["type"] == "InternalError"
    assert "secret" not in r.text and "Traceback" not in r.text


def test_a_slow_query_is_a_504(served_library, monkeypatch):
    import time

    settings, _videos, _ = served_library
    app = create_app(Library.open(settings=settings), limits=Limits(timeout=0.2))
    monkeypatch.setattr(app.state.served.lib, "stats", lambda: time.sleep(1.5))
    with TestClient(app) as c:
        r = c.get("/api/stats")
    assert r.status_code == 504 and "0.2 s" in r.json()["error"]["message"]


def test_token_on_every_request(served_library):
    settings, _videos, _ = served_library
    app = create_app(Library.open(settings=settings), token="s3cret", warm=False)
    with TestClient(app, follow_redirects=False) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Vsearch-Token": "s3cre"}):
            r = c.get("/api/health", headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            assert r.json()["error"]["status"] == 401
        assert c.get("/static/app.js").status_code == 401
        page = c.get("/")
        assert page.status_code == 401 and "token" in page.text and "<form" in page.text
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/health", headers={"X-Vsearch-Token": "s3cret"}).status_code == 200
        assert c.get("/?token=wrong").status_code == 401
        login = c.get("/?token=s3cret")
        assert login.status_code == 303 and "httponly" in login.headers["set-cookie"].lower()
        assert c.get("/api/health").status_code == 200  # the cookie now
        assert c.get("/").status_code == 200


def test_loopback_server_refuses_other_hosts_and_cross_site_posts(served_library):
    settings, _videos, queries = served_library
    app = create_app(Library.open(settings=settings), allowed_hosts=LOOPBACK_NAMES, warm=False)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/health", headers={"Host": "[::1]:8000"}).status_code == 200
        assert c.get("/api/health", headers={"Host": "evil.example:8000"}).status_code == 421
        r = c.post("/api/labels", json={"path": "x", "label": "y"},
                   headers={"Origin": "http://evil.example"})  # fmt: skip
        assert r.status_code == 403


@pytest.mark.slow
def test_videos_indexed_by_another_process_are_picked_up(client, served_library, tmp_path):
    settings, _videos, _ = served_library
    before = client.get("/api/health").json()["frames"]
    new = make_video(tmp_path / "new" / "cells.mp4", "cellauto=s=128x96:rule=110:r=10", 3)
    cmd = [sys.executable, "-m", "vsearch", "--library", str(settings.library), "index",
           str(new.parent), "--json"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    assert client.get("/api/health").json()["frames"] > before
    r = client.post("/api/search/clip", params={"k": 1}, content=new.read_bytes(),
                    headers={"Content-Type": "video/mp4"})  # fmt: skip
    assert r.status_code == 200 and r.json()[0]["path"] == str(new)
    subprocess.run([*cmd[:5], "remove", str(new)], check=True, capture_output=True)
    assert client.get("/api/health").json()["frames"] == before


def test_a_stalled_upload_is_a_408(served_library):
    import anyio

    settings, _videos, _ = served_library
    app = create_app(Library.open(settings=settings), limits=Limits(upload_timeout=0.3), warm=False)
    sent, calls = [], []

    async def receive():  # a client that sends a little, then nothing for a long time
        await anyio.sleep(0.1 if not calls else 5)
        calls.append(1)
        return {"type": "http.request", "body": b"\0" * 100, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/search/image", "raw_path": b"/api/search/image",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"), (b"content-type", b"image/png")]}  # fmt: skip
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 408 and "0.3 s" in json.loads(body)["error"]["message"]
