"""Removing an address from the sandbox's suppression lists (SendGrid's
`DELETE /v3/suppression/{list}/{email}`), through the real SendGrid adapter and HTTP layer: a bounced
address is listed, a removal takes it off (204), a second one finds it gone (404), a bounce after the
removal lists it again, and a removal commlog recorded in `suppression_removal` is known to a
freshly started sandbox."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert, select

from commlog.demo.seed import SeedConfig, seed_demo
from commlog.models import DeliveryEvent, Message, SuppressionRemoval
from commlog.providers import RemovalAnswer, errors
from commlog.providers.sandbox import SandboxBackend, SandboxProvider
from tests.support import factories as f

UTC = UTC
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SENT = ANCHOR - timedelta(hours=3)
SAM = "sam.taylor@gmial.com"  # a typo domain: the first send to it bounces (5.1.10)
ALL_FIVE = ("bounces", "blocks", "invalid_emails", "spam_reports", "unsubscribes")
GONE = RemovalAnswer(True, True, "It was not on the sandbox email provider's bounces list any more.")
_users = itertools.count(1)
REMOVED = RemovalAnswer(True, False, "The sandbox email provider removed it from the bounces list.")


def recording(backend: SandboxBackend) -> list[tuple[str, str]]:
    """(method, encoded path) of every request the backend gets from now on."""
    seen: list[tuple[str, str]] = []
    handle = backend.handle

    def recorded(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path.decode()))
        return handle(request)

    backend.handle = recorded  # the provider's transport is made from backend.handle
    return seen


def quiet(engine, now: datetime = ANCHOR, backend: SandboxBackend | None = None, **kw) -> SandboxProvider:
    backend = backend or SandboxBackend(engine, latency=(0, 0), rate_429=kw.pop("rate_429", 0), **kw)
    return SandboxProvider(engine, backend=backend, now=now, per_minute=60_000)


def bounce_entry(prov: SandboxProvider, email: str = SAM):
    report = prov.suppressions(email)
    assert report.error is None and report.lists_asked == ALL_FIVE
    return next((e for e in report.entries if e.list_key == "bounces"), None)


@pytest.fixture
def bounced(engine) -> Callable[..., int]:
    """Sam's first email (lender demo-lender, three hours before ANCHOR) bounced; `bounced(slug, at)`
    sends another lender's first email to Sam, which bounces too (the one sandbox account serves
    every lender)."""

    def send(slug: str = "demo-lender", at: datetime = SENT) -> int:
        with engine.begin() as conn:
            lid = f.lender(conn, slug)
            return f.message(conn, lid, SAM, sent_at=at, provider_message_id=f"SandboxBounce{slug}.recvd-x-1.0")

    send()
    return send


def test_remove_a_bounced_address_then_it_is_gone(engine, bounced):
    backend = SandboxBackend(engine, latency=(0, 0), rate_429=0)
    seen = recording(backend)
    prov = quiet(engine, backend=backend)
    entry = bounce_entry(prov)
    assert entry is not None and SENT <= entry.since <= SENT + timedelta(seconds=15) and "5.1.10" in entry.reason
    seen.clear()

    assert prov.remove_suppression(SAM, "bounces") == REMOVED
    assert seen == [("DELETE", "/v3/suppression/bounces/sam.taylor%40gmial.com")]
    assert bounce_entry(prov) is None
    assert prov.suppression(SAM, "BOUNCE").suppressed is False  # the checks' first-hit lookup agrees

    seen.clear()
    assert prov.remove_suppression(SAM, "bounces") == GONE
    assert seen == [("DELETE", "/v3/suppression/bounces/sam.taylor%40gmial.com")]


def test_address_case_does_not_matter(engine, bounced):
    prov = quiet(engine)
    assert prov.remove_suppression("Sam.Taylor@GMIAL.com", "bounces") == REMOVED
    assert bounce_entry(prov) is None and bounce_entry(prov, "SAM.TAYLOR@gmial.com") is None


def test_a_list_that_does_not_hold_it_answers_already_gone(engine, bounced):
    prov = quiet(engine)
    blocks = prov.remove_suppression(SAM, "blocks")
    assert blocks == RemovalAnswer(True, True, "It was not on the sandbox email provider's blocks list any more.")
    assert prov.remove_suppression(SAM, "invalid_emails").already_gone
    assert prov.remove_suppression("nobody+tag@example.com", "bounces") == GONE
    assert bounce_entry(prov) is not None  # removing it from other lists left bounces alone


def test_spam_reports_are_refused_before_the_sandbox_is_asked(engine, bounced):
    backend = SandboxBackend(engine, latency=(0, 0), rate_429=0)
    seen = recording(backend)
    prov = quiet(engine, backend=backend)
    for lst in ("spam_reports", "unsubscribes"):
        with pytest.raises(errors.NotRemovable):
            prov.remove_suppression(SAM, lst)
    assert seen == [] and backend.requests == 0


def test_the_backend_itself_answers_spam_report_deletes_as_sendgrid_does(engine, bounced):
    """SendGrid's API deletes spam reports too (commlog never asks): 404 when not listed."""
    backend = SandboxBackend(engine, latency=(0, 0), rate_429=0, clock=lambda: ANCHOR)
    with httpx.Client(transport=httpx.MockTransport(backend.handle), base_url="https://sandbox.invalid") as client:
        auth = {"Authorization": "Bearer SG.sandbox"}
        assert client.delete("/v3/suppression/spam_reports/sam.taylor%40gmial.com", headers=auth).status_code == 404
        assert client.delete("/v3/suppression/bounces/sam.taylor%40gmial.com", headers=auth).status_code == 204
        assert client.delete("/v3/suppression/bounces/sam.taylor%40gmial.com", headers=auth).status_code == 404
        assert client.get("/v3/suppression/bounces/sam.taylor%40gmial.com", headers=auth).json() == []
        assert client.delete("/v3/suppression/bounces/sam.taylor%40gmial.com").status_code == 401


def test_a_bounce_after_the_removal_lists_it_again(engine, bounced):
    backend = SandboxBackend(engine, latency=(0, 0), rate_429=0)
    assert quiet(engine, backend=backend).remove_suppression(SAM, "bounces") == REMOVED  # at ANCHOR
    later = ANCHOR + timedelta(hours=1)
    bounced("second-lender", later)  # another lender's first send to Sam: a new bounce
    assert bounce_entry(quiet(engine, later - timedelta(minutes=1), backend)) is None
    entry = bounce_entry(quiet(engine, later + timedelta(hours=1), backend))
    assert entry is not None and later <= entry.since <= later + timedelta(seconds=15)
    # and it can be removed again
    assert quiet(engine, later + timedelta(hours=1), backend).remove_suppression(SAM, "bounces") == REMOVED


def removal_row(engine, *, state: str = "removed", removed_at: datetime | None = ANCHOR - timedelta(hours=1),
                list_key: str = "bounces", address: str = SAM) -> None:  # fmt: skip
    with engine.begin() as conn:
        lid = conn.execute(select(Message.lender_id).limit(1)).scalar_one()
        uid = f.user(conn, f"ops{next(_users)}@portal.example", "ops", password=None)
        conn.execute(insert(SuppressionRemoval).values(
            lender_id=lid, address=address, provider="sandbox", list_key=list_key, list_label=list_key,
            reason="corrected_mailbox", requested_by_user_id=uid, requested_by="ops@portal.example",
            requested_at=ANCHOR - timedelta(hours=2), state=state, removed_at=removed_at, attempts=1,
        ))  # fmt: skip


def test_a_recorded_removal_is_known_to_a_fresh_sandbox(engine, bounced):
    removal_row(engine)  # done an hour before ANCHOR, after the bounce
    prov = quiet(engine)  # a new backend: nothing in its memory
    assert bounce_entry(prov) is None
    assert prov.remove_suppression(SAM, "bounces") == GONE
    # the sandbox's world before the removal still has it listed
    assert bounce_entry(quiet(engine, ANCHOR - timedelta(hours=1, minutes=1))) is not None


@pytest.mark.parametrize("row", [
    {"state": "failed", "removed_at": None},
    {"state": "approved", "removed_at": ANCHOR - timedelta(hours=1)},
    {"removed_at": SENT - timedelta(minutes=5)},  # before the bounce: the bounce is newer
    {"list_key": "blocks"},
    {"address": "someone.else@gmial.com"},
], ids=["failed", "approved", "before-the-bounce", "another-list", "another-address"])  # fmt: skip
def test_recorded_rows_that_do_not_remove_it(engine, bounced, row):
    removal_row(engine, **row)
    assert bounce_entry(quiet(engine)) is not None


def test_a_rate_limited_delete_is_retried(engine, bounced):
    backend = SandboxBackend(engine, latency=(0, 0), rate_429=0, every_429=2)  # the DELETE is request 2
    seen = recording(backend)
    prov = quiet(engine, backend=backend)
    assert prov.remove_suppression(SAM, "blocks").already_gone  # request 1
    assert prov.remove_suppression(SAM, "bounces") == REMOVED
    assert seen[1:] == [("DELETE", "/v3/suppression/bounces/sam.taylor%40gmial.com")] * 2 and backend.refused == 1


def test_demo_end_to_end(engine):
    """A seeded demo's bounced address: on bounces, removed, gone; its other lists untouched."""
    seed_demo(engine, SeedConfig(lenders=2, borrowers=60, messages=600, days=10, now=ANCHOR, users=False), progress=False)
    with engine.connect() as conn:
        email = conn.execute(
            select(Message.recipient_email).join(DeliveryEvent, DeliveryEvent.message_id == Message.id)
            .where(DeliveryEvent.event_type == "BOUNCE", Message.sent_at <= ANCHOR)
            .order_by(Message.recipient_email).limit(1)
        ).scalar_one()  # fmt: skip
    prov = quiet(engine)
    before = prov.suppressions(email)
    assert "bounces" in [e.list_key for e in before.entries]
    assert prov.remove_suppression(email, "bounces") == REMOVED
    after = prov.suppressions(email)
    assert after.error is None and after.lists_asked == ALL_FIVE
    assert [e.list_key for e in after.entries] == [e.list_key for e in before.entries if e.list_key != "bounces"]
