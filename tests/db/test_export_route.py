"""`GET /export/<token>` over HTTP (Starlette's TestClient, the launcher's route and cookie middleware),
on SQLite and PostgreSQL: the file once, to the browser that asked; the same calm 404 for every
refusal; the user and the lender scope re-checked; the audit row written when the file is served."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from commlog import export_route
from commlog import export_tokens as T
from commlog.browser_cookie import COOKIE, BrowserCookieMiddleware
from commlog.export import HEADER, FailureExport
from commlog.log_queries import SPAN_LENDER
from commlog.models import AppUser, AuditEntry, ExportToken
from commlog.principal import Principal, Role
from tests.support.export_world import expected_rows
from tests.support.factories import log_query

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(export_world):
    return export_world


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(engine, clock):
    app = Starlette(routes=export_route.routes(lambda: engine, clock), middleware=[Middleware(BrowserCookieMiddleware)])
    return app


def _browser(app) -> TestClient:
    """A browser: its first response sets commlog_browser, which it then sends."""
    client = TestClient(app)
    first = client.get("/export/nothing-yet")
    assert first.status_code == 404 and COOKIE in client.cookies
    return client


def _mint(engine, principal, browser: TestClient, spec=None, name="failures_acme-lending.csv") -> str:
    spec = spec or FailureExport(log_query(lender_id=principal.lender_id or 0), span=SPAN_LENDER)
    return T.issue(engine, principal, T.DownloadSpec(spec, name, audit_extra={"view": {"account": "all"}, "tz": "UTC"}),
                   browser.cookies[COOKIE], NOW)


def _audit(engine):
    with engine.connect() as c:
        return c.execute(select(*AuditEntry.__table__.columns).order_by(AuditEntry.id)).all()


def test_the_file_is_served_once_as_an_attachment_and_audited_when_served(engine, world, server):
    browser = _browser(server)
    token = _mint(engine, world["admin_a"], browser)
    assert _audit(engine) == []  # minting is not exporting
    r = browser.get(f"/export/{token}")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="failures_acme-lending.csv"'
    assert r.headers["cache-control"] == "no-store" and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == HEADER and rows[1:] == expected_rows(engine, lenders=[world["a"]])
    (entry,) = _audit(engine)
    assert entry.action == "export" and entry.user_email == "admin@acme.example" and entry.lender_id == world["a"]
    assert entry.row_count == len(rows) - 1 and "complete" in entry.detail
    assert json.loads(entry.filters)["source"] == "page" and json.loads(entry.filters)["view"] == {"account": "all"}

    again = browser.get(f"/export/{token}")
    assert again.status_code == 404 and len(_audit(engine)) == 1


def _refusal_bodies(engine, world, server, clock) -> dict[str, object]:
    browser = _browser(server)
    out = {"unknown": browser.get("/export/" + "x" * 43)}
    used = _mint(engine, world["admin_a"], browser)
    browser.get(f"/export/{used}")
    out["used"] = browser.get(f"/export/{used}")
    expired = _mint(engine, world["admin_a"], browser)
    clock.now = NOW + timedelta(seconds=61)
    out["expired"] = browser.get(f"/export/{expired}")
    clock.now = NOW
    foreign = _mint(engine, world["admin_a"], browser)
    out["other browser"] = _browser(server).get(f"/export/{foreign}")
    out["no cookie"] = TestClient(server).get(f"/export/{foreign}")  # curl: no cookie at all
    out["head"] = browser.head(f"/export/{foreign}")
    out["then the right browser"] = browser.get(f"/export/{foreign}")
    return out


def test_every_refusal_is_the_same_short_404_and_a_log_line_without_the_token(engine, world, server, clock, caplog):
    with caplog.at_level(logging.INFO, logger="commlog.export"):
        answers = _refusal_bodies(engine, world, server, clock)
    served = answers.pop("then the right browser")
    assert served.status_code == 200  # another browser's attempt, or a HEAD, did not spend it
    head = answers.pop("head")
    assert head.status_code == 404
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 404)
    assert {r.text for r in answers.values()} == {export_route.NOT_FOUND}
    assert all(r.headers["cache-control"] == "no-store" for r in answers.values())
    lines = [r.getMessage() for r in caplog.records]
    for why in ("unknown", "already used", "expired", "another browser", "no browser cookie"):
        assert any(f"refused: {why}" in line for line in lines), (why, lines)
    with engine.connect() as c:
        hashes = c.execute(select(ExportToken.token_sha256)).scalars().all()
    assert all("sha256:" in line for line in lines if "refused" in line)
    assert not [line for line in lines for h in hashes if h in line]  # a prefix, never the whole hash
    assert len(_audit(engine)) == 2  # the two files actually served, nothing for refusals


def test_a_user_disabled_after_minting_gets_404_and_no_file(engine, world, server):
    browser = _browser(server)
    token = _mint(engine, world["admin_a"], browser)
    with engine.begin() as c:
        c.execute(update(AppUser).where(AppUser.id == world["users"]["admin_a"]).values(disabled=True))
    assert browser.get(f"/export/{token}").status_code == 404
    assert _audit(engine) == []


def test_a_user_moved_to_another_lender_after_minting_gets_404(engine, world, server):
    browser = _browser(server)
    token = _mint(engine, world["admin_a"], browser)
    with engine.begin() as c:
        c.execute(update(AppUser).where(AppUser.id == world["users"]["admin_a"]).values(lender_id=world["b"]))
    assert browser.get(f"/export/{token}").status_code == 404
    assert _audit(engine) == []


def test_the_scope_is_checked_again_before_streaming(engine, world, server):
    """A token whose spec names another lender (as if minted by a forged page) serves nothing."""
    browser = _browser(server)
    foreign = FailureExport(log_query(lender_id=world["b"]), span=SPAN_LENDER)
    token = _mint(engine, world["admin_a"], browser, spec=foreign)
    r = browser.get(f"/export/{token}")
    assert r.status_code == 404 and "Bravo" not in r.text
    assert _audit(engine) == []


def test_ops_export_of_every_lender_and_a_lender_admin_cannot(engine, world, server):
    from commlog.export import period_export

    browser = _browser(server)
    ops = Principal(world["users"]["ops"], "ops@commlog.example", Role.OPS, None)
    spec = period_export(None, NOW.date() - timedelta(days=400), NOW.date())
    ok = browser.get(f"/export/{_mint(engine, ops, browser, spec=spec)}")
    assert ok.status_code == 200
    rows = list(csv.reader(io.StringIO(ok.content.decode("utf-8"), newline="")))
    assert {r[0] for r in rows[1:]} == {"Acme Lending", "'=Bravo+Credit"}
    assert browser.get(f"/export/{_mint(engine, world['admin_a'], browser, spec=spec)}").status_code == 404


def test_the_cookie_is_http_only_same_site_strict_and_secure_over_https(server):
    plain = TestClient(server).get("/export/x").headers["set-cookie"]
    assert plain.startswith(f"{COOKIE}=") and "HttpOnly" in plain and "SameSite=Strict" in plain and "Path=/" in plain
    assert "Secure" not in plain
    assert "Secure" in TestClient(server, base_url="https://testserver").get("/export/x").headers["set-cookie"]
    browser = _browser(server)
    assert "set-cookie" not in browser.get("/export/x").headers  # sent once, kept by the browser


def test_a_download_the_browser_abandons_is_audited_as_stopped_with_the_rows_sent(engine, world):
    """The route hands the streamed file to the response chunk by chunk; when the response ends early
    (the browser went away), the stream is closed and its audit row says "stopped"."""
    import anyio

    from commlog.export import stream_failures

    chunks = stream_failures(engine, world["admin_a"], FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER),
                             source="page", file_name="f.csv", chunk_rows=2)

    async def read_two_chunks_and_leave() -> list[bytes]:
        body = export_route.stream_in_threads(chunks)
        got = [await body.__anext__(), await body.__anext__()]
        await body.aclose()
        return got

    header, first_rows = anyio.run(read_two_chunks_and_leave)
    assert header.startswith(b"Lender,Log,") and first_rows.count(b"\r\n") == 2
    (entry,) = _audit(engine)
    assert entry.detail.endswith(": stopped") and entry.row_count == 2
