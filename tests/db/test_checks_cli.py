"""`python -m commlog check` and `sync` against the loopback fake provider."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commlog.cli import main
from commlog.models import AuditEntry, Message, UnmatchedEvent
from tests.support import factories as f
from tests.support.fake_provider import FakeProvider, recorded

UTC = UTC
SECRET = "SG.cli-secret-never-printed-0123456789"


@pytest.fixture
def fake(monkeypatch):
    with FakeProvider(api_key=SECRET) as fk:
        monkeypatch.setenv("COMMLOG_PROVIDER", "sendgrid")
        monkeypatch.setenv("SENDGRID_API_KEY", SECRET)
        monkeypatch.setenv("COMMLOG_SENDGRID_BASE_URL", fk.url)
        monkeypatch.setenv("COMMLOG_SECRETS_FILE", "/nonexistent/secrets.toml")
        monkeypatch.setenv("COMMLOG_PROVIDER_ATTEMPTS", "2")  # outages fail fast in tests
        yield fk


@pytest.fixture
def data(sqlite_engine):
    now = datetime.now(UTC)
    with sqlite_engine.begin() as conn:
        a = f.lender(conn, "lender-a")
        b = f.lender(conn, "lender-b")
        ids = [f.message(conn, a, f"u{i}@example.com", sent_at=now - timedelta(hours=3), provider_message_id=f"Cli{i}.recvd-x.0") for i in range(5)]
        other = f.message(conn, b, "z@example.com", sent_at=now - timedelta(hours=3), provider_message_id="CliB.recvd-x.0")
    return {"a": a, "b": b, "ids": ids, "other": other}


def run(sqlite_url, *argv):
    return main(["--database-url", sqlite_url, *argv])


def test_check_by_id_prints_status(fake, data, sqlite_url, sqlite_engine, capsys):
    fake.auto = True
    assert run(sqlite_url, "check", "--message-id", str(data["ids"][0]), "--message-id", str(data["ids"][1])) == 0
    out, err = capsys.readouterr()
    assert f"{data['ids'][0]}\tDELIVERED" in out and "checked 2: DELIVERED 2" in out
    assert SECRET not in out + err
    with sqlite_engine.connect() as conn:
        e = conn.execute(select(AuditEntry.__table__)).one()
    assert (e.user_email, e.role, e.action, e.row_count) == ("cli", "ops", "check", 2)


def test_check_by_filters(fake, data, sqlite_url, capsys):
    fake.auto = True
    assert run(sqlite_url, "check", "--lender", "lender-a", "--delivery-status", "NOT_CHECKED") == 0
    out, _ = capsys.readouterr()
    assert "checked 5: DELIVERED 5" in out
    assert fake.count() == 5


@pytest.mark.parametrize("fault,words", [("401", "did not accept the API key"), ("403", "not entitled"), ("500", "could not answer")])
def test_check_exits_non_zero_with_one_line_when_refused(fake, data, sqlite_url, sqlite_engine, capsys, fault, words):
    fake.set_fault(fault)
    code = run(sqlite_url, "check", "--message-id", str(data["ids"][0]))
    out, err = capsys.readouterr()
    assert code == 1
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and words in error_lines[0]
    assert "Traceback" not in err and SECRET not in out + err
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(Message.checked_at).where(Message.id == data["ids"][0])).scalar() is None


def test_check_wrong_key(fake, data, sqlite_url, monkeypatch, capsys):
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.wrong-key-also-secret")
    assert run(sqlite_url, "check", "--message-id", str(data["ids"][0])) == 1
    out, err = capsys.readouterr()
    assert "HTTP 401" in err and "SG.wrong-key-also-secret" not in out + err


def test_check_needs_ids_or_filters(fake, data, sqlite_url, capsys):
    assert run(sqlite_url, "check") == 1
    assert "give --message-id" in capsys.readouterr().err


def test_sync_matches_and_keeps_unknown(fake, data, sqlite_url, sqlite_engine, capsys):
    ids = data["ids"]
    fake.logs_search = [
        {"sg_message_id": "Cli0.recvd-x.0", "to_email": "u0@example.com", "status": "delivered"},
        {"sg_message_id": "Cli1.recvd-x.0", "to_email": "u1@example.com", "status": "delivered"},
        {"sg_message_id": "Unknown9.recvd-y.0", "to_email": "stranger@example.org", "status": "delivered"},
    ]
    for row in fake.logs_search:
        fake.sendgrid_logs[row["sg_message_id"]] = {**recorded("sendgrid_logs_deferred_then_delivered.json"), "sg_message_id": row["sg_message_id"], "to_email": row["to_email"]}
        fake.sendgrid_logs[row["sg_message_id"]]["events"] = [
            {**e, "sg_event_id": e["sg_event_id"] + row["sg_message_id"][:6]} for e in fake.sendgrid_logs[row["sg_message_id"]]["events"]
        ]
    assert run(sqlite_url, "sync", "--since", "24h") == 0
    out, err = capsys.readouterr()
    assert "listed 3, matched 2, updated 2 (DELIVERED 2), new events 10, kept unmatched 5" in out
    post = json.loads(fake.bodies[0])
    assert post["query"].startswith('sg_message_id_created_at >= TIMESTAMP "') and post["limit"] == 1000
    with sqlite_engine.connect() as conn:
        statuses = dict(conn.execute(select(Message.id, Message.delivery_status).where(Message.id.in_(ids[:3]))).all())
        kept = conn.execute(select(UnmatchedEvent.__table__)).all()
    assert statuses == {ids[0]: "DELIVERED", ids[1]: "DELIVERED", ids[2]: None}
    assert len(kept) == 5 and {k.provider_message_id for k in kept} == {"Unknown9.recvd-y.0"}
    payload = json.loads(kept[0].payload)
    assert payload["email"] == "stranger@example.org" and payload["sg_message_id"] == "Unknown9.recvd-y.0"
    # a second run stores nothing twice
    assert run(sqlite_url, "sync", "--since", "24h") == 0
    assert "new events 0, kept unmatched 0" in capsys.readouterr().out


def test_sync_with_lender_skips_unknown(fake, data, sqlite_url, capsys):
    fake.auto = True
    fake.logs_search = [
        {"sg_message_id": "Cli0.recvd-x.0", "to_email": "u0@example.com"},
        {"sg_message_id": "CliB.recvd-x.0", "to_email": "z@example.com"},
    ]
    assert run(sqlite_url, "sync", "--since", "2d", "--lender", "lender-a") == 0
    out = capsys.readouterr().out
    assert "matched 1, updated 1" in out and "skipped (other lenders / unknown) 1" in out


def test_sync_outage_exits_non_zero(fake, data, sqlite_url, capsys):
    fake.set_fault("500")
    assert run(sqlite_url, "sync", "--since", "1h") == 1
    err = capsys.readouterr().err
    assert "error: SendGrid could not answer (HTTP 500" in err and "Traceback" not in err


def test_sync_bad_since(fake, data, sqlite_url, capsys):
    assert run(sqlite_url, "sync", "--since", "last tuesday") == 1
    assert "not an ISO date or time" in capsys.readouterr().err
