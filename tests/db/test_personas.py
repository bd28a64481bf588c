"""The demo personas (commlog.demo.personas): Harbor Credit Union borrowers with a crafted history,
one per troubleshooting case, on every seed, without disturbing the generated demo data."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, Table, func, select

from commlog import checks
from commlog.demo import catalog, names, personas
from commlog.demo.outcomes import (
    RETRY_HOURS,
    address_fate,
    facts_for_message,
    microsoft_block_window,
    planned_events,
    truth_for_message,
)
from commlog.demo.seed import SeedConfig, seed_demo
from commlog.demo.subjects import SEND_ERRORS
from commlog.domains import provider_family
from commlog.models import Account, DailyRollup, DeliveryEvent, Lender, Message
from commlog.principal import Principal, Role
from commlog.providers.sandbox import SandboxProvider
from commlog.status import StatusEvent, overall_status
from commlog.vocabulary import DeliveryStatus
from tests.support.factories import NOW

CFG = SeedConfig(lenders=3, borrowers=300, messages=3000, days=30, seed=7, now=NOW, users=False)
HARBOR = catalog.LENDERS[0]

# What the Communication Log stores for each persona's emails, oldest first:
# (email type, log, send status, delivery status, last event type, text in the status reason, checked)
EXPECTED: dict[str, list[tuple]] = {
    "delivered": [
        ("account_confirmation", "lender", "sent", "DELIVERED", "OPEN", None, True),
        ("password_reset", "borrower", "sent", "DELIVERED", "DELIVERED", "250 2.0.0", True),
    ],
    "typo_domain": [
        ("account_confirmation", "lender", "sent", "NOT_DELIVERED", "BOUNCE", "5.1.10", True),
        ("password_reset", "borrower", "sent", "NOT_DELIVERED", "DROPPED", "Bounced Address", True),
    ],
    "no_mailbox": [
        ("account_confirmation", "lender", "sent", "NOT_DELIVERED", "BOUNCE", "This user doesn't have a yahoo.com account", True),
    ],
    "deferred": [
        ("password_reset", "borrower", "sent", "PENDING", "DEFERRED", "451 4.7.650", True),
    ],
    "suppressed_after_temporary": [
        ("loan_status_update", "borrower", "sent", "NOT_DELIVERED", "BOUNCE", "552 5.2.2 Mailbox full", True),
        ("password_reset", "borrower", "sent", "NOT_DELIVERED", "DROPPED", "Bounced Address", True),
    ],
    "platform_block": [
        ("password_reset", "borrower", "sent", "NOT_DELIVERED", "BLOCKED", "550 5.7.1 Unfortunately, messages from", True),
    ],
    "never_sent": [
        ("account_confirmation", "lender", "failed", None, None, None, False),
    ],
    "recipient_asked": [
        ("loan_status_update", "borrower", "sent", "DELIVERED", "DELIVERED", "250 ok", True),
        ("payment_reminder", "borrower", "sent", "NOT_DELIVERED", "DROPPED", "Spam Reporting Address", True),
    ],
    "not_checked": [
        ("account_confirmation", "lender", "sent", "DELIVERED", "OPEN", None, True),
        ("password_reset", "borrower", "sent", None, None, None, False),
    ],
}


def quiet(engine: Engine, now: datetime) -> SandboxProvider:
    return SandboxProvider(engine, now=now, latency=(0, 0), rate_429=0, per_minute=60_000)


def harbor_admin(conn: Connection) -> Principal:
    lender_id = conn.execute(select(Lender.id).where(Lender.slug == HARBOR.slug)).scalar_one()
    return Principal(1, f"admin@{HARBOR.slug}.example", Role.LENDER_ADMIN, lender_id)


def persona_rows(conn: Connection, persona: personas.Persona) -> tuple:
    """(account, its messages oldest first, their events by message id) of one persona."""
    account = conn.execute(select(Account.__table__).where(Account.email == persona.email)).one()
    msgs = conn.execute(
        select(Message.__table__).where(Message.recipient_email == persona.email).order_by(Message.sent_at, Message.id)
    ).all()
    events = {
        m.id: conn.execute(
            select(DeliveryEvent.__table__).where(DeliveryEvent.message_id == m.id).order_by(DeliveryEvent.occurred_at)
        ).all()
        for m in msgs
    }
    return account, msgs, events


def assert_stored_as_expected(conn: Connection, anchor: datetime) -> None:
    """Every persona is a Harbor Credit Union borrower whose emails are stored as EXPECTED says."""
    harbor = conn.execute(select(Lender.id).where(Lender.slug == HARBOR.slug)).scalar_one()
    for p in personas.PERSONAS:
        account, msgs, _ = persona_rows(conn, p)
        assert (account.lender_id, account.kind, account.name) == (harbor, "borrower", p.name)
        assert len(msgs) == len(EXPECTED[p.case]), p.name
        for m, (etype, log, send_status, status, last, reason, checked) in zip(msgs, EXPECTED[p.case]):
            assert m.lender_id == harbor and m.recipient_account_id == account.id and m.audience == "borrower"
            assert anchor - timedelta(days=personas.MIN_DAYS) < m.sent_at < anchor
            assert m.log_account_id == (None if log == "lender" else account.id), (p.name, m.email_type)
            assert (m.email_type, m.send_status, m.delivery_status, m.last_event_type) == (etype, send_status, status, last), p.name
            assert (m.checked_at == anchor if checked else m.checked_at is None), (p.name, m.email_type)
            assert (m.status_reason is None if reason is None else reason in (m.status_reason or "")), (p.name, m.status_reason)


@pytest.fixture
def seeded(engine):
    result = seed_demo(engine, CFG, progress=False)
    return engine, result


# --- who they are ----------------------------------------------------------------------------------


def test_personas_are_fictional_unique_and_cannot_be_generated():
    firsts = {n.lower() for n in names._FIRST_LATIN} | {names.ascii_fold(n).lower() for n in names._ACCENTED_FIRST}
    lasts = {n.lower() for n in names._LAST_LATIN} | {names.ascii_fold(n).lower() for n in names._ACCENTED_LAST}
    firsts |= {first for _, _, first in names._NON_LATIN}
    lasts |= {last for _, last, _ in names._NON_LATIN}
    emails = [p.email for p in personas.PERSONAS]
    assert len(set(emails)) == len(emails) == len(EXPECTED) and {p.case for p in personas.PERSONAS} == EXPECTED.keys()
    for p in personas.PERSONAS:
        first, last = p.name.lower().split()
        assert p.email == f"{first}.{last}@{p.email.rsplit('@', 1)[1]}" == p.email.lower()
        assert [e.log for e in p.emails] == [x[1] for x in EXPECTED[p.case]], p.name
        # A generated address pairs a generated first name with a generated last name.
        assert first not in firsts or last not in lasts, p.name
    # Only Owen (a typo domain) and Priya (forced) have a dead address; the others' hashes are live.
    assert {p.case for p in personas.PERSONAS if address_fate(p.email) is not None} == {"typo_domain", "no_mailbox"}
    assert address_fate(personas.BY_CASE["no_mailbox"].email).smtp_status == "5.1.1"


@pytest.mark.parametrize("anchor", [NOW, NOW.replace(hour=0, minute=0), NOW.replace(hour=23, minute=59)])
def test_every_persona_email_falls_inside_the_minimum_window(anchor):
    window = microsoft_block_window(anchor)
    for p, _email, sent_at in personas.schedule(anchor):
        assert anchor - timedelta(days=personas.MIN_DAYS) < sent_at < anchor, (p.name, sent_at)
        if provider_family(p.email.rsplit("@", 1)[1]) == "microsoft":  # the episode blocks only these
            assert (window[0] <= sent_at < window[1]) == (p.case == "platform_block"), p.name


# --- what the log stores ---------------------------------------------------------------------------


def test_each_persona_is_stored_as_intended(seeded):
    engine, result = seeded
    assert (result.personas, result.persona_messages) == (len(EXPECTED), sum(len(v) for v in EXPECTED.values()))
    with engine.connect() as conn:
        assert_stored_as_expected(conn, NOW)
        for p in personas.PERSONAS:
            assert conn.execute(select(func.count()).select_from(Account).where(Account.email == p.email)).scalar_one() == 1
            _, msgs, events = persona_rows(conn, p)
            for m in msgs:
                stored = events[m.id]
                if m.checked_at is None:
                    assert stored == [] and m.event_mask == 0
                    continue
                # the one status rule, over the stored events
                res = overall_status([StatusEvent(e.event_type, e.occurred_at, e.reason, e.provider_event_id) for e in stored], m.sent_at, NOW)
                assert (m.delivery_status, m.last_event_type, m.status_reason) == (res.status, res.last_event_type, res.reason)
                # the pure ground truth, read back from the database, is what was stored
                truth = truth_for_message(conn, m.provider_message_id, NOW)
                assert [(e.event_type, e.occurred_at, e.reason, e.provider_event_id) for e in truth] == [
                    (e.event_type, e.occurred_at, e.reason, e.provider_event_id) for e in stored
                ]

        maya = persona_rows(conn, personas.BY_CASE["delivered"])
        assert [[e.event_type for e in maya[2][m.id]] for m in maya[1]] == [["PROCESSED", "DELIVERED", "OPEN"], ["PROCESSED", "DELIVERED"]]
        hannah = persona_rows(conn, personas.BY_CASE["suppressed_after_temporary"])
        bounce = hannah[2][hannah[1][0].id][-1]
        assert (bounce.event_type, bounce.smtp_status, bounce.bounce_classification, bounce.raw_type) == (
            "BOUNCE", "5.2.2", "Mailbox Unavailable", "bounce"
        )  # fmt: skip
        victor = persona_rows(conn, personas.BY_CASE["recipient_asked"])
        first = [e.event_type for e in victor[2][victor[1][0].id]]
        assert first == ["PROCESSED", "DELIVERED", "COMPLAINT"]
        complaint_at = victor[2][victor[1][0].id][-1].occurred_at
        assert complaint_at < victor[1][1].sent_at  # on the spam-report list before the reminder
        ethan = persona_rows(conn, personas.BY_CASE["platform_block"])
        window = microsoft_block_window(result.anchor)
        assert len(ethan[1]) == 1 and window[0] <= ethan[1][0].sent_at < window[1]
        blocked = ethan[2][ethan[1][0].id][-1]
        assert blocked.smtp_status == "5.7.1" and "block list (S3150)" in blocked.reason
        _, (lucia,), lucia_events = persona_rows(conn, personas.BY_CASE["never_sent"])
        assert lucia.send_error in SEND_ERRORS and lucia.provider_message_id is None and lucia_events[lucia.id] == []


def test_diego_is_pending_with_deferrals_and_delivers_after_the_anchor(seeded):
    engine, _ = seeded
    with engine.connect() as conn:
        _, msgs, events = persona_rows(conn, personas.BY_CASE["deferred"])
        (m,) = msgs
        stored = events[m.id]
        deferrals = [e for e in stored if e.event_type == "DEFERRED"]
        assert m.delivery_status == "PENDING" and len(deferrals) >= 3
        assert [e.attempt for e in deferrals] == list(range(1, len(deferrals) + 1))
        assert {e.smtp_status for e in deferrals} == {"4.7.650"} and all("rate limited" in e.reason for e in deferrals)
        assert NOW - m.sent_at < timedelta(hours=RETRY_HOURS)
        truth = planned_events(facts_for_message(conn, m.provider_message_id))
    delivered = [e for e in truth if e.event_type == "DELIVERED"]
    assert len(delivered) == 1 and NOW + timedelta(hours=4) < delivered[0].occurred_at < NOW + timedelta(hours=8)
    assert {e.event_type for e in truth if e.occurred_at < delivered[0].occurred_at} == {"PROCESSED", "DEFERRED"}

    # Check delivery status: still pending soon after the anchor, delivered once that time has come.
    with engine.connect() as conn:
        admin = harbor_admin(conn)
    soon = NOW + timedelta(minutes=10)
    out = checks.check_message(engine, admin, m.id, now=soon, client=quiet(engine, soon))
    assert out.ok and out.status == DeliveryStatus.PENDING
    later = delivered[0].occurred_at + timedelta(minutes=1)
    out = checks.check_message(engine, admin, m.id, now=later, client=quiet(engine, later))
    assert out.ok and out.status == DeliveryStatus.DELIVERED and out.new_events >= 1


def test_check_delivery_status_of_noras_unchecked_email_answers_delivered(seeded):
    engine, _ = seeded
    with engine.connect() as conn:
        admin = harbor_admin(conn)
        _, msgs, _ = persona_rows(conn, personas.BY_CASE["not_checked"])
    unchecked = [m for m in msgs if m.checked_at is None]
    assert len(unchecked) == 1 and unchecked[0].send_status == "sent"
    now = NOW + timedelta(minutes=3)
    out = checks.check_message(engine, admin, unchecked[0].id, now=now, client=quiet(engine, now))
    assert out.ok and out.status == DeliveryStatus.DELIVERED and out.suppression is None
    with engine.connect() as conn:
        row = conn.execute(select(Message.delivery_status, Message.checked_at).where(Message.id == unchecked[0].id)).one()
        assert (row.delivery_status, row.checked_at) == ("DELIVERED", now)
        types = conn.execute(select(DeliveryEvent.event_type).where(DeliveryEvent.message_id == unchecked[0].id)).scalars().all()
    assert sorted(types) == ["DELIVERED", "PROCESSED"]


def test_the_sandbox_suppression_lists_hold_the_suppressed_personas(seeded):
    engine, _ = seeded
    prov = quiet(engine, NOW)
    for case, smtp in (("typo_domain", "5.1.10"), ("no_mailbox", "5.1.1"), ("suppressed_after_temporary", "5.2.2")):
        sup = prov.suppression(personas.BY_CASE[case].email, "BOUNCE")
        assert sup.suppressed and sup.list_name == "bounces" and sup.since < NOW, case
        assert smtp in (sup.reason or ""), (case, sup.reason)
    sup = prov.suppression(personas.BY_CASE["recipient_asked"].email, "DROPPED Spam Reporting Address")
    assert sup.suppressed and sup.list_name == "spam reports"
    for case in ("delivered", "deferred", "platform_block", "not_checked"):
        assert not prov.suppression(personas.BY_CASE[case].email, "BOUNCE").suppressed, case

    # What a check of Hannah's dropped reset shows: her address is on the bounce list for a full mailbox.
    with engine.connect() as conn:
        admin = harbor_admin(conn)
        _, msgs, _ = persona_rows(conn, personas.BY_CASE["suppressed_after_temporary"])
    out = checks.check_message(engine, admin, msgs[-1].id, now=NOW, client=prov)
    assert out.ok and out.status == DeliveryStatus.NOT_DELIVERED and out.new_events == 0
    assert out.suppression.suppressed and out.suppression.list_name == "bounces" and "Mailbox full" in out.suppression.reason


# --- on every seed, and disturbing nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        SeedConfig(lenders=1, borrowers=0, messages=0, days=14, seed=99, now=NOW.replace(hour=23, minute=59), users=False),
        SeedConfig(lenders=13, borrowers=40, messages=500, days=14, seed=3, now=NOW.replace(hour=0, minute=0), users=False),
    ],
    ids=["one-lender-no-messages", "thirteen-lenders"],
)
def test_personas_are_on_every_seed(engine, cfg):
    result = seed_demo(engine, cfg, progress=False)
    with engine.connect() as conn:
        assert_stored_as_expected(conn, result.anchor)
        assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == cfg.messages + result.persona_messages


def test_no_personas_below_the_minimum_days(sqlite_engine):
    result = seed_demo(sqlite_engine, SeedConfig(lenders=2, borrowers=50, messages=300, days=personas.MIN_DAYS - 1, now=NOW, users=False), progress=False)
    with sqlite_engine.connect() as conn:
        found = conn.execute(select(func.count()).select_from(Account).where(Account.email.in_([p.email for p in personas.PERSONAS])))
        assert found.scalar_one() == 0 and result.personas == 0
        assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == 300


def _all(conn: Connection, table: Table) -> list[tuple]:
    return [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]


def test_personas_do_not_disturb_the_generated_demo(seeded, tmp_path):
    """With and without personas: every generated lender, account, message and event is the same
    (ids, names, addresses, subjects, provider message ids, outcomes); the personas only add rows
    after them."""
    from commlog.db import make_engine
    from commlog.migrate import upgrade

    engine, _ = seeded
    bare = make_engine(f"sqlite:///{tmp_path / 'bare.sqlite3'}")
    upgrade(bare)
    seed_demo(bare, dataclasses.replace(CFG, personas=False), progress=False)
    emails = {p.email for p in personas.PERSONAS}
    persona_ids: set[int] = set()
    with engine.connect() as a, bare.connect() as b:
        for table in (Lender.__table__, Account.__table__, Message.__table__, DeliveryEvent.__table__):
            with_personas, without = _all(a, table), _all(b, table)
            assert with_personas[: len(without)] == without, table.name
            extra = with_personas[len(without) :]
            assert extra or table.name == "lender", table.name
            assert all(r[0] > without[-1][0] for r in extra)
            cols = table.c.keys()
            if table.name == "account":
                assert {r[cols.index("email")] for r in extra} == emails
                assert emails.isdisjoint(r[cols.index("email")] for r in without)
            if table.name == "message":
                assert {r[cols.index("recipient_email")] for r in extra} == emails
                persona_ids = {r[0] for r in extra}
            if table.name == "delivery_event":
                assert {r[cols.index("message_id")] for r in extra} <= persona_ids
        # the rollups (rebuilt after writing) count the personas' messages too
        for conn in (a, b):
            harbor = conn.execute(select(Lender.id).where(Lender.slug == HARBOR.slug)).scalar_one()
            rolled = conn.execute(select(func.sum(DailyRollup.count)).where(DailyRollup.lender_id == harbor)).scalar_one()
            assert rolled == conn.execute(select(func.count()).select_from(Message).where(Message.lender_id == harbor)).scalar_one()
    bare.dispose()

