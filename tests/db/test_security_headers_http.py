"""The security headers as curl sees them (issue 14, point 5): `streamlit run launcher.py`, plain
HTTP requests without a browser, on the app's pages, Streamlit's own routes and the webhooks."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from commlog.security_headers import HSTS, content_security_policy

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sqlite_engine, sqlite_url):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMLOG_", "SENDGRID_", "POSTMARK_"))}
    env["COMMLOG_DATABASE_URL"] = sqlite_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "launcher.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not become healthy")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _assert_headers(r: httpx.Response) -> None:
    where = f"{r.request.method} {r.request.url.path} ({r.status_code})"
    assert r.headers.get("content-security-policy") == content_security_policy(), where
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"], where
    assert r.headers.get("referrer-policy") == "no-referrer", where
    assert r.headers.get("x-content-type-options") == "nosniff", where
    assert "strict-transport-security" not in r.headers, where  # plain HTTP


def test_every_kind_of_response_carries_the_security_headers(server):
    home = httpx.get(f"{server}/", timeout=10)
    assert home.status_code == 200
    script = re.search(r'src="\./(static/js/[^"]+\.js)"', home.text).group(1)
    responses = [
        home,
        httpx.get(f"{server}/log?delivery=NOT_DELIVERED&q=ana.souza%40gmail.com", timeout=10),
        httpx.get(f"{server}/message?id=1", timeout=10),
        httpx.get(f"{server}/_stcore/health", timeout=10),
        httpx.get(f"{server}/{script}", timeout=10),
        httpx.post(f"{server}/webhooks/sendgrid", content=b"[]", timeout=10),  # refused: no key, no signature
        httpx.post(f"{server}/webhooks/postmark", json={}, timeout=10),  # refused: no credentials
        httpx.get(f"{server}/no/such/path", timeout=10),
    ]
    assert [r.status_code >= 400 for r in responses[:5]] == [False] * 5
    assert all(r.status_code >= 400 for r in responses[5:7])
    for r in responses:
        _assert_headers(r)


def test_hsts_only_when_the_request_came_over_https(server):
    # uvicorn believes X-Forwarded-Proto from FORWARDED_ALLOW_IPS (default: loopback, a local proxy)
    proxied = httpx.get(f"{server}/log", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert proxied.headers.get("strict-transport-security") == HSTS
    assert "strict-transport-security" not in httpx.get(f"{server}/log", timeout=10).headers
