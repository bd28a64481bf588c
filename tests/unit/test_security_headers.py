"""commlog.security_headers: every HTTP response gets the policy headers; HSTS only over HTTPS;
the policy allows Streamlit's one inline script by its hash and nothing inline besides."""

from __future__ import annotations

import base64
import hashlib
import re
import warnings
from pathlib import Path

import streamlit
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from commlog.security_headers import HSTS, SecurityHeaders, content_security_policy


def _app() -> Starlette:
    async def hello(request):
        return PlainTextResponse("hi", headers={"Referrer-Policy": "unsafe-url"})  # ours replaces it

    async def broken(request):
        return PlainTextResponse("no", status_code=500)

    return Starlette(routes=[Route("/", hello), Route("/broken", broken)], middleware=[Middleware(SecurityHeaders)])


def _directives() -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in content_security_policy().split("; ")}


def test_every_response_has_the_headers_and_http_gets_no_hsts():
    client = TestClient(_app(), base_url="http://testserver")
    for path in ("/", "/broken", "/missing"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == content_security_policy()
        assert r.headers.get_list("referrer-policy") == ["no-referrer"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in r.headers


def test_https_gets_hsts():
    r = TestClient(_app(), base_url="https://testserver").get("/")
    assert r.headers["strict-transport-security"] == HSTS


def test_the_policy_frames_nothing_and_runs_only_this_servers_scripts():
    d = _directives()
    assert d["frame-ancestors"] == ["'none'"] and d["object-src"] == ["'none'"]
    assert d["default-src"] == ["'self'"] and d["connect-src"] == ["'self'"]
    assert "'unsafe-inline'" not in d["script-src"] and "'unsafe-eval'" not in d["script-src"]
    assert not any(s.startswith(("http", "*")) for sources in d.values() for s in sources)


def test_streamlits_inline_script_is_allowed_by_its_hash():
    html = (Path(streamlit.__file__).parent / "static" / "index.html").read_text()
    bodies = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert bodies, "Streamlit's index.html has no inline script any more: drop the hash"
    for body in bodies:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in _directives()["script-src"]
