"""The security headers as curl sees them (issue 14, point 5): `streamlit run launcher.py`, plain
HTTP requests without a browser, on the app's pages, Streamlit's own routes and the webhooks."""

from __future__ import annotations

import re

import httpx
import pytest

from commlog.security_headers import HSTS, content_security_policy
from tests.e2e.servers import StreamlitServer, clean_env


@pytest.fixture
def server(sqlite_engine, sqlite_url, tmp_path):
    """`streamlit run launcher.py` on a free loopback port (the browser tests' server), on this test's database."""
    srv = StreamlitServer(clean_env() | {"COMMLOG_DATABASE_URL": sqlite_url}, tmp_path / "server.log").start()
    try:
        yield srv.base_url
    finally:
        srv.stop()


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
