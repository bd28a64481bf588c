"""Suppression removal as the domain keeps it (commlog.suppression_removals), on both databases: a
lender admin asks, another person (ops) approves, the provider is told once, every step audited;
four eyes; nothing of another lender's through any id; "removed" only when the provider said so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commlog import rollups
from commlog import suppression_removals as R
from commlog.audit_queries import KIND_SUPPRESSIONS, KIND_WORK, AuditFilter, list_audit
from commlog.models import AuditEntry, SuppressionRemoval
from commlog.principal import Principal, Role
from commlog.providers import ProviderSet, errors
from commlog.providers.base import RemovalAnswer, SuppressionEntry
from tests.support import factories as f
from tests.support.app import build_two_lenders
from tests.support.removal_provider import RecordingProvider

NOW = datetime.now(UTC).replace(microsecond=0)
BOUNCES = SuppressionEntry("bounces", "bounces", NOW - timedelta(days=2), "550 5.1.1 user unknown", True, False)
SPAM = SuppressionEntry("spam_reports", "spam reports", NOW - timedelta(days=2), None, True, True)


@pytest.fixture
def world(engine):
    w = build_two_lenders(engine)
    with engine.begin() as c:
        w["users"]["ops2"] = f.user(c, "ops2@commlog.example", "ops", None)
    w["engine"] = engine
    w["admin_a"] = Principal(w["users"]["admin_a"], "admin@alpha.example", Role.LENDER_ADMIN, w["a"])
    w["admin_b"] = Principal(w["users"]["admin_b"], "admin@bravo.example", Role.LENDER_ADMIN, w["b"])
    w["ops"] = Principal(w["users"]["ops"], "ops@commlog.example", Role.OPS, None)
    w["ops2"] = Principal(w["users"]["ops2"], "ops2@commlog.example", Role.OPS, None)
    return w


def ask(w, principal, provider, *, lender=None, address="bob.ng@outlook.com", entry=BOUNCES, **kw):
    kw.setdefault("reason", "corrected_mailbox")
    return R.request_removal(w["engine"], principal, lender_id=lender if lender is not None else w["a"], address=address,
                             provider=provider, entry=entry, now=NOW, **kw)


def audit_actions(engine) -> list[tuple[str, str]]:
    with engine.connect() as c:
        return [(r.action, r.user_email) for r in c.execute(
            select(AuditEntry.action, AuditEntry.user_email).where(AuditEntry.action.like("suppression_%")).order_by(AuditEntry.id))]


def test_a_lender_admin_asks_ops_approve_the_provider_is_told_once_and_three_audit_entries(world):
    provider = RecordingProvider()
    req = ask(world, world["admin_a"], provider, message_id=world["ids"]["bounce_bob"], note="Bob fixed his inbox")
    assert (req.state, req.state_words, req.address, req.lender_name) == ("requested", "Requested", "bob.ng@outlook.com", "Alpha Lending")
    assert req.message_id == world["ids"]["bounce_bob"] and req.note == "Bob fixed his inbox"
    assert provider.calls == []  # asking tells nobody outside

    outcome = R.approve(world["engine"], world["ops"], req.id, ProviderSet.single(provider), NOW)

    assert provider.calls == [("bob.ng@outlook.com", "bounces")]
    assert outcome.removed and outcome.request.state == "removed" and outcome.request.removed_at == NOW
    assert outcome.request.decided_by == "ops@commlog.example"
    assert outcome.request.provider_answer == "SendGrid removed it from the bounces list."
    assert audit_actions(world["engine"]) == [("suppression_requested", "admin@alpha.example"),
                                              ("suppression_approved", "ops@commlog.example"),
                                              ("suppression_removed", "ops@commlog.example")]
    with R.reading(world["engine"], world["ops"]) as conn:  # the audit page's "Suppression removals" kind
        page = list_audit(conn, world["ops"], AuditFilter(kind=KIND_SUPPRESSIONS))
        work = list_audit(conn, world["ops"], AuditFilter(kind=KIND_WORK))
    assert sorted(r.action for r in page.rows) == ["suppression_approved", "suppression_removed", "suppression_requested"]
    assert [r.detail for r in page.rows][-1] == f"#{req.id} bob.ng@outlook.com, bounces: The borrower corrected their mailbox"
    assert not [r for r in work.rows if r.action.startswith("suppression_")]


def test_four_eyes_ops_cannot_approve_a_request_they_made_another_ops_user_can(world):
    provider = RecordingProvider()
    req = ask(world, world["ops"], provider)  # ops ask on the lender's behalf
    with pytest.raises(R.RemovalRefused, match="another ops user must approve it"):
        R.approve(world["engine"], world["ops"], req.id, ProviderSet.single(provider), NOW)
    assert provider.calls == []
    with world["engine"].connect() as c:
        assert c.execute(select(SuppressionRemoval.state)).scalar_one() == "requested"
    assert R.approve(world["engine"], world["ops2"], req.id, ProviderSet.single(provider), NOW).removed
    assert provider.calls == [("bob.ng@outlook.com", "bounces")]


def test_a_lender_admin_can_never_approve_reject_or_remove_directly(world):
    provider = RecordingProvider()
    req = ask(world, world["admin_a"], provider)
    with pytest.raises(R.RemovalRefused, match="Only platform ops"):
        R.approve(world["engine"], world["admin_a"], req.id, ProviderSet.single(provider), NOW)
    with pytest.raises(R.RemovalRefused, match="Only platform ops"):
        R.reject(world["engine"], world["admin_a"], req.id, "no", NOW)
    assert provider.calls == []


def test_another_lenders_request_cannot_be_asked_for_seen_or_cancelled_through_any_id(world):
    provider = RecordingProvider()
    mine = ask(world, world["admin_a"], provider)
    theirs = ask(world, world["admin_b"], provider, lender=world["b"], address="zed.zulu@bravo-borrower.example")
    engine = world["engine"]
    with pytest.raises(R.RemovalRefused, match="not found"):  # for Bravo's lender, as Alpha's admin
        ask(world, world["admin_a"], provider, lender=world["b"], address="zed.zulu@bravo-borrower.example")
    with pytest.raises(R.RemovalRefused, match="never emailed that address"):  # Bravo's borrower, through Alpha
        ask(world, world["admin_a"], provider, address="zed.zulu@bravo-borrower.example")
    with R.reading(engine, world["admin_a"]) as conn:
        assert [r.id for r in R.list_requests(conn, world["admin_a"])] == [mine.id]
        assert R.get_request(conn, world["admin_a"], theirs.id) is None
        for odd in (0, -1, 2**63, True, "1", None, theirs.id + 1000):
            assert R.get_request(conn, world["admin_a"], odd) is None
    with pytest.raises(R.RemovalRefused, match="not found"):
        R.cancel(engine, world["admin_a"], theirs.id, NOW)
    with R.reading(engine, world["ops"]) as conn:
        assert {r.id for r in R.list_requests(conn, world["ops"])} == {mine.id, theirs.id}
        assert [r.id for r in R.list_requests(conn, world["ops"], lender_id=world["b"])] == [theirs.id]
    with engine.connect() as c:
        assert c.execute(select(SuppressionRemoval.state).where(SuppressionRemoval.id == theirs.id)).scalar_one() == "requested"


def test_what_the_recipient_asked_for_is_refused_and_nothing_is_stored(world):
    provider = RecordingProvider()
    with pytest.raises(R.RemovalRefused, match="cannot be removed: the recipient asked not to receive email"):
        ask(world, world["admin_a"], provider, entry=SPAM)
    with pytest.raises(R.RemovalRefused, match="cannot be removed: the recipient asked"):
        ask(world, world["ops"], provider, entry=SuppressionEntry("unsubscribes", "global unsubscribes", None, None, True, True))
    with world["engine"].connect() as c:
        assert c.execute(select(SuppressionRemoval.id)).all() == []
    assert audit_actions(world["engine"]) == []


def test_one_open_request_per_address_and_list_and_a_rejected_one_can_be_asked_again(world):
    provider = RecordingProvider()
    first = ask(world, world["admin_a"], provider)
    with pytest.raises(R.RemovalRefused, match="already requested"):
        ask(world, world["admin_a"], provider)
    rejected = R.reject(world["engine"], world["ops"], first.id, "Bounced twice this week: confirm the address first", NOW)
    assert (rejected.state_words, rejected.reject_reason) == ("Rejected", "Bounced twice this week: confirm the address first")
    again = ask(world, world["admin_a"], provider, reason="other", reason_text="Spoke to Bob on the phone")
    assert again.id != first.id and again.reason_words == "Other: Spoke to Bob on the phone"


def test_a_reason_is_required_and_other_needs_words(world):
    provider = RecordingProvider()
    with pytest.raises(R.RemovalRefused, match="Choose why"):
        ask(world, world["admin_a"], provider, reason="because")
    with pytest.raises(R.RemovalRefused, match="Say in a few words"):
        ask(world, world["admin_a"], provider, reason="other", reason_text="   ")
    with pytest.raises(R.RemovalRefused, match="Say why the request is rejected"):
        R.reject(world["engine"], world["ops"], ask(world, world["admin_a"], provider).id, " ", NOW)


def test_a_provider_failure_leaves_it_approved_not_removed_with_the_reason_and_a_retry_removes_it(world):
    down = errors.unavailable("sendgrid", "HTTP 503")
    provider = RecordingProvider([down, RemovalAnswer(True, already_gone=True, words="It was not on SendGrid's bounces list any more.")])
    req = ask(world, world["admin_a"], provider)
    failed = R.approve(world["engine"], world["ops"], req.id, ProviderSet.single(provider), NOW)
    assert not failed.removed and failed.stops_bulk
    assert (failed.request.state_words, failed.request.provider_answer) == ("Approved, not removed", str(down))
    assert failed.request.removed_at is None and failed.request.attempts == 1
    retried = R.approve(world["engine"], world["ops"], req.id, ProviderSet.single(provider), NOW + timedelta(minutes=3))
    assert retried.removed and retried.request.state == "removed" and retried.request.attempts == 2
    assert len(provider.calls) == 2
    assert [a for a, _ in audit_actions(world["engine"])] == [
        "suppression_requested", "suppression_approved", "suppression_not_removed", "suppression_approved", "suppression_removed"]


def test_a_per_address_refusal_is_not_removed(world):
    provider = RecordingProvider([RemovalAnswer(False, words="Postmark did not remove it: not allowed")])
    req = ask(world, world["admin_a"], provider)
    out = R.approve(world["engine"], world["ops"], req.id, ProviderSet.single(provider), NOW)
    assert out.request.state == "failed" and out.request.provider_answer == "Postmark did not remove it: not allowed"


def test_a_decided_request_is_not_approved_twice_nor_cancelled(world):
    provider = RecordingProvider()
    req = ask(world, world["admin_a"], provider)
    R.approve(world["engine"], world["ops"], req.id, ProviderSet.single(provider), NOW)
    with pytest.raises(R.RemovalRefused, match="nothing to approve"):
        R.approve(world["engine"], world["ops2"], req.id, ProviderSet.single(provider), NOW)
    with pytest.raises(R.RemovalRefused, match="can no longer be cancelled"):
        R.cancel(world["engine"], world["admin_a"], req.id, NOW)
    assert len(provider.calls) == 1


def test_the_lender_cancels_an_undecided_request(world):
    req = ask(world, world["admin_a"], RecordingProvider())
    assert R.cancel(world["engine"], world["admin_a"], req.id, NOW).state_words == "Cancelled"
    assert audit_actions(world["engine"])[-1] == ("suppression_cancelled", "admin@alpha.example")


def test_bulk_approve_goes_one_by_one_and_stops_when_the_provider_refuses_the_account(world):
    engine = world["engine"]
    with engine.begin() as c:
        for i in range(4):
            f.message(c, world["a"], f"blocked{i}@outlook.com", sent_at=NOW - timedelta(days=1))
    provider = RecordingProvider([RemovalAnswer(True, words="removed"), errors.key_not_accepted("sendgrid", 401, "SENDGRID_API_KEY")])
    ids = [ask(world, world["admin_a"], provider, address=f"blocked{i}@outlook.com").id for i in range(4)]
    seen = []
    outcomes, refusals = R.approve_many(engine, world["ops"], ids, ProviderSet.single(provider), lambda: NOW,
                                        on_progress=lambda i, n, o: seen.append((i, n)))
    assert [o.request.state for o in outcomes] == ["removed", "failed"]
    assert len(provider.calls) == 2 and seen == [(1, 4), (2, 4)]
    assert refusals and "2 requests left as they were" in refusals[-1]
    with R.reading(engine, world["ops"]) as conn:
        states = {r.id: r.state for r in R.list_requests(conn, world["ops"])}
    assert [states[i] for i in ids] == ["removed", "failed", "requested", "requested"]


def test_evidence_and_what_happened_after_the_removal(world):
    engine = world["engine"]
    with engine.begin() as c:
        rollups.rebuild_rollups(c)
    provider = RecordingProvider()
    req = ask(world, world["admin_a"], provider)
    with R.reading(engine, world["ops"]) as conn:
        ev = R.evidence(conn, world["ops"], req, NOW.date())
    assert (ev.bounces, ev.blocks, ev.drops) == (1, 0, 0) and "Recipient address rejected" in (ev.last_bounce_reply or "")
    assert ev.does_not_exist  # 550 5.1.1: ops are told removal helps only if the mailbox was created since
    assert [e["id"] for e in ev.emails] == [world["ids"]["bounce_bob"], world["ids"]["failed"]]  # newest first
    assert ev.lender_bounce_rate == "33.3 % (1 of 3 attempted, last 7 days)"  # Ana's two emails, Bob's bounce
    done = R.approve(engine, world["ops"], req.id, ProviderSet.single(provider), NOW).request
    with R.reading(engine, world["admin_a"]) as conn:
        assert R.afterwards(conn, world["admin_a"], done).kind == "none"
    with engine.begin() as c:
        again = f.message(c, world["a"], "bob.ng@outlook.com", sent_at=NOW + timedelta(hours=1))
        f.events(c, again, world["a"], ("DELIVERED", f.minutes(NOW + timedelta(hours=1, minutes=1)), "250 OK"),
                 now=NOW + timedelta(hours=2))
    with R.reading(engine, world["admin_a"]) as conn:
        after = R.afterwards(conn, world["admin_a"], done)
    assert after.kind == "delivered" and after.at == NOW + timedelta(hours=1, minutes=1)


def test_a_typo_is_suggested_in_the_evidence(world):
    engine = world["engine"]
    with engine.begin() as c:
        f.message(c, world["a"], "carla@gmial.com", sent_at=NOW - timedelta(days=1))
    req = ask(world, world["admin_a"], RecordingProvider(), address="carla@gmial.com")
    with R.reading(engine, world["ops"]) as conn:
        assert "Did you mean carla@gmail.com?" in (R.evidence(conn, world["ops"], req, NOW.date()).typo_suggestion or "")


def test_ops_ask_for_a_block_episodes_addresses_and_another_ops_user_approves_them_together(world):
    engine = world["engine"]
    day = (NOW - timedelta(days=10)).replace(hour=12, minute=0, second=0)
    with engine.begin() as c:
        for i, (domain, offset_days, outcome) in enumerate([
            ("outlook.com", 0, "BLOCKED"), ("hotmail.com", 1, "BLOCKED"),  # Microsoft, in the episode
            ("outlook.com", 5, "BLOCKED"),  # Microsoft, after it
            ("gmail.com", 0, "BLOCKED"),  # another mailbox provider
            ("outlook.com", 0, "DELIVERED"),  # delivered in the episode
        ]):
            at = day + timedelta(days=offset_days)
            mid = f.message(c, world["a"], f"user{i}@{domain}", sent_at=at)
            f.events(c, mid, world["a"], (outcome, f.minutes(at + timedelta(minutes=1)), "550 5.7.1 blocked by policy"), now=NOW)
        foreign = f.message(c, world["b"], "zz@outlook.com", sent_at=day)
        f.events(c, foreign, world["b"], ("BLOCKED", f.minutes(day + timedelta(minutes=1)), "550 5.7.1"), now=NOW)
    start, end = day.date(), (day + timedelta(days=2)).date()
    with R.reading(engine, world["ops"]) as conn:
        found = R.episode_addresses(conn, world["ops"], world["a"], "microsoft", start, end)
    assert [a.address for a in found] == ["user1@hotmail.com", "user0@outlook.com"]  # newest first, Lender A's only
    provider = RecordingProvider()
    made, refused = R.request_for_episode(engine, world["ops"], lender_id=world["a"], providers=ProviderSet.single(provider),
                                          addresses=found, note="Microsoft episode is over", now=NOW)
    assert refused == [] and {(r.list_key, r.reason, r.requested_by) for r in made} == {("blocks", "temporary_problem", "ops@commlog.example")}
    with R.reading(engine, world["ops"]) as conn:  # asked for: not offered again
        assert R.episode_addresses(conn, world["ops"], world["a"], "microsoft", start, end) == []
    outcomes, refusals = R.approve_many(engine, world["ops"], [r.id for r in made], ProviderSet.single(provider), lambda: NOW)
    assert outcomes == [] and len(refusals) == 2 and "four eyes" in refusals[0]  # not by the one who asked
    outcomes, refusals = R.approve_many(engine, world["ops2"], [r.id for r in made], ProviderSet.single(provider), lambda: NOW)
    assert [o.request.state for o in outcomes] == ["removed", "removed"] and refusals == []
    assert sorted(provider.calls) == [("user0@outlook.com", "blocks"), ("user1@hotmail.com", "blocks")]
