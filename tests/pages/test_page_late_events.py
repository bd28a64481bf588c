"""Late bounces without a message id as a lender admin reads them (issue 13, point 3): the email a
bounce was matched to by address and time says so on its page; a bounce that matches no email shows
in "Why didn't they get it?" for its address, to the lender that emailed the address and to nobody
else."""

from datetime import UTC, datetime, timedelta

import pytest

from commlog.providers.base import SuppressionReport
from commlog.webhooks.ingest import ingest_sendgrid_batch
from tests.support import factories as f
from tests.support.app import app, build_two_lenders, page_text

NOW = datetime.now(UTC).replace(microsecond=0)
MATCHED_NOTE = ("Matched to this email by address and time: the provider sent no message id, and this is the newest "
                "email to the address sent before the event.")
NO_EMAIL = "that matches no email in the log."
BOB_REPLY = "550 5.1.1 bob.ng mailbox unavailable"
ZED_REPLY = "550 5.1.1 zed.zulu mailbox unavailable"


def late_bounce(email: str, at: datetime, event_id: str, reply: str) -> dict:
    """SendGrid's asynchronous bounce with nothing naming the email: no sg_message_id, smtp-id or custom args."""
    return {"email": email, "timestamp": int(at.timestamp()), "event": "bounce", "type": "bounce", "status": "5.1.1",
            "reason": reply, "sg_event_id": event_id}


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    monkeypatch.setattr("commlog.ui.troubleshooter.ask_suppression_lists",
                        lambda _engine, ev: SuppressionReport("SendGrid", ev.subject.address, ("bounces",), ()))
    w = build_two_lenders(sqlite_engine)
    batch = [
        # half an hour ago: Ana's newest email before it is her password reset (sent an hour ago)
        late_bounce("Ana.Souza@gmail.com", NOW - timedelta(minutes=30), "late-ana", "550 5.2.1 mailbox disabled"),
        # ten days ago: before any email to Bob (Lender A) or to Zed (Lender B) was sent
        late_bounce("bob.ng@outlook.com", NOW - timedelta(days=10), "late-bob", BOB_REPLY),
        late_bounce("zed.zulu@bravo-borrower.example", NOW - timedelta(days=10), "late-zed", ZED_REPLY),
    ]
    result = ingest_sendgrid_batch(sqlite_engine, batch, NOW)
    assert (result.stored, result.unmatched) == (1, 2)
    return w


def readable(at) -> str:
    return page_text(at).replace("\\", "").replace("**", "")


def message_page(world, role: str, message_id: int):
    at = app(user_id=world["users"][role]).run()
    at.switch_page("pages/message.py")
    at.query_params["id"] = str(message_id)
    return at.run()


def why(world, role: str, **params):
    return app("pages/why.py", user_id=world["users"][role], params={k: str(v) for k, v in params.items()}).run()


def test_the_email_a_late_bounce_was_matched_to_says_how(world):
    at = message_page(world, "admin_a", world["ids"]["reset_ana"])
    assert not at.exception
    text = readable(at)
    assert "NOT_DELIVERED" in text and "550 5.2.1 mailbox disabled" in text
    assert MATCHED_NOTE in text
    other = readable(message_page(world, "admin_a", world["ids"]["confirm_ana"]))  # delivered, its events had ids
    assert "DELIVERED" in other and MATCHED_NOTE not in other


def test_a_bounce_that_matches_no_email_shows_for_its_address_to_the_lender_that_emailed_it(world):
    at = why(world, "admin_a", message=world["ids"]["bounce_bob"])
    assert not at.exception
    text = readable(at)
    assert f"SendGrid reported a BOUNCE for this address on {(NOW - timedelta(days=10)):%Y-%m-%d}" in text
    assert NO_EMAIL in text
    assert f"The receiving server (outlook.com) answered: {BOB_REPLY}." in text
    assert ZED_REPLY not in text and "zed.zulu" not in text  # Lender B's recipient's


def test_another_lenders_recipients_unmatched_bounces_are_never_shown(world):
    for role, mine, theirs in (("admin_a", "bounce_bob", ZED_REPLY), ("admin_b", "foreign", BOB_REPLY)):
        at = why(world, role, message=world["ids"][mine])
        assert not at.exception
        text = readable(at)
        assert NO_EMAIL in text and theirs not in text
    ana = readable(why(world, "admin_a", account=world["ana"]))  # her bounce matched an email: nothing unmatched
    assert NO_EMAIL not in ana


def test_an_address_the_lender_never_emailed_shows_no_bounce_another_lender_kept_for_it(world, sqlite_engine):
    with sqlite_engine.begin() as c:  # Zed is a borrower at Lender A too; only Lender B ever emailed him
        zed_at_a = f.account(c, world["a"], "Zed Zulu", "zed.zulu@bravo-borrower.example")
    at = why(world, "admin_a", account=zed_at_a)
    assert not at.exception
    text = readable(at)
    assert "We have not emailed this address" in text
    assert ZED_REPLY not in text and NO_EMAIL not in text


def test_ops_see_the_unmatched_bounce_for_any_lenders_address(world):
    text = readable(why(world, "ops", message=world["ids"]["foreign"]))
    assert ZED_REPLY in text and BOB_REPLY not in text
