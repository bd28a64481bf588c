"""Security suite: configured secrets never reach a page or a log line; login throttling through the
login form; Markdown from outside (attack table: tests/pages/test_security_tenancy.py, rows 23, 29, 30).

The secrets are set to distinctive values: SENDGRID_API_KEY, POSTMARK_SERVER_TOKEN (both accepted
by a loopback FakeProvider, so checks really run), SENDGRID_WEBHOOK_PUBLIC_KEY (and the private key
it belongs to), the Postmark webhook's user name and password, and a database password in
COMMLOG_DATABASE_URL (PostgreSQL, whose local trust authentication accepts any password; on SQLite
the password appears in the unreachable-database page only). Then every page is rendered as ops and
as a lender admin, after checks that succeed and fail (401, 500, unreadable answer), a bulk check
and an export; the webhook receivers (SendGrid's, Postmark's) get good and bad posts. Scanned: the
text of every element (and element protos: chart data, links), the CSV file, the audit rows, every
log record at DEBUG (root and Streamlit's non-propagating loggers), and everything written to
stdout/stderr.
"""

from __future__ import annotations

import base64
import json
import logging
import warnings
from datetime import UTC, datetime

import pytest
import streamlit as st
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.engine import make_url

from commlog.db import make_engine
from commlog.migrate import upgrade
from commlog.models import AuditEntry
from commlog.providers.fake_server import FakeProvider
from commlog.settings import reload as reload_settings
from commlog.webhooks.app import SENDGRID_PATH, WebhookSettings, create_app
from commlog.webhooks.postmark_receiver import POSTMARK_PATH
from commlog.webhooks.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    public_key_b64,
    sign_for_tests,
)
from tests.support import factories as f
from tests.support.app import PASSWORD, app, build_two_lenders, data_tables, download, page_text
from tests.support.databases import drop_schema
from tests.support.tenancy_world import build_world, everything_on_page

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SG_KEY = "SG.s3cr3t-SENDGRID-key-4b9f0c7e11"
PM_TOKEN = "pm-s3cr3t-POSTMARK-token-8d2a55"
PM_HOOK_USER, PM_HOOK_PASSWORD = "pm-hook-s3cr3t-user-e61f", "pm-hook-s3cr3t-pw-93b7c2"
DB_PASSWORD = "s3cr3t-DB-pw-71c9e0"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def all_logs():
    """Every log record at DEBUG: root, and loggers that do not propagate (Streamlit's own)."""
    handler = _Collect()
    touched: list[tuple[logging.Logger, int, list[logging.Handler]]] = []

    def attach() -> None:
        # Their own stderr handlers are set aside meanwhile (they may hold a stream an earlier test's
        # capture has closed); every record they would print comes here instead.
        for _name, lg in list(logging.root.manager.loggerDict.items()):
            if isinstance(lg, logging.Logger) and not lg.propagate and handler not in lg.handlers:
                touched.append((lg, lg.level, list(lg.handlers)))
                for h in list(lg.handlers):
                    lg.removeHandler(h)
                lg.addHandler(handler)
                lg.setLevel(logging.DEBUG)

    root_level = logging.root.level
    logging.root.addHandler(handler)
    logging.root.setLevel(logging.DEBUG)
    attach()
    handler.attach = attach  # type: ignore[attr-defined] - called again once more loggers exist
    yield handler
    logging.root.removeHandler(handler)
    logging.root.setLevel(root_level)
    for lg, level, handlers in reversed(touched):
        lg.removeHandler(handler)
        for h in handlers:
            lg.addHandler(h)
        lg.setLevel(level)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database URL for the app; on PostgreSQL it carries DB_PASSWORD (trust auth ignores it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'commlog.sqlite3'}", None
        return
    pg = request.getfixturevalue("pg_database_url")
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with create_engine(pg, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(pg).set(password=DB_PASSWORD).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False), DB_PASSWORD
    drop_schema(pg, schema)


def test_no_secret_on_any_page_or_log_line(db_url, monkeypatch, all_logs, capfd, page_browser):
    url, password = db_url
    private = ec.generate_private_key(ec.SECP256R1())
    public_b64 = public_key_b64(private)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    der_b64 = base64.b64encode(private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())).decode()
    secrets = {
        "SENDGRID_API_KEY": SG_KEY, "POSTMARK_SERVER_TOKEN": PM_TOKEN, "webhook public key": public_b64,
        "webhook private key (PEM line)": pem.splitlines()[1], "webhook private key (DER)": der_b64[20:60],
        "webhook private value": format(private.private_numbers().private_value, "x")[:24],
        "webhook private value (decimal)": str(private.private_numbers().private_value)[:24],
        "COMMLOG_POSTMARK_WEBHOOK_USER": PM_HOOK_USER, "COMMLOG_POSTMARK_WEBHOOK_PASSWORD": PM_HOOK_PASSWORD,
    }
    if password:
        secrets["database password"] = password
    assert url.count(password or "") >= 1 and len(set(secrets.values())) == len(secrets)

    engine = make_engine(url)
    upgrade(engine)
    w = build_world(engine)
    with engine.begin() as c:  # a Postmark email of lender A: checks ask the fake Postmark with the token
        pm_id = f.message(c, w["a"], "ana.souza@gmail.com", provider="postmark", subject="Your Alpha Lending statement",
                          provider_message_id="0a129aee-e1cd-480d-b08d-4f48548ff61d", log_account_id=w["ana"],
                          sent_at=datetime.now(UTC).replace(microsecond=0))
    seen: list[str] = []

    def look(at) -> None:
        assert not at.exception, [e.value for e in at.exception]
        seen.append(everything_on_page(at))
        all_logs.attach()

    with FakeProvider(api_key=SG_KEY, postmark_token=PM_TOKEN, auto=True) as fake:
        for name, value in {
            "COMMLOG_DATABASE_URL": url, "COMMLOG_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SG_KEY,
            "COMMLOG_SENDGRID_BASE_URL": fake.url, "POSTMARK_SERVER_TOKEN": PM_TOKEN, "COMMLOG_POSTMARK_BASE_URL": fake.url,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": public_b64,
            "COMMLOG_POSTMARK_WEBHOOK_USER": PM_HOOK_USER, "COMMLOG_POSTMARK_WEBHOOK_PASSWORD": PM_HOOK_PASSWORD,
        }.items():
            monkeypatch.setenv(name, value)

        # Lender admin: log, detail + check (ok, then 401 / 500 / unreadable), bulk check, export, message, deliverability.
        at = app(user_id=w["users"]["admin_a"], params={"account": "all"}).run()
        look(at)
        at.session_state["log_table_0"] = {"selection": {"rows": [1], "columns": [], "cells": []}}  # a SendGrid email
        at.run()
        look(at)
        check = next(b for b in at.button if b.key and "_check_" in b.key)
        for fault in (None, "401", "403", "malformed"):  # (a 500 is retried with back-off: slow, same words path)
            if fault:
                fake.set_fault(fault)
            at.button(key=check.key).click().run()
            look(at)
        fake.set_fault(None)
        grid = f"log_table_{at.session_state['log_table_gen']}"  # re-created after each check
        at.session_state[grid] = {"selection": {"rows": [0, 1, 2, 3], "columns": [], "cells": []}}
        at.run()
        at.button(key="bulk_check").click().run()
        look(at)
        fake.set_fault("401")
        at.button(key="bulk_check").click().run()
        look(at)
        fake.set_fault(None)
        seen.append(download(at, page_browser, engine)[0].decode("utf-8-sig"))
        for path, params in (("pages/message.py", {"id": str(pm_id)}), ("pages/deliverability.py", {})):
            at = app(user_id=w["users"]["admin_a"]).run()
            at.switch_page(path)
            for k, v in params.items():
                at.query_params[k] = v
            at.run()
            look(at)
        at = app(user_id=w["users"]["admin_a"]).run()
        at.switch_page("pages/message.py")
        at.query_params["id"] = str(pm_id)
        at.run()
        at.button(key=f"page_check_{pm_id}").click().run()  # Postmark, with the token
        look(at)

        # Ops: every lender's log, the audit trail (checks and the export, with filters), deliverability.
        at = app(user_id=w["users"]["ops"]).run()
        look(at)
        at.selectbox(key="log_lender").select(w["b"]).run()
        look(at)
        for path in ("pages/audit.py", "pages/deliverability.py"):
            at.switch_page(path).run()
            look(at)

        # The webhook receiver, configured from the same environment: good, bad and stale posts.
        now = datetime.now(UTC)
        body = json.dumps([{"email": "ana.souza@gmail.com", "timestamp": int(now.timestamp()), "event": "delivered",
                            "sg_event_id": "sec-1", "sg_message_id": "nope.filter.0"}]).encode()
        headers = {SIGNATURE_HEADER: sign_for_tests(private, str(int(now.timestamp())), body),
                   TIMESTAMP_HEADER: str(int(now.timestamp())), "Content-Type": "application/json"}
        with TestClient(create_app(lambda: engine, WebhookSettings.from_config())) as client:
            assert client.post(SENDGRID_PATH, content=body, headers=headers).status_code == 200
            assert client.post(SENDGRID_PATH, content=body + b" ", headers=headers).status_code == 401
            assert client.post(SENDGRID_PATH, content=b"[", headers={**headers, TIMESTAMP_HEADER: "1"}).status_code == 401
            record = {"RecordType": "Bounce", "ID": 991, "Type": "HardBounce", "MessageID": "nope-pm-id",
                      "Email": "ana.souza@gmail.com", "BouncedAt": now.isoformat(), "Details": "smtp;550 5.1.1 unknown"}
            good, wrong = (PM_HOOK_USER, PM_HOOK_PASSWORD), (PM_HOOK_USER, PM_HOOK_PASSWORD[::-1])
            assert client.post(POSTMARK_PATH, json=record, auth=good).status_code == 200
            assert client.post(POSTMARK_PATH, json=record, auth=wrong).status_code == 401
            assert client.post(POSTMARK_PATH, content=b"{", auth=good).status_code == 400
        assert fake.requests  # the checks really went to the provider, with the keys

    # The database cannot be reached: the page names it, password masked.
    bad = f"postgresql+psycopg://commlog:{DB_PASSWORD}@127.0.0.1:1/commlog"
    monkeypatch.setenv("COMMLOG_DATABASE_URL", bad)
    reload_settings()
    st.cache_resource.clear()
    at = app(user_id=w["users"]["admin_a"]).run()
    look(at)
    assert "database is not reachable" in page_text(at)
    secrets.setdefault("database password", DB_PASSWORD)

    with engine.connect() as c:
        audit = c.execute(select(AuditEntry.filters, AuditEntry.detail)).all()
    assert len(audit) >= 5
    seen.extend(f"{a.filters} {a.detail}" for a in audit)
    out, err = capfd.readouterr()
    engine.dispose()
    haystacks = {"pages": "\n".join(seen), "log records": "\n".join(all_logs.lines), "stdout/stderr": out + err}
    pages = haystacks["pages"]
    assert "Checked with the provider" in pages and "could not be checked" in pages and all_logs.lines
    # the refusals were shown, in plain words (and without the key)
    assert "did not accept the API key (HTTP 401)" in pages and "refused the request (HTTP 403)" in pages
    for where, text in haystacks.items():
        for name, secret in secrets.items():
            assert secret not in text, f"{name} found in {where}"


# --- login throttling through the login form ------------------------------------------------------


@pytest.fixture
def small_world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    return build_two_lenders(sqlite_engine)


def _sign_in(email: str, password: str):
    at = app().run()
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception
    return at


def test_login_form_throttles_after_repeated_failures(small_world, monkeypatch):
    """Was a bug (the failed attempts rolled back with the AuthError); fixed in commlog/ui/guard.py.
    Issue 14: the throttle is a short wait for the failing network, no longer a 15-minute lockout."""
    from commlog.ui import guard

    monkeypatch.setattr(guard, "utcnow", lambda: f.T0)  # a clock that stands still: the wait is exact
    for i in range(4):
        at = _sign_in("admin@alpha.example", f"wrong-password-{i}")
        assert [e.value for e in at.error] == ["Email or password is not right."]
    for password in ("wrong-password-again", PASSWORD):  # throttled now: even the right password waits
        at = _sign_in("admin@alpha.example", password)
        assert [e.value for e in at.error] == ["Too many sign-in attempts from your network. Try again in 2 s."]
        assert not data_tables(at)


# --- Markdown from outside: a receiving server's reply ---------------------------------------------


def test_smtp_reply_is_not_markdown_in_the_status_box(small_world, sqlite_engine):
    """Was a bug (the stored reason went into the status box's Markdown); fixed in commlog/ui/message_view.py."""
    w = small_world
    evil = "550 5.1.1 [Verify your account](https://evil.example/login) ![x](https://evil.example/p.png)"
    with sqlite_engine.begin() as c:
        mid = f.message(c, w["a"], "carol@example.com", subject="Your statement", sent_at=datetime.now(UTC))
        f.events(c, mid, w["a"], ("BOUNCE", 1, evil), now=datetime.now(UTC))
    at = app(user_id=w["users"]["admin_a"]).run()
    at.switch_page("pages/message.py")
    at.query_params["id"] = str(mid)
    at.run()
    assert not at.exception
    bodies = [str(e.value) for kind in ("error", "warning", "info", "success", "markdown", "caption") for e in at.get(kind)]
    assert any("evil.example" in b.replace("\\", "") for b in bodies)  # shown (as escaped Markdown source)...
    for b in bodies:
        assert "](https://evil.example" not in b, b  # ...but never as a live link or image
