"""Suppression removal on the pages (AppTest): a lender admin asks on "Why didn't they get it?",
ops decide on Suppressions with the evidence beside each request, four eyes, and nothing of another
lender's reaches a lender admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commlog import suppression_removals as R
from commlog.models import AuditEntry, SuppressionRemoval
from commlog.principal import Principal, Role
from commlog.providers import ProviderSet
from commlog.providers.base import SuppressionEntry, SuppressionReport
from tests.support import factories as f
from tests.support.app import app, build_two_lenders, page_text
from tests.support.removal_provider import RecordingProvider

NOW = datetime.now(UTC).replace(microsecond=0)
BOUNCES = SuppressionEntry("bounces", "bounces", NOW - timedelta(days=2), "550 5.1.1 user unknown", True, False)
SPAM = SuppressionEntry("spam_reports", "spam reports", NOW - timedelta(days=1), None, True, True)


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    w = build_two_lenders(sqlite_engine)
    with sqlite_engine.begin() as c:
        w["users"]["ops2"] = f.user(c, "ops2@commlog.example", "ops", None)
    provider = RecordingProvider()
    monkeypatch.setattr("commlog.ui.removal_request.get_providers", lambda *_a, **_k: ProviderSet.single(provider))
    monkeypatch.setattr("commlog.ui.suppressions_view.providers_for", lambda _engine: ProviderSet.single(provider))
    monkeypatch.setattr("commlog.ui.troubleshooter.ask_suppression_lists",
                        lambda _engine, ev: SuppressionReport("SendGrid", ev.subject.address, ("bounces", "spam_reports"),
                                                              (BOUNCES, SPAM)))
    w.update(engine=sqlite_engine, provider=provider,
             admin_a=Principal(w["users"]["admin_a"], "admin@alpha.example", Role.LENDER_ADMIN, w["a"]),
             admin_b=Principal(w["users"]["admin_b"], "admin@bravo.example", Role.LENDER_ADMIN, w["b"]),
             ops=Principal(w["users"]["ops"], "ops@commlog.example", Role.OPS, None))
    return w


def readable(at) -> str:
    return page_text(at).replace("\\", "").replace("**", "").replace("`", "")


def ask(w, principal, address="bob.ng@outlook.com", lender=None):
    return R.request_removal(w["engine"], principal, lender_id=lender or w["a"], address=address, provider=w["provider"],
                             entry=BOUNCES, reason="corrected_mailbox", note="Bob fixed his inbox", now=NOW)


def suppressions_page(w, role: str):
    return app("pages/suppressions.py", user_id=w["users"][role]).run()


def test_why_offers_a_request_for_the_bounce_list_and_refuses_the_spam_report(world):
    at = app("pages/why.py", user_id=world["users"]["admin_a"], params={"message": str(world["ids"]["bounce_bob"])}).run()
    assert not at.exception
    labels = [b.label for b in at.button]
    assert "Request removal from the bounces list" in labels
    assert not any("spam reports list" in label for label in labels)
    assert "Spam reports: cannot be removed: the recipient asked not to receive email." in readable(at)


def test_a_lender_admin_sends_a_request_from_the_dialog_and_ops_approve_it_on_the_suppressions_page(world):
    at = app("pages/why.py", user_id=world["users"]["admin_a"], params={"message": str(world["ids"]["bounce_bob"])}).run()
    at.button(key="removal_request_bounces").click().run()
    assert not at.exception
    at.radio(key="removal_request_reason").set_value("corrected_mailbox")
    at.text_area(key="removal_request_note").input("Bob says his inbox works again")
    next(b for b in at.button if b.label == "Send the request").click().run()
    assert not at.exception
    text = readable(at)
    assert "Removal of bob.ng@outlook.com from the bounces list requested" in text
    assert "Removal from the bounces list: requested" in text  # and the button is gone
    assert "Request removal from the bounces list" not in [b.label for b in at.button]
    assert world["provider"].calls == []  # nobody outside was told

    ops = suppressions_page(world, "ops")
    text = readable(ops)
    assert "bob.ng@outlook.com" in text and "Alpha Lending" in text and "Bob says his inbox works again" in text
    assert "Bounced 1 time at this lender." in text and "bounce rate now" in text
    assert "That reply says the mailbox does not exist" in text and "No likely typo in the address." in text
    (req_id,) = [r.id for r in R.read_requests(world["engine"], world["ops"])]
    ops.button(key=f"suppressions_approve_{req_id}").click().run()
    assert not ops.exception
    assert "removed from the bounces list" in readable(ops)
    assert world["provider"].calls == [("bob.ng@outlook.com", "bounces")]
    with world["engine"].connect() as c:
        actions = list(c.execute(select(AuditEntry.action).where(AuditEntry.action.like("suppression_%")).order_by(AuditEntry.id)).scalars())
    assert actions == ["suppression_requested", "suppression_approved", "suppression_removed"]

    mine = suppressions_page(world, "admin_a")
    assert "Removed" in readable(mine) and "No email sent to it since the removal." in readable(mine)


def test_ops_cannot_approve_their_own_request_another_ops_user_can(world):
    req = ask(world, world["ops"])
    at = suppressions_page(world, "ops")
    button = at.button(key=f"suppressions_approve_{req.id}")
    assert button.disabled
    assert "another ops user approves it (four eyes)" in readable(at)
    other = suppressions_page(world, "ops2")
    assert not other.button(key=f"suppressions_approve_{req.id}").disabled
    other.button(key=f"suppressions_approve_{req.id}").click().run()
    assert world["provider"].calls == [("bob.ng@outlook.com", "bounces")]


def test_ops_reject_with_a_reason_the_lender_admin_reads(world):
    req = ask(world, world["admin_a"])
    at = suppressions_page(world, "ops")
    at.button(key=f"suppressions_reject_{req.id}").click().run()
    assert "Say why the request is rejected" in readable(at)  # no reason: nothing changed
    at.text_input(key=f"suppressions_reject_reason_{req.id}").input("It bounced again yesterday").run()
    at.button(key=f"suppressions_reject_{req.id}").click().run()
    assert "rejected" in readable(at)
    admin = readable(suppressions_page(world, "admin_a"))
    assert "Rejected by ops@commlog.example" in admin and "It bounced again yesterday" in admin
    assert world["provider"].calls == []


def test_a_lender_admin_sees_only_their_lenders_requests_and_can_cancel_one(world):
    mine = ask(world, world["admin_a"])
    ask(world, world["admin_b"], address="zed.zulu@bravo-borrower.example", lender=world["b"])
    at = suppressions_page(world, "admin_a")
    text = readable(at)
    assert "bob.ng@outlook.com" in text and "zed.zulu" not in text and "Bravo" not in text
    assert not [b for b in at.button if b.label.startswith(("Approve", "Reject", "Try again"))]
    at.button(key=f"suppressions_cancel_{mine.id}").click().run()
    assert "request cancelled" in readable(at)
    with world["engine"].connect() as c:
        states = dict(c.execute(select(SuppressionRemoval.address, SuppressionRemoval.state)).all())
    assert states == {"bob.ng@outlook.com": "cancelled", "zed.zulu@bravo-borrower.example": "requested"}


def test_ops_approve_several_at_once_with_progress(world):
    engine = world["engine"]
    with engine.begin() as c:
        for i in range(3):
            f.message(c, world["a"], f"blocked{i}@outlook.com", sent_at=NOW - timedelta(days=1))
    ids = [ask(world, world["admin_a"], address=f"blocked{i}@outlook.com").id for i in range(3)]
    at = suppressions_page(world, "ops")
    at.button(key="suppressions_bulk_all").click().run()
    assert sorted(at.multiselect(key="suppressions_bulk_ids_0").value) == sorted(ids)  # every waiting one shown
    at.multiselect(key="suppressions_bulk_ids_0").set_value(ids[:2]).run()
    next(b for b in at.button if b.label == "Approve and remove 2").click().run()
    assert not at.exception
    assert "2 of 2 removed." in readable(at)
    assert sorted(world["provider"].calls) == [("blocked0@outlook.com", "bounces"), ("blocked1@outlook.com", "bounces")]
