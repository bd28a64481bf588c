"""Done when (issue 13): against a local server that enforces a rate limit the client does not
know, `python -m commlog check` of 200 emails finishes with every status right and at most one 429
per rate window. The server's windows are short (50 requests per 2 s) so the run takes seconds; the
client starts from the default guess (600 a minute) and learns the rest from the headers.

Also: a page's check stops at its wait budget with one "try again in N s" for the emails left,
and the bulk run reports the wait while the rate limit holds it back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commlog import checks
from commlog.cli import main
from commlog.commands import check as check_command
from commlog.models import Message
from commlog.principal import Principal, Role
from commlog.providers.base import FetchResult, Provider, StoredMessage
from commlog.providers.http import ProviderHttp, RetryPolicy, new_client
from commlog.providers.sendgrid import SendGridProvider
from tests.support import factories as f
from tests.support.fake_provider import FakeProvider, private_limiter_key

SECRET = "SG.rate-limit-secret-never-printed-0123456789"
OPS = Principal(0, "ops@test", Role.OPS, None)
# what the provider knows of each kind of message, and the status the check must then store
KINDS = ("DELIVERED", "NOT_DELIVERED", "PENDING", "BLOCKED")


def logs_body(pmid: str, to: str, kind: str, sent: datetime) -> dict:
    t = int(sent.timestamp())
    events = [{"event": "processed", "sg_event_id": f"p-{pmid}", "timestamp": t + 1}]
    if kind == "DELIVERED":
        events.append({"event": "delivered", "sg_event_id": f"d-{pmid}", "timestamp": t + 3, "response": "250 OK"})
    elif kind == "NOT_DELIVERED":
        events.append({"event": "bounce", "sg_event_id": f"b-{pmid}", "timestamp": t + 3, "type": "bounce",
                       "status": "5.1.1", "reason": "550 5.1.1 user unknown"})
    elif kind == "PENDING":
        events.append({"event": "deferred", "sg_event_id": f"f-{pmid}", "timestamp": t + 3, "response": "421 try later"})
    else:
        events.append({"event": "bounce", "sg_event_id": f"k-{pmid}", "timestamp": t + 3, "type": "blocked",
                       "status": "5.7.1", "reason": "554 5.7.1 blocked by policy"})
    return {"sg_message_id": pmid, "to_email": to, "from_email": "no-reply@portal.example", "subject": "Hello",
            "status": "processed", "sg_message_id_created_at": sent.strftime("%Y-%m-%dT%H:%M:%SZ"), "events": events}


@pytest.fixture
def limited_fake(monkeypatch):
    with FakeProvider(api_key=SECRET) as fk:
        monkeypatch.setenv("COMMLOG_PROVIDER", "sendgrid")
        monkeypatch.setenv("SENDGRID_API_KEY", SECRET)
        monkeypatch.setenv("COMMLOG_SENDGRID_BASE_URL", fk.url)
        monkeypatch.setenv("COMMLOG_SECRETS_FILE", "/nonexistent/secrets.toml")
        monkeypatch.delenv("COMMLOG_SENDGRID_RATE_PER_MIN", raising=False)  # the default guess: 600 a minute
        yield fk


def test_cli_check_of_200_emails_under_an_unknown_limit(engine, limited_fake, monkeypatch, capsys):
    fake = limited_fake
    sent = datetime.now(UTC) - timedelta(hours=3)
    truth: dict[int, str] = {}
    with engine.begin() as conn:
        lid = f.lender(conn, "rate-limited-lender")
        for i in range(200):
            kind = "DELIVERED" if i % 8 else KINDS[(i // 8) % 4]  # every 8th is another kind
            pmid, to = f"Rate{i:04d}.recvd-rl-{i}.0", f"person{i}@example.com"
            fake.sendgrid_logs[pmid] = logs_body(pmid, to, kind, sent)
            mid = f.message(conn, lid, to, sent_at=sent, provider_message_id=pmid)
            truth[mid] = "NOT_DELIVERED" if kind == "BLOCKED" else kind
    fake.enforce_limit(50, window=2.0, retry_after=2)
    monkeypatch.setattr(check_command, "engine_from_args", lambda args: engine)

    assert main(["check", "--lender", "rate-limited-lender", "--limit", "500", "--concurrency", "8", "--show", "0"]) == 0

    out, err = capsys.readouterr()
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Message.id, Message.delivery_status)).all())
    assert stored == truth  # every status right
    assert "checked 200:" in out and "rate_limited" not in out
    windows = fake.windows()
    assert max(n429 for _, _, n429 in windows) <= 1, windows  # at most one 429 per rate window
    lookups = sum(1 for _, path, _ in fake.request_log if path.startswith("/v3/suppression/"))
    assert lookups > 0  # the suppression lookups of the bounces drew from the same budget ...
    assert max(n for _, n, n429 in windows) - max(n429 for _, _, n429 in windows) <= 50  # ... and stayed in it
    assert SECRET not in out + err


def test_a_page_stops_at_its_wait_budget_with_one_line_for_the_rest(engine, limited_fake):
    fake = limited_fake
    fake.auto = True
    fake.enforce_limit(5, window=86_400.0, from_now=True)  # five a day, the next window a day away (CI once ran this at 23:59)
    sent = datetime.now(UTC) - timedelta(hours=3)
    with engine.begin() as conn:
        lid = f.lender(conn, "page-lender")
        ids = [f.message(conn, lid, f"p{i}@example.com", sent_at=sent, provider_message_id=f"Page{i}.recvd-p.0")
               for i in range(12)]
    http = ProviderHttp(new_client(), RetryPolicy())
    provider = SendGridProvider(SECRET, base_url=fake.url, http=http, limiter_key=private_limiter_key("page"))

    outcomes = checks.check_messages(engine, OPS, ids, client=provider, concurrency=2, wait_budget=1.0)

    checked = [o for o in outcomes if o.ok]
    limited = [o for o in outcomes if o.kind == "rate_limited"]
    assert len(checked) == 5 and len(limited) == 7 and len(outcomes) == 12
    line = checks.rate_limit_summary(outcomes)
    assert line.startswith("SendGrid's rate limit: 7 emails not checked, try again in ")
    assert int(line.rsplit("try again in ", 1)[1].split(" ")[0]) > 60  # the reset, not Retry-After's 2 s
    assert fake.server_429s <= 2  # one per thread at most: after it, nobody asked again


class HeldBack(Provider):
    """A provider whose rate limit holds the run back until someone reads the notice."""

    name = "sendgrid"
    label = "SendGrid"
    retention = timedelta(days=30)

    def __init__(self) -> None:
        self.noticed = threading.Event()

    def rate_wait(self) -> float:
        return 0.0 if self.noticed.is_set() else 42.3

    def fetch_events(self, message: StoredMessage) -> FetchResult:
        if not self.noticed.wait(timeout=30):
            raise AssertionError("nobody was told about the wait")
        return FetchResult([])


def test_the_wait_is_reported_in_the_calling_thread(engine):
    sent = datetime.now(UTC) - timedelta(hours=3)
    with engine.begin() as conn:
        lid = f.lender(conn, "waiting-lender")
        ids = [f.message(conn, lid, f"w{i}@example.com", sent_at=sent, provider_message_id=f"W{i}.recvd-w.0") for i in range(3)]
    provider = HeldBack()
    seen: list[tuple[str, str]] = []

    def on_wait(text: str) -> None:
        seen.append((threading.current_thread().name, text))
        provider.noticed.set()

    outcomes = checks.check_messages(engine, OPS, ids, client=provider, on_wait=on_wait, concurrency=2)
    assert all(o.ok for o in outcomes)
    assert seen[0] == (threading.current_thread().name, "waiting 43 s for SendGrid's rate limit")
