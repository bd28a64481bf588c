"""Demo data: deterministic, realistic, and consistent with the pure ground truth
(commlog.demo.outcomes) that the sandbox provider answers from."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commlog.demo import catalog
from commlog.demo.outcomes import (
    MessageFacts,
    address_fate,
    events_known_at,
    microsoft_block_window,
    planned_events,
    truth_for_message,
)
from commlog.demo.seed import SeedConfig, SeedError, seed_demo, sqlite_ts
from commlog.domains import provider_family
from commlog.models import Account, DeliveryEvent, Lender, Message
from commlog.status import StatusEvent, overall_status
from commlog.vocabulary import mask_of
from tests.support.factories import NOW

CFG = SeedConfig(lenders=5, borrowers=700, messages=5000, days=40, seed=7, now=NOW, users=False)

SG_ID = re.compile(r"^[A-Za-z0-9_-]{22}\.recvd-[0-9a-f]{10}-[a-z0-9]{5}-1-[0-9A-F]+-\d+\.0$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def seeded(engine):
    result = seed_demo(engine, CFG, progress=False)
    return engine, result


def _messages(conn):
    return conn.execute(select(Message.__table__).order_by(Message.id)).all()


def _events_by_message(conn):
    out = defaultdict(list)
    for e in conn.execute(select(DeliveryEvent.__table__).order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)):
        out[e.message_id].append(e)
    return out


def _row(m) -> tuple:
    return tuple(m)


def test_same_seed_same_rows_on_every_backend(seeded, sqlite_url, tmp_path):
    engine, result = seeded
    assert result.messages == CFG.messages
    from commlog.db import make_engine
    from commlog.migrate import upgrade

    other = make_engine(f"sqlite:///{tmp_path / 'again.sqlite3'}")
    upgrade(other)
    seed_demo(other, CFG, progress=False)
    with engine.connect() as a, other.connect() as b:
        assert [_row(m) for m in _messages(a)] == [_row(m) for m in _messages(b)]
        ev = lambda c: [  # noqa: E731 - the same read of both databases
            (e.message_id, e.event_type, e.raw_type, e.occurred_at, e.reason, e.smtp_status, e.attempt, e.provider_event_id)
            for e in c.execute(select(DeliveryEvent.__table__).order_by(DeliveryEvent.id))
        ]
        assert ev(a) == ev(b)
        acc = lambda c: c.execute(select(Account.email, Account.name, Account.created_at).order_by(Account.id)).all()  # noqa: E731 - the same read of both databases
        assert acc(a) == acc(b)
    other.dispose()


def test_different_seed_differs(tmp_path):
    from commlog.db import make_engine
    from commlog.migrate import upgrade

    emails = []
    for seed in (1, 2):
        eng = make_engine(f"sqlite:///{tmp_path / f's{seed}.sqlite3'}")
        upgrade(eng)
        seed_demo(eng, SeedConfig(lenders=2, borrowers=50, messages=300, days=10, seed=seed, now=NOW, users=False), progress=False)
        with eng.connect() as conn:
            emails.append([m.recipient_email for m in _messages(conn)])
        eng.dispose()
    assert emails[0] != emails[1] and len(set(emails[0])) > 10


def test_sqlite_timestamps_stored_as_the_orm_stores_them(sqlite_engine):
    seed_demo(sqlite_engine, SeedConfig(lenders=2, borrowers=50, messages=300, days=10, seed=3, now=NOW, users=False), progress=False)
    with sqlite_engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT sent_at, checked_at FROM message WHERE checked_at IS NOT NULL LIMIT 20").all()
        orm = conn.execute(select(Message.sent_at, Message.checked_at).where(Message.checked_at.is_not(None)).limit(20)).all()
        for (raw_sent, _raw_checked), (sent, checked) in zip(raw, orm):
            assert sent.tzinfo is not None and checked == NOW
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", raw_sent)
            assert raw_sent == sqlite_ts(sent)
            # exactly what UTCDateTime would bind: an ORM comparison finds the row
            assert conn.execute(select(func.count()).select_from(Message).where(Message.sent_at == sent)).scalar_one() >= 1


def test_refuses_to_seed_twice(seeded):
    engine, _ = seeded
    with pytest.raises(SeedError, match="already exist"):
        seed_demo(engine, CFG, progress=False)


def test_realistic_shape(seeded):
    engine, _ = seeded
    with engine.connect() as conn:
        msgs = _messages(conn)
        lenders = {lid: slug for lid, slug in conn.execute(select(Lender.id, Lender.slug))}
        accounts = {a.id: a for a in conn.execute(select(Account.__table__))}
    n = len(msgs)
    per_lender = Counter(lenders[m.lender_id] for m in msgs)
    assert max(per_lender.values()) > 5 * min(per_lender.values())  # very different sizes
    sent = [m for m in msgs if m.send_status == "sent"]
    failed = [m for m in msgs if m.send_status == "failed"]
    assert 0.002 * n <= len(failed) <= 0.012 * n
    assert all(m.send_error and m.provider_message_id is None and m.delivery_status is None for m in failed)
    unchecked = [m for m in sent if m.delivery_status is None]
    assert 0.2 <= len(unchecked) / len(sent) <= 0.3
    checked = [m for m in sent if m.delivery_status is not None]
    statuses = Counter(m.delivery_status for m in checked)
    assert statuses["DELIVERED"] / len(checked) > 0.8
    assert statuses["NOT_DELIVERED"] > 0
    finals = Counter(m.last_event_type for m in checked if m.delivery_status == "NOT_DELIVERED")
    assert finals["BOUNCE"] and finals["BLOCKED"] and finals["DROPPED"]

    for m in msgs:
        acct = accounts[m.recipient_account_id]
        assert m.recipient_email == acct.email and m.audience == acct.kind
        assert m.recipient_domain == m.recipient_email.rsplit("@", 1)[1] == m.recipient_domain.lower()
        assert m.provider_family == provider_family(m.recipient_domain)
        if m.email_type in ("account_confirmation", "lender_notice") or m.audience == "staff":
            assert m.log_account_id is None  # the lender's own log
        else:
            assert m.log_account_id == m.recipient_account_id  # the borrower's own activity
        assert m.provider == ("postmark" if lenders[m.lender_id] == "summit-mortgage" else "sendgrid")
        if m.provider_message_id:
            assert (UUID if m.provider == "postmark" else SG_ID).match(m.provider_message_id), m.provider_message_id
        assert m.sent_at <= NOW and m.sent_at >= NOW - timedelta(days=CFG.days)
    assert any(m.email_type == "password_reset" and m.audience == "staff" for m in msgs)
    assert any(m.email_type == "password_reset" and m.log_account_id is not None for m in msgs)
    assert Counter(m.provider_family for m in msgs).keys() >= {"google", "microsoft", "yahoo", "apple", "other"}
    assert any(address_fate(a.email) is not None and a.email.rsplit("@")[1] in {"gmial.com", "gmal.com", "gamil.com",
               "gmaill.com", "gmail.co", "gmail.con", "gnail.com", "hotmial.com", "hotmal.com", "hotmail.con",
               "outlok.com", "yaho.com", "yahooo.com", "yahoo.cm", "icoud.com", "aol.co", "comcast.ne"}
               for a in accounts.values())  # fmt: skip
    assert any(not a.name.isascii() for a in accounts.values())
    assert any(m.subject.startswith("Confirm your new account with") for m in msgs)


def test_bounce_problem_lender_and_microsoft_block_episode(seeded):
    engine, result = seeded
    with engine.connect() as conn:
        lenders = {lid: slug for lid, slug in conn.execute(select(Lender.id, Lender.slug))}
        msgs = [m for m in _messages(conn) if m.delivery_status is not None]
        events = _events_by_message(conn)
    bad = catalog.LENDERS[catalog.BOUNCE_PROBLEM_INDEX].slug
    # Bounce rate = final BOUNCE / attempted (drops are not attempts), over the import period.
    start, end = NOW - timedelta(days=24), NOW - timedelta(days=10)

    def bounce_rate(pred) -> float:
        sel = [m for m in msgs if pred(m) and start <= m.sent_at < end and m.last_event_type != "DROPPED"]
        return sum(m.last_event_type == "BOUNCE" for m in sel) / max(1, len(sel))

    problem = bounce_rate(lambda m: lenders[m.lender_id] == bad)
    others = bounce_rate(lambda m: lenders[m.lender_id] != bad)
    assert 0.06 <= problem <= 0.16, problem
    assert problem > 3 * others, (problem, others)

    window = microsoft_block_window(result.anchor)
    blocked = [(m, e) for m in msgs for e in events[m.id] if e.reason and "(S3150)" in e.reason]
    assert len(blocked) >= 10
    assert {m.provider_family for m, _ in blocked} == {"microsoft"}
    assert all(window[0] <= m.sent_at < window[1] and e.event_type == "BLOCKED" and e.smtp_status == "5.7.1" for m, e in blocked)
    assert len({m.lender_id for m, _ in blocked}) >= 3  # across lenders
    in_window_ms = [m for m in msgs if m.provider_family == "microsoft" and window[0] <= m.sent_at < window[1]]
    assert sum(m.last_event_type == "BLOCKED" for m in in_window_ms) / len(in_window_ms) > 0.6


def test_stored_events_are_the_planned_events_and_status_follows_the_rule(seeded):
    engine, result = seeded
    with engine.connect() as conn:
        msgs = [m for m in _messages(conn) if m.delivery_status is not None]
        events = _events_by_message(conn)
        for m in msgs:
            stored = events[m.id]
            res = overall_status([StatusEvent(e.event_type, e.occurred_at, e.reason, e.provider_event_id) for e in stored], m.sent_at, NOW)
            assert (m.delivery_status, m.last_event_type, m.last_event_at, m.status_reason) == (
                res.status, res.last_event_type, res.last_event_at, res.reason
            )  # fmt: skip
            assert m.event_mask == mask_of(e.event_type for e in stored)
            assert m.checked_at == NOW
        # The pure ground truth, recomputed from the database, equals what was stored (a sample,
        # plus every message to a dead address, where the earlier-send lookup matters).
        sample = msgs[::7] + [m for m in msgs if address_fate(m.recipient_email) is not None]
        for m in sample:
            truth = truth_for_message(conn, m.provider_message_id, NOW)
            stored = events[m.id]
            assert [(e.event_type, e.raw_type, e.occurred_at, e.reason, e.smtp_status, e.attempt, e.bounce_classification, e.provider_event_id) for e in truth] == [
                (e.event_type, e.raw_type, e.occurred_at, e.reason, e.smtp_status, e.attempt, e.bounce_classification, e.provider_event_id) for e in stored
            ]  # fmt: skip
    ids = [e.provider_event_id for evs in events.values() for e in evs]
    assert len(ids) == len(set(ids))


def test_unchecked_messages_have_no_delivery_information_but_a_truth(seeded):
    engine, _ = seeded
    with engine.connect() as conn:
        unchecked = [m for m in _messages(conn) if m.send_status == "sent" and m.delivery_status is None]
        events = _events_by_message(conn)
        assert unchecked
        for m in unchecked:
            assert not events[m.id] and m.event_mask == 0 and m.checked_at is None and m.last_event_type is None
        later = NOW + timedelta(days=5)
        answered = [truth_for_message(conn, m.provider_message_id, later) for m in unchecked[:300]]
        assert all(t for t in answered)  # every sent message eventually has events
        kinds = Counter(t[-1].event_type for t in answered)
        assert kinds.keys() & {"DELIVERED", "OPEN", "CLICK"}
        # Only what has happened by `now`: a just-sent message may have nothing yet.
        m = max(unchecked, key=lambda m: m.sent_at)
        assert all(e.occurred_at <= m.sent_at for e in truth_for_message(conn, m.provider_message_id, m.sent_at))
        assert truth_for_message(conn, "no-such-id.recvd-x", NOW) is None
        failed = conn.execute(select(Message.__table__).where(Message.send_status == "failed").limit(1)).first()
        assert failed is not None and failed.provider_message_id is None  # the demo has failed sends
        assert planned_events(MessageFacts(
            "x", failed.provider, None, failed.recipient_email, failed.recipient_domain, failed.provider_family,
            failed.email_type, failed.audience, failed.sent_at, "failed")) == []  # fmt: skip


def test_repeated_sends_to_a_bounced_address_are_dropped(seeded):
    engine, _ = seeded
    with engine.connect() as conn:
        msgs = _messages(conn)
        events = _events_by_message(conn)
    first_send: dict[tuple, object] = {}
    dropped = 0
    for m in msgs:  # ids are in send order
        if m.send_status != "sent" or address_fate(m.recipient_email) is None:
            continue
        key = (m.lender_id, m.recipient_email)
        types = [e.event_type for e in events[m.id]]
        if key not in first_send:
            first_send[key] = m
            assert "DROPPED" not in types
            if m.provider == "sendgrid" and types:
                assert "BOUNCE" in types
        else:
            assert "BOUNCE" not in types
            dropped += "DROPPED" in types
    assert dropped > 0


def test_planned_events_is_pure_and_in_time_order():
    facts = MessageFacts("harbor-credit", "sendgrid", "abcdefghijklmnopqrstuv.recvd-0-0-1-0-1.0", "pat@gmail.com",
                         "gmail.com", "google", "password_reset", "borrower", NOW, "sent", NOW)  # fmt: skip
    a, b = planned_events(facts), planned_events(facts)
    assert a == b and a
    assert [e.occurred_at for e in a] == sorted(e.occurred_at for e in a)
    assert a[0].event_type == "PROCESSED" and a[0].raw_type == "processed"
    # What the provider knows at a moment: exactly the events up to it, in order (a prefix of the plan).
    assert events_known_at(a, NOW) == []  # sent at NOW: nothing has happened yet
    assert events_known_at(a, a[0].occurred_at) == [a[0]]
    assert events_known_at(a, a[-1].occurred_at) == a
    typo = facts._replace(recipient_email="pat@gmial.com", recipient_domain="gmial.com", provider_family="other")
    ev = planned_events(typo)
    assert ev[-1].event_type == "BOUNCE" and ev[-1].smtp_status == "5.1.10" and ev[-1].bounce_type == "bounce"
    again = planned_events(typo._replace(earlier_send=True))
    assert again[-1].event_type == "DROPPED" and again[-1].reason == "Bounced Address"


def test_provider_family():
    assert provider_family("gmail.com") == provider_family("googlemail.com") == "google"
    for d in ("outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "live.fr", "msn.com"):
        assert provider_family(d) == "microsoft", d
    for d in ("yahoo.com", "yahoo.co.uk", "ymail.com", "rocketmail.com", "aol.com"):
        assert provider_family(d) == "yahoo", d
    for d in ("icloud.com", "me.com", "mac.com"):
        assert provider_family(d) == "apple", d
    for d in ("comcast.net", "harborcredit.com", "hotmail-archive.com", "livenation.com", "", "GMAIL.COM.evil.org"):
        assert provider_family(d) == "other", d
    assert provider_family("GMail.com") == "google"


def test_seed_demo_command(sqlite_url, capsys):
    from commlog.cli import main

    argv = ["--database-url", sqlite_url, "seed-demo", "--lenders", "3", "--borrowers", "100", "--messages", "800",
            "--days", "20", "--seed", "5", "--now", "2026-11-20T12:00:00Z", "--no-progress", "--no-users"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "800 messages" in out and "demo now = 2026-11-20 12:00 UTC" in out
    assert main(argv) == 1  # a second time: refused, one line, no traceback
    err = capsys.readouterr().err
    assert err.startswith("error: demo lenders already exist") and "Traceback" not in err
    assert main(["--database-url", sqlite_url, "seed-demo", "--messages", "-1"]) == 1
    assert main(["--database-url", sqlite_url, "seed-demo", "--now", "yesterday"]) == 1
