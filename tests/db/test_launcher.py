"""One server for the app and the webhook: `streamlit run launcher.py` answers both."""

import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from commlog.models import Message
from commlog.webhooks.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    public_key_b64,
    sign_for_tests,
)
from tests.e2e.servers import StreamlitServer, clean_env
from tests.support import factories as f
from tests.support.fake_provider import recorded

KEY = ec.generate_private_key(ec.SECP256R1())
POSTMARK_USER, POSTMARK_PASSWORD = "launcher-hooks", "launcher-pw-3e9a"


@pytest.fixture
def server(sqlite_engine, sqlite_url, tmp_path):
    """`streamlit run launcher.py` (the browser tests' server) with the webhooks' keys, on this test's database."""
    env = clean_env() | {"COMMLOG_DATABASE_URL": sqlite_url, "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key_b64(KEY),
                         "COMMLOG_POSTMARK_WEBHOOK_USER": POSTMARK_USER, "COMMLOG_POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD}
    srv = StreamlitServer(env, tmp_path / "server.log").start()
    try:
        yield srv.base_url
    finally:
        srv.stop()


def test_app_and_webhook_share_one_server(server, sqlite_engine):
    with sqlite_engine.begin() as c:
        lender = f.lender(c, "lender-a")
        mid = f.message(c, lender, "ana@gmail.com", provider_message_id="AbCdEf.recvd-1")
    assert httpx.get(f"{server}/", timeout=10).status_code == 200
    body = json.dumps([{"email": "ana@gmail.com", "timestamp": int(time.time()), "event": "bounce", "type": "bounce",
                        "sg_event_id": "ev-1", "sg_message_id": "AbCdEf.recvd-1", "reason": "550 5.1.1 user unknown"}]).encode()
    ts = str(int(time.time()))
    unsigned = httpx.post(f"{server}/webhooks/sendgrid", content=body, timeout=10)
    assert unsigned.status_code == 401
    signed = httpx.post(f"{server}/webhooks/sendgrid", content=body, timeout=10,
                        headers={SIGNATURE_HEADER: sign_for_tests(KEY, ts, body), TIMESTAMP_HEADER: ts})
    assert signed.status_code == 200, signed.text
    with sqlite_engine.connect() as c:
        assert c.execute(select(Message.delivery_status).where(Message.id == mid)).scalar() == "NOT_DELIVERED"


def test_the_same_server_answers_postmark_webhooks(server, sqlite_engine):
    bounce = recorded("postmark_webhook_bounce.json")
    with sqlite_engine.begin() as c:
        mid = f.message(c, f.lender(c, "lender-pm"), bounce["Email"], provider="postmark",
                        provider_message_id=bounce["MessageID"])
    url = f"{server}/webhooks/postmark"
    assert httpx.post(url, json=bounce, timeout=10).status_code == 401
    assert httpx.post(url, json=bounce, timeout=10, auth=(POSTMARK_USER, "wrong")).status_code == 401
    # what Postmark does with https://user:password@host/webhooks/postmark
    with_credentials = url.replace("http://", f"http://{POSTMARK_USER}:{POSTMARK_PASSWORD}@")
    r = httpx.post(with_credentials, json=bounce, timeout=10)
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    with sqlite_engine.connect() as c:
        assert c.execute(select(Message.delivery_status).where(Message.id == mid)).scalar() == "NOT_DELIVERED"


def test_the_same_server_serves_a_minted_download_once_to_the_browser_that_asked(server, sqlite_engine):
    """Like curl: the page's first response sets commlog_browser; a token minted for that cookie is
    served once; replayed without the cookie, or a second time, it is 404 and says nothing."""
    from commlog import export_tokens
    from commlog.browser_cookie import COOKIE
    from commlog.export import FailureExport
    from commlog.export_route import NOT_FOUND
    from commlog.principal import Principal, Role

    with sqlite_engine.begin() as c:
        lender = f.lender(c, "lender-x", "Lender X")
        f.message(c, lender, "gone@example.com", send_status="failed")
        admin = f.user(c, "admin@x.example", "lender_admin", "lender-x")
    with httpx.Client(base_url=server, timeout=10) as browser:
        assert browser.get("/").status_code == 200
        cookie = browser.cookies[COOKIE]
        spec = export_tokens.DownloadSpec(FailureExport(f.log_query(lender_id=lender)), "failures_lender-x.csv")
        token = export_tokens.issue(sqlite_engine, Principal(admin, "admin@x.example", Role.LENDER_ADMIN, lender), spec,
                                    cookie, datetime.now(UTC))
        url = f"{server}/export/{token}"
        without_cookie = httpx.get(url, timeout=10)
        assert without_cookie.status_code == 404 and without_cookie.text == NOT_FOUND
        served = browser.get(url)
        assert served.status_code == 200 and served.text.startswith("Lender,Log,") and "gone@example.com" in served.text
        assert served.headers["content-disposition"] == 'attachment; filename="failures_lender-x.csv"'
        again = browser.get(url)
        assert again.status_code == 404 and again.text == NOT_FOUND
